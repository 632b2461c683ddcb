"""Where things are: the flowplane checkout, the control-plane binary, kubectl, free ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Final

__all__ = [
    "BINARY_ENV",
    "KUBERNETES_VERSION",
    "ControlPlaneError",
    "find_binary",
    "find_kubectl",
    "free_ports",
    "repo_root",
]

KUBERNETES_VERSION: Final = "v1.36.3"
"""The release hack/controlplane is pinned to (reported by /version)."""

BINARY_ENV: Final = "FLOWPLANE_CONTROLPLANE_BIN"
"""Environment variable overriding the path of the flowplane-controlplane binary."""

_BUILD_SCRIPT: Final = Path("hack") / "build-controlplane.sh"


class ControlPlaneError(RuntimeError):
    """Raised when the control plane cannot be built, started, reached or stopped."""


def repo_root() -> Path:
    """The flowplane checkout: the first parent of this file holding both pyproject.toml and
    hack/build-controlplane.sh (not devtools/, which has a pyproject.toml of its own), else cwd.
    """
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / _BUILD_SCRIPT).is_file():
            return parent
    return Path.cwd()


def find_binary() -> Path:
    """Path of flowplane-controlplane: ``$FLOWPLANE_CONTROLPLANE_BIN``, else the repo's cache.

    Raises :class:`ControlPlaneError` with build instructions when it does not exist.
    """
    override = os.environ.get(BINARY_ENV)
    path = Path(override) if override else repo_root() / ".cache" / "bin" / "flowplane-controlplane"
    if not path.is_file() or not os.access(path, os.X_OK):
        source = f"${BINARY_ENV}" if override else "the default location"
        raise ControlPlaneError(
            f"flowplane-controlplane binary not found at {path} ({source}).\n"
            f"Build it with: {repo_root() / _BUILD_SCRIPT} "
            f"(needs Go >= 1.26; a cold build takes 5-25 minutes), or point ${BINARY_ENV} at it."
        )
    return path


def find_kubectl(binary: Path | None = None) -> list[str]:
    """The argv prefix that runs the matching kubectl (symlink if present, else multi-call)."""
    binary = binary if binary is not None else find_binary()
    link = binary.parent / "kubectl"
    if link.exists() and link.resolve() == binary.resolve():
        return [str(link)]
    return [str(binary), "kubectl"]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()
