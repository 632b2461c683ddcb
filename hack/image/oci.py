"""Write a single-layer container image archive from a root filesystem, stdlib only.

There is no Docker engine (and no registry access) where the image is built, so
hack/image/build.sh prepares a root filesystem with debootstrap and this module turns
it into one tarball that is at the same time:

- an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`), which
  `skopeo copy oci-archive:...`, `podman load` and containerd (`kind load
  image-archive`, `ctr images import`) read, and
- a docker-archive (`manifest.json` with `RepoTags`), which `docker load` reads,

exactly like the tarball `docker save` writes since Docker 25. Both views share the same
blobs: one gzip layer, one config and one manifest.

    python3 hack/image/oci.py --rootfs DIR --out dist/flowplane-image.oci.tar \
        --name docker.io/library/flowplane-operator:latest
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"

# Directories whose contents the container runtime provides: their entries are kept,
# what debootstrap left inside them (device nodes, mounts) is not.
RUNTIME_DIRS = ("dev", "proc", "sys", "run")


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of the image config (what `docker inspect` shows as Config)."""

    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()
    env: Sequence[str] = ()
    user: str = ""
    working_dir: str = ""
    exposed_ports: Sequence[str] = ()
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = "amd64"
    os: str = "linux"


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what points at a blob."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                               "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


class _HashingWriter(io.RawIOBase):
    """Forwards writes to `sink` and hashes and counts them on the way."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)


def _canonical(obj: object) -> bytes:
    """JSON with a stable byte form, so the same input always gives the same digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _tar_filter(mtime_max: int | None) -> Any:
    def fix(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if len(parts) > 1 and parts[0] in RUNTIME_DIRS:
            return None
        info.uname = info.gname = ""
        if mtime_max is not None and info.mtime > mtime_max:
            info.mtime = mtime_max
        return info
    return fix


def write_layer(rootfs: Path, blobs: Path, mtime_max: int | None = None) -> tuple[Descriptor, str]:
    """Tar and gzip `rootfs` into `blobs`; return the layer descriptor and its diff_id.

    The diff_id (sha256 of the uncompressed tar) goes into the config, the digest of the
    gzip stream into the manifest: runtimes check both.
    """
    blobs.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=blobs, delete=False) as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            uncompressed = _HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for entry in sorted(os.listdir(rootfs)):
                    tar.add(rootfs / entry, arcname=entry, filter=_tar_filter(mtime_max))
    digest = compressed.sha.hexdigest()
    os.replace(raw.name, blobs / digest)
    return (Descriptor(LAYER_TYPE, f"sha256:{digest}", compressed.size),
            f"sha256:{uncompressed.sha.hexdigest()}")


def _write_blob(blobs: Path, data: bytes, media_type: str) -> Descriptor:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return Descriptor(media_type, f"sha256:{digest}", len(data))


def config_json(config: ImageConfig, diff_ids: Sequence[str], created: str) -> dict[str, Any]:
    """The image config blob: runtime settings plus the uncompressed layer digests."""
    runtime: dict[str, Any] = {"Entrypoint": list(config.entrypoint)}
    if config.cmd:
        runtime["Cmd"] = list(config.cmd)
    if config.env:
        runtime["Env"] = list(config.env)
    if config.user:
        runtime["User"] = config.user
    if config.working_dir:
        runtime["WorkingDir"] = config.working_dir
    if config.exposed_ports:
        runtime["ExposedPorts"] = {p: {} for p in config.exposed_ports}
    if config.labels:
        runtime["Labels"] = dict(config.labels)
    return {
        "created": created,
        "architecture": config.architecture,
        "os": config.os,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": "hack/image/build.sh"}],
    }


def split_name(name: str) -> tuple[str, str]:
    """`registry/repo:tag` -> (`registry/repo`, `tag`); no tag means `latest`."""
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return repo, tag


def write_layout(rootfs: Path, layout: Path, name: str, config: ImageConfig,
                 created: str = "1970-01-01T00:00:00Z",
                 mtime_max: int | None = None) -> Descriptor:
    """Write the OCI layout (plus docker-archive manifest.json) into directory `layout`."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    layer, diff_id = write_layer(rootfs, blobs, mtime_max)
    cfg = _write_blob(blobs, _canonical(config_json(config, [diff_id], created)), CONFIG_TYPE)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                "config": cfg.to_json(), "layers": [layer.to_json()]}
    man = _write_blob(blobs, _canonical(manifest), MANIFEST_TYPE)
    repo, tag = split_name(name)
    full = f"{repo}:{tag}"
    tagged = Descriptor(man.media_type, man.digest, man.size, {
        # containerd (kind load image-archive, ctr import) names the image by this one.
        "io.containerd.image.name": full,
        # skopeo/podman `oci-archive:FILE:REF` and the OCI spec use this one.
        "org.opencontainers.image.ref.name": tag,
    })
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [tagged.to_json()]}
    (layout / "index.json").write_bytes(_canonical(index))
    (layout / "oci-layout").write_bytes(_canonical({"imageLayoutVersion": "1.0.0"}))
    short = full.removeprefix("docker.io/").removeprefix("library/")
    docker = [{"Config": f"blobs/sha256/{cfg.digest.split(':')[1]}",
               "RepoTags": [short],
               "Layers": [f"blobs/sha256/{layer.digest.split(':')[1]}"]}]
    (layout / "manifest.json").write_bytes(_canonical(docker))
    return tagged


def write_archive(rootfs: Path, out: Path, name: str, config: ImageConfig,
                  created: str = "1970-01-01T00:00:00Z",
                  mtime_max: int | None = None) -> Descriptor:
    """Write the layout as one uncompressed tarball `out` (the layer inside is gzipped)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        layout = Path(tmp)
        desc = write_layout(rootfs, layout, name, config, created, mtime_max)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in ("oci-layout", "index.json", "manifest.json", "blobs"):
                tar.add(layout / entry, arcname=entry, filter=_archive_filter)
        os.replace(partial, out)
    return desc


def _archive_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rootfs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", required=True, help="image reference, e.g. repo/name:tag")
    p.add_argument("--entrypoint", default="flowplane-operator")
    p.add_argument("--user", default="65532:65532")
    p.add_argument("--workdir", default="/tmp")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--port", action="append", default=[])
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    args = p.parse_args(argv)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    created = "1970-01-01T00:00:00Z"
    if epoch:
        import datetime
        created = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    config = ImageConfig(
        entrypoint=[args.entrypoint], env=args.env, user=args.user,
        working_dir=args.workdir, exposed_ports=args.port,
        labels=dict(label.split("=", 1) for label in args.label))
    desc = write_archive(args.rootfs, args.out, args.name, config, created,
                         int(epoch) if epoch else None)
    print(f"{args.out}: {args.name} {desc.digest} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
