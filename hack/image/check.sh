#!/usr/bin/env bash
# Run the image's entry points from the archive itself, without a container engine:
# unpack its layer (found through manifest.json) and chroot into it as uid 65532.
set -euo pipefail
ARCHIVE=${1:-dist/flowplane-image.oci.tar}
[ "$(id -u)" = 0 ] || { echo "check.sh: needs root (chroot)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -xf "$ARCHIVE" -C "$tmp"
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][0])' \
  "$tmp/manifest.json")
mkdir "$tmp/root"; tar -xzf "$tmp/$layer" -C "$tmp/root"
for script in flowplane-operator flowplane-runtime kubectl-flowplane; do
  chroot --userspec=65532:65532 "$tmp/root" /usr/bin/env -i \
    PATH=/opt/flowplane/bin:/usr/bin:/bin "$script" --help | head -1
done
chroot --userspec=65532:65532 "$tmp/root" /opt/flowplane/bin/python -c \
  'import flowplane, sys; print("flowplane from", flowplane.__file__, "on Python", sys.version.split()[0])'
