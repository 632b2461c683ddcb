#!/usr/bin/env bash
# `make run`: the operator and the runtime against a live API server.
# With KUBECONFIG set, that cluster is used (e.g. kind). Otherwise the local control
# plane is started (and left running for kubectl in another terminal; `make down` stops it).
#
# Locally there is no kube-proxy, so the runtime listens on localhost:8080 and you send
# events with the trigger Service's DNS name in the Host header, as the Service would.
# A local sink on localhost:8099 stands in for Slack: the sample's Slack step posts there
# and the message is printed below (and in .cache/run/sink.log).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
KUBECTL=.cache/bin/kubectl
RUN_DIR=.cache/run
EVENT_PORT="${FLOWPLANE_EVENT_PORT:-8080}"
SINK_PORT="${FLOWPLANE_SINK_PORT:-8099}"
mkdir -p "$RUN_DIR"

if [[ -z "${KUBECONFIG:-}" ]]; then
  "$BIN/flowplane-cluster" up
  export KUBECONFIG="$PWD/.cache/cluster/kubeconfig"
fi

"$KUBECTL" apply -f crds/ >/dev/null
# The admission policy that refuses to delete the live version, as `kubectl apply -k
# manifests/` installs it in a cluster.
"$KUBECTL" apply -k manifests/admission >/dev/null
"$KUBECTL" wait --for condition=Established --timeout=60s \
  crd/workflows.flowplane.dev crd/workflowversions.flowplane.dev \
  crd/workflowruns.flowplane.dev >/dev/null
# Established is not yet served: wait until the API server lists each kind, so nothing
# starts against "storage is (re)initializing".
for kind in workflows workflowversions workflowruns; do
  for _ in $(seq 1 100); do
    "$KUBECTL" get "$kind.flowplane.dev" -A --request-timeout=5s >/dev/null 2>&1 && break
    sleep 0.2
  done
done

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null; }
trap stop EXIT INT TERM

"$BIN/python" -m flowplane_devtools.sink --port "$SINK_PORT" 2>&1 | tee "$RUN_DIR/sink.log" \
  | sed -u 's/^/[slack] /' &
pids+=($!)
"$BIN/flowplane-runtime" --port "$EVENT_PORT" --metrics-port 9090 --health-port 8082 \
  --executor-id "runtime-$(hostname)" \
  --slack-base-url "http://127.0.0.1:${SINK_PORT}/slack" >"$RUN_DIR/runtime.log" 2>&1 &
pids+=($!)

cat <<MSG

  flowplane is running (Ctrl-C stops the operator, the runtime and the sink).
  In another terminal:
    export KUBECONFIG=$KUBECONFIG PATH=$PWD/.cache/bin:$PWD/.venv/bin:\$PATH
    kubectl get flows,wfv,wfr -A
  Events: curl -H 'Host: <workflow>-trigger.<namespace>.svc' localhost:${EVENT_PORT}/<path>
  Logs:   $RUN_DIR/runtime.log (runtime), this terminal (operator, [slack] messages)

MSG
"$BIN/flowplane-operator" --metrics-port 9091 "$@" &
pids+=($!)
wait -n "${pids[@]}"
