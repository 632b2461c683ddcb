#!/usr/bin/env bash
# Build the flowplane-operator image archive without a Docker engine (see hack/image/oci.py).
#
#   hack/image/build.sh [OUT] [IMAGE]    (defaults: dist/flowplane-image.oci.tar,
#                                          docker.io/library/flowplane-operator:latest)
#
# 1. a wheel from pyproject.toml, README.md and src/ (the same context .dockerignore lets
#    into the Dockerfile build; the test helpers are in devtools/, which is not copied);
# 2. a Debian bookworm minbase root filesystem with python3 and python3-venv, made by
#    debootstrap once and cached in .cache/image/rootfs-base (delete it to refresh);
# 3. a copy of it with /opt/flowplane: a venv holding the wheel and its dependencies
#    (downloaded on the host, installed offline in a chroot), without pip/setuptools,
#    and the nonroot user 65532; both entry points must start as that user;
# 4. hack/image/oci.py writes that tree as a one-layer OCI + docker-archive tarball.
# Needs root (debootstrap, chroot). The image matches the Dockerfile's: same venv path,
# entrypoint, user, env and ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-dist/flowplane-image.oci.tar}
IMAGE=${2:-docker.io/library/flowplane-operator:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PIP=${PIP:-.venv/bin/pip}
CACHE=.cache/image
BASE=$CACHE/rootfs-base
STAGE=$CACHE/rootfs
WORK=$CACHE/work

[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

if [ ! -e "$BASE/.complete" ]; then
  rm -rf "$BASE.tmp"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$BASE.tmp" "$MIRROR"
  rm -rf "$BASE.tmp"/var/cache/apt/archives/*.deb "$BASE.tmp"/var/lib/apt/lists/* \
         "$BASE.tmp"/var/cache/apt/*.bin "$BASE.tmp"/var/log/* \
         "$BASE.tmp"/usr/share/doc/* "$BASE.tmp"/usr/share/man/* "$BASE.tmp"/usr/share/info/* \
         "$BASE.tmp"/usr/share/locale/*
  touch "$BASE.tmp/.complete"
  rm -rf "$BASE"; mv "$BASE.tmp" "$BASE"
fi

rm -rf "$WORK" "$STAGE"; mkdir -p "$WORK/context" "$WORK/wheels"
cp pyproject.toml README.md "$WORK/context/"
cp -r src "$WORK/context/src"
[ ! -e "$WORK/context/src/flowplane_devtools" ] || { echo "build.sh: test helpers in src/" >&2; exit 1; }
find "$WORK/context/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
"$PIP" wheel --quiet --no-deps --wheel-dir "$WORK/wheels" "$WORK/context"
# Host and image are both CPython 3.11 on glibc x86_64, so the host resolves the same wheels.
"$PIP" download --quiet --only-binary=:all: --dest "$CACHE/wheelhouse" "$WORK"/wheels/*.whl
cp "$CACHE"/wheelhouse/*.whl "$WORK/wheels/"

cp -a "$BASE" "$STAGE"; rm -f "$STAGE/.complete"
mkdir -p "$STAGE/tmp/wheels"; cp "$WORK"/wheels/*.whl "$STAGE/tmp/wheels/"
chroot "$STAGE" /usr/bin/env -i PATH=/usr/bin:/bin PIP_DISABLE_PIP_VERSION_CHECK=1 /bin/sh -euc '
  python3 -m venv /opt/flowplane
  /opt/flowplane/bin/pip install --quiet --no-index --no-compile --find-links /tmp/wheels flowplane
  /opt/flowplane/bin/pip uninstall --quiet --yes pip setuptools
  rm -rf /tmp/wheels /opt/flowplane/bin/activate*
  test ! -e /opt/flowplane/bin/flowplane-cluster
  test -z "$(find /opt/flowplane -name "flowplane_devtools*")"
  ! grep -rlE --include="*.py" "flowplane_devtools|flowplane\.testing" \
      /opt/flowplane/lib/python3*/site-packages/flowplane
  python3 -m compileall -q /opt/flowplane/lib
  echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin" >> /etc/passwd
  echo "nonroot:x:65532:" >> /etc/group
  mkdir -p /home/nonroot && chown 65532:65532 /home/nonroot && chmod 1777 /tmp
'
for script in flowplane-operator flowplane-runtime kubectl-flowplane; do
  chroot --userspec=65532:65532 "$STAGE" /usr/bin/env -i PATH=/opt/flowplane/bin:/usr/bin:/bin \
    "$script" --help > /dev/null || { echo "build.sh: $script --help failed in the image" >&2; exit 1; }
done

python3 hack/image/oci.py --rootfs "$STAGE" --out "$OUT" --name "$IMAGE" \
  --entrypoint flowplane-operator --user 65532:65532 --workdir /tmp \
  --env PATH=/opt/flowplane/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1 \
  --port 8080/tcp --port 8081/tcp --port 9090/tcp \
  --label org.opencontainers.image.title=flowplane-operator \
  --label org.opencontainers.image.licenses=Apache-2.0
