"""The image archive hack/image/oci.py writes is one that runtimes accept.

`make image` builds the real image (debootstrap, minutes, root); here a tiny root
filesystem goes through the same writer, and the test checks what containerd, skopeo
and `docker load` check: every blob's digest and size, the config's diff_id against the
uncompressed layer, the image name annotations, and the files inside the layer.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hack_image_oci", REPO / "hack/image/oci.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


oci = _load()


@pytest.fixture()
def archive(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "rootfs"
    (root / "opt/flowplane/bin").mkdir(parents=True)
    script = root / "opt/flowplane/bin/flowplane-operator"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("nonroot:x:65532:65532::/:/sbin/nologin\n")
    os.symlink("flowplane-operator", root / "opt/flowplane/bin/alias")
    (root / "dev").mkdir()
    (root / "dev/leftover").write_text("not for the image")
    out = tmp_path / "img.oci.tar"
    config = oci.ImageConfig(entrypoint=["flowplane-operator"], user="65532:65532",
                             env=["PATH=/opt/flowplane/bin:/usr/bin"],
                             exposed_ports=["8080/tcp"])
    oci.write_archive(root, out, "ghcr.io/acme/flowplane-operator:1.2", config)
    with tarfile.open(out) as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def _blob(files: dict[str, bytes], desc: dict[str, object]) -> bytes:
    digest = str(desc["digest"])
    data = files[f"blobs/sha256/{digest.removeprefix('sha256:')}"]
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == digest
    assert len(data) == desc["size"]
    return data


def test_blobs_are_content_addressed_and_consistent(archive: dict[str, bytes]) -> None:
    assert json.loads(archive["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(archive["index.json"])
    [entry] = index["manifests"]
    assert entry["annotations"] == {
        "io.containerd.image.name": "ghcr.io/acme/flowplane-operator:1.2",
        "org.opencontainers.image.ref.name": "1.2"}
    manifest = json.loads(_blob(archive, entry))
    assert manifest["mediaType"] == entry["mediaType"] == oci.MANIFEST_TYPE
    config = json.loads(_blob(archive, manifest["config"]))
    [layer_desc] = manifest["layers"]
    assert layer_desc["mediaType"] == oci.LAYER_TYPE
    layer = gzip.decompress(_blob(archive, layer_desc))
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}
    assert config["config"]["Entrypoint"] == ["flowplane-operator"]
    assert config["config"]["User"] == "65532:65532"
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    # The docker-archive view points at the same blobs.
    [docker] = json.loads(archive["manifest.json"])
    assert docker["RepoTags"] == ["ghcr.io/acme/flowplane-operator:1.2"]
    assert docker["Config"] == "blobs/sha256/" + manifest["config"]["digest"][7:]
    assert docker["Layers"] == ["blobs/sha256/" + layer_desc["digest"][7:]]


def test_layer_holds_the_rootfs_without_runtime_dirs(archive: dict[str, bytes]) -> None:
    [docker] = json.loads(archive["manifest.json"])
    layer = gzip.decompress(archive[docker["Layers"][0]])
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        script = members["opt/flowplane/bin/flowplane-operator"]
        assert script.mode & 0o111 and script.uname == ""
        assert tar.extractfile(script).read() == b"#!/bin/sh\necho hi\n"  # type: ignore[union-attr]
    assert members["opt/flowplane/bin/alias"].issym()
    assert members["opt/flowplane/bin/alias"].linkname == "flowplane-operator"
    assert "etc/passwd" in members and members["dev"].isdir()
    assert "dev/leftover" not in members


def test_same_input_gives_the_same_image(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_text("x")
    config = oci.ImageConfig(entrypoint=["x"])
    first = oci.write_archive(root, tmp_path / "a.tar", "x", config, mtime_max=0)
    second = oci.write_archive(root, tmp_path / "b.tar", "x", config, mtime_max=0)
    assert first.digest == second.digest
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_split_name_defaults_to_latest() -> None:
    assert oci.split_name("flowplane-operator") == ("flowplane-operator", "latest")
    assert oci.split_name("localhost:5000/fp") == ("localhost:5000/fp", "latest")
    assert oci.split_name("localhost:5000/fp:v1") == ("localhost:5000/fp", "v1")
