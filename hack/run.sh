#!/usr/bin/env bash
# `make run`: the operator in the foreground against a live API server.
# With KUBECONFIG set, that cluster is used (e.g. kind). Otherwise the local control
# plane is started (and left running for kubectl in another terminal; `make down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
KUBECTL=.cache/bin/kubectl

if [[ -z "${KUBECONFIG:-}" ]]; then
  "$BIN/flowplane-cluster" up
  export KUBECONFIG="$PWD/.cache/cluster/kubeconfig"
  cat <<MSG

  Local control plane (Kubernetes v1.36.3) is up. In another terminal:
    export KUBECONFIG=$KUBECONFIG PATH=$PWD/.cache/bin:\$PATH
    kubectl get flows,wfv -A

MSG
fi

"$KUBECTL" apply -f crds/ >/dev/null
"$KUBECTL" wait --for condition=Established --timeout=60s \
  crd/workflows.flowplane.dev crd/workflowversions.flowplane.dev >/dev/null
echo "CRDs installed; starting flowplane-operator (Ctrl-C to stop)"
exec "$BIN/flowplane-operator" "$@"
