"""The image's entry points, without a Docker engine.

The Dockerfile builds a wheel from pyproject.toml, README.md and src/ (all that
.dockerignore lets in) and installs it into a clean venv. This test does the same: it
copies that build context, runs `pip wheel --no-deps .`, installs the wheel into a
fresh venv, and runs `flowplane-operator --help` and `kubectl-flowplane --help` from
that venv. The dependencies are not downloaded again: a .pth file makes the
development venv's site-packages importable (after the fresh venv's own, so
`flowplane` itself comes from the wheel, which the test checks).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env,
                          cwd=cwd, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    shutil.copy(REPO / "pyproject.toml", context)
    shutil.copy(REPO / "README.md", context)
    shutil.copytree(REPO / "src", context / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheels")
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                  "--wheel-dir", str(out), "."], cwd=context)
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("flowplane-*.whl")
    return path


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("flowplane/cli/main.py", "flowplane/cli/render.py", "flowplane/py.typed",
                   "flowplane/operator/main.py", "flowplane/compiler/compile.py"):
        assert module in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "flowplane-operator = flowplane.operator.main:main" in text
    assert "kubectl-flowplane = flowplane.cli.main:main" in text
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_wheel_has_no_test_helpers(wheel: Path) -> None:
    """The local control plane and the test helpers are flowplane-devtools, not the product."""
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert not [n for n in names
                if n.startswith(("flowplane/testing/", "flowplane_devtools", "devtools/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "flowplane-cluster" not in archive.read(entry_points).decode()
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line.split(":", 1)[1].strip().lower()
                for line in archive.read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    assert any(req.startswith("kopf") for req in requires)  # the field is where we look
    assert not [req for req in requires if req.startswith("cryptography")]


def test_entry_points_run_from_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install",
                      "--no-deps", "--no-compile", "--quiet", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    purelib = Path(_run([str(python), "-c",
                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                   .stdout.strip())
    deps = site.getsitepackages()[0] if site.getsitepackages() else sysconfig.get_paths()[
        "purelib"]
    (purelib / "zz_dependencies.pth").write_text(deps + "\n")

    where = _run([str(python), "-c", "import flowplane.cli.main as m; print(m.__file__)"])
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv)

    operator = _run([str(venv / "bin" / "flowplane-operator"), "--help"])
    assert operator.returncode == 0, operator.stderr
    assert "usage: flowplane-operator" in operator.stdout
    assert "--namespace" in operator.stdout and "--metrics-port" in operator.stdout

    plugin = _run([str(venv / "bin" / "kubectl-flowplane"), "--help"])
    assert plugin.returncode == 0, plugin.stderr
    assert "usage: kubectl flowplane" in plugin.stdout
    assert "publish" in plugin.stdout and "rollback" in plugin.stdout

    usage = _run([str(venv / "bin" / "kubectl-flowplane"), "publish"])
    assert usage.returncode == 2


def test_dockerfile_shape() -> None:
    """What the test above cannot run: the image runs as non-root, from a pinned minor."""
    text = (REPO / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2 and froms[0] == froms[1] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "USER 65532:65532" in text
    assert 'ENTRYPOINT ["flowplane-operator"]' in text
    final = text.split("\nFROM ${PYTHON_IMAGE}\n", 1)[1]
    assert "pip wheel" not in final and "apt-get" not in final
    # the build context the test copies is what .dockerignore lets in
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert {"*", "!pyproject.toml", "!README.md", "!src/"} <= set(ignore)
    # ... and not the dev-only package (the local control plane, the test helpers)
    assert not [line for line in ignore if line.startswith("!") and "devtools" in line]
