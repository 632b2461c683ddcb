"""``flowplane-cluster``: a detached local control plane for `make run` and for a terminal.

    flowplane-cluster up [--state-dir DIR]    # start detached, print the kubeconfig path
    flowplane-cluster status                  # pids and health
    flowplane-cluster env                     # export KUBECONFIG=...
    flowplane-cluster down                    # stop and remove the state directory

The state directory defaults to ``<repo>/.cache/cluster``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from flowplane_devtools.locate import KUBERNETES_VERSION, ControlPlaneError, repo_root
from flowplane_devtools.processes import DEFAULT_START_TIMEOUT, STATE_FILE, LocalControlPlane

__all__ = ["main"]


def _default_state_dir() -> Path:
    return repo_root() / ".cache" / "cluster"


def _cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if (state_dir / STATE_FILE).exists():
        existing = LocalControlPlane.attach(state_dir)
        if existing.is_healthy():
            print(f"Control plane already running and healthy at {existing.server}")
            print(existing.kubeconfig_path)
            return 0
        print("Found a stale or unhealthy control plane; stopping it and starting afresh.")
        existing.stop(remove_data=True)
    if state_dir.exists():
        shutil.rmtree(state_dir)
    cp = LocalControlPlane(state_dir=state_dir, detach=True, start_timeout=args.timeout)
    try:
        cp.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in cp.timings.items())
    print(f"Kubernetes {KUBERNETES_VERSION} control plane is up at {cp.server} ({timings})")
    print(f"Logs: {cp.logs_dir}")
    print(f'Use it with: eval "$(flowplane-cluster env --state-dir {state_dir})"')
    print(cp.kubeconfig_path)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if (state_dir / STATE_FILE).exists():
        cp = LocalControlPlane.attach(state_dir)
        try:
            cp.stop(remove_data=True)
        except ControlPlaneError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if state_dir.exists():
        shutil.rmtree(state_dir)
        print(f"Control plane stopped; removed {state_dir}")
    else:
        print(f"No control plane in {state_dir}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if not (state_dir / STATE_FILE).exists():
        print(f"No control plane in {state_dir}")
        return 1
    cp = LocalControlPlane.attach(state_dir)
    healthy = cp.is_healthy()
    print(f"server:     {cp.server} ({'healthy' if healthy else 'NOT healthy'})")
    print(f"kubeconfig: {cp.kubeconfig_path}")
    for name, pid in cp.component_pids().items():
        state = f"running (pid {pid})" if pid is not None else "stopped"
        print(f"{name:24} {state:24} log: {cp.log_path(name)}")
    return 0 if healthy else 1


def _cmd_env(args: argparse.Namespace) -> int:
    path = args.state_dir / "kubeconfig"
    if not path.exists():
        print(f"No control plane in {args.state_dir}; run: flowplane-cluster up", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flowplane-cluster",
        description=f"Local Kubernetes {KUBERNETES_VERSION} control plane "
        "(etcd + kube-apiserver + kube-controller-manager, no nodes).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "up": (_cmd_up, "start detached (no-op when already running and healthy)"),
        "down": (_cmd_down, "stop and remove all data"),
        "status": (_cmd_status, "show processes and health (exit 1 if unhealthy)"),
        "env": (_cmd_env, "print 'export KUBECONFIG=...'"),
    }
    for name, (_, help_text) in commands.items():
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument(
            "--state-dir",
            type=Path,
            default=_default_state_dir(),
            help="state directory (default: <repo>/.cache/cluster)",
        )
        if name == "up":
            cmd.add_argument(
                "--timeout",
                type=float,
                default=DEFAULT_START_TIMEOUT,
                help="seconds to wait for each component (default: %(default)s)",
            )
    args = parser.parse_args(argv)
    args.state_dir = Path(args.state_dir).resolve()
    handler = commands[args.command][0]
    try:
        return handler(args)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
