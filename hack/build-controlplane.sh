#!/usr/bin/env bash
# Build the flowplane-controlplane multi-call binary (embedded etcd, kube-apiserver,
# kube-controller-manager, kubectl of one Kubernetes release) from hack/controlplane.
#
#   hack/build-controlplane.sh           # build unless the stamp says it is up to date
#   hack/build-controlplane.sh --force   # always run `go build` (still uses the Go caches)
#
# Output: .cache/bin/flowplane-controlplane plus symlinks kubectl, etcd, kube-apiserver and
# kube-controller-manager next to it. The build is skipped when .cache/bin/.controlplane.stamp
# matches the sha256 of go.mod, go.sum, main.go, this script's version flags and `go version`.
# The default GOMODCACHE/GOCACHE are used on purpose: they are stable, so later builds are warm.
# Set GOFLAGS_EXTRA=-p=2 to limit parallelism when memory is tight (the link needs ~2.5 GB).
set -euo pipefail

KUBE_VERSION="v1.36.3"
KUBE_MAJOR="1"
KUBE_MINOR="36"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="${repo_root}/hack/controlplane"
bin_dir="${FLOWPLANE_BIN_DIR:-${repo_root}/.cache/bin}"
binary="${bin_dir}/flowplane-controlplane"
stamp_file="${bin_dir}/.controlplane.stamp"
links=(kubectl etcd kube-apiserver kube-controller-manager)

force=0
case "${1:-}" in
  "") ;;
  -f|--force) force=1 ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<EOF
ERROR: the 'go' command was not found on PATH.
       Building the local Kubernetes control plane needs Go >= 1.26 (Kubernetes ${KUBE_VERSION}).
       Install it (https://go.dev/dl/) and re-run: $0
EOF
  exit 1
fi

ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
ldflags+=" -X k8s.io/component-base/version.gitMajor=${KUBE_MAJOR}"
ldflags+=" -X k8s.io/component-base/version.gitMinor=${KUBE_MINOR}"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=${KUBE_MAJOR}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=${KUBE_MINOR}"

go_version="$(go version)"
stamp="$(
  {
    sha256sum "${src_dir}/go.mod" "${src_dir}/go.sum" "${src_dir}/main.go" | awk '{print $1}'
    echo "${go_version}"
    echo "${ldflags}"
  } | sha256sum | awk '{print $1}'
)"

make_links() {
  local name
  for name in "${links[@]}"; do
    ln -sfn flowplane-controlplane "${bin_dir}/${name}"
  done
}

human_size() {
  local bytes
  bytes="$(stat -c %s "$1")"
  awk -v b="${bytes}" 'BEGIN { printf "%.1f MiB (%d bytes)", b / 1048576, b }'
}

mkdir -p "${bin_dir}"

# Serialise concurrent invocations (two test runs starting at once).
exec 9>"${bin_dir}/.controlplane.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

if [[ "${force}" -eq 0 && -x "${binary}" && -f "${stamp_file}" \
      && "$(cat "${stamp_file}")" == "${stamp}" ]]; then
  make_links
  echo "flowplane-controlplane is up to date (${KUBE_VERSION}, $(human_size "${binary}")): ${binary}"
  exit 0
fi

echo "Building flowplane-controlplane (Kubernetes ${KUBE_VERSION}) with ${go_version}"
echo "  GOMODCACHE=$(go env GOMODCACHE)  GOCACHE=$(go env GOCACHE)"
echo "  a cold build takes 5-25 minutes and ~2.5 GB of memory at link time"

tmp_binary="${binary}.tmp.$$"
trap 'rm -f "${tmp_binary}"' EXIT

start_s="$(date +%s.%N)"
(
  cd "${src_dir}"
  # -mod=mod lets go fill in go.sum entries if needed; -buildvcs=false because the
  # module lives in a subdirectory of the repository and VCS stamping is useless here.
  CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false ${GOFLAGS_EXTRA:-}" \
    go build -trimpath -ldflags "${ldflags}" -o "${tmp_binary}" .
) || {
  echo "ERROR: go build of hack/controlplane failed (see output above)." >&2
  exit 1
}
end_s="$(date +%s.%N)"

# Atomic replace: running processes keep their (old) inode.
mv -f "${tmp_binary}" "${binary}"
trap - EXIT
echo "${stamp}" >"${stamp_file}"
make_links

version="$("${binary}" kube-apiserver --version 2>/dev/null || true)"
elapsed="$(awk -v a="${start_s}" -v b="${end_s}" 'BEGIN { printf "%.1f", b - a }')"
echo "Built ${binary}"
echo "  version: ${version}"
echo "  size:    $(human_size "${binary}")"
echo "  elapsed: ${elapsed}s"
