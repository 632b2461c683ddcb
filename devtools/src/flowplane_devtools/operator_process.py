"""Run the operator and the runtime as child processes (tests, benchmarks, demos)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChildProcess:
    """A flowplane console script run as a child process, its log kept in a file.

    Subclasses say which module to run and which URL answers 200 once it is ready.
    """

    module = ""
    what = "process"

    def __init__(self, kubeconfig: str, log_path: Path, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.env = env or {}
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/healthz"

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module,
                "--metrics-port", str(self.metrics_port),
                "--health-port", str(self.health_port), *self.extra_args]

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        self._log.flush()
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, **self.env}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.starts += 1
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.what} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.what} not healthy after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> None:
        self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: int, timeout: float = 15.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text: str = response.read().decode()
            return text


class OperatorProcess(ChildProcess):
    """`flowplane-operator` against a kubeconfig."""

    module = "flowplane.operator.main"
    what = "operator"


class RuntimeProcess(ChildProcess):
    """`flowplane-runtime` against a kubeconfig; events go to `url` with a `Host` header."""

    module = "flowplane.runtime.main"
    what = "runtime"

    def __init__(self, kubeconfig: str, log_path: Path, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(kubeconfig, log_path, extra_args, env)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/readyz"

    def command(self) -> list[str]:
        return [*super().command(), "--port", str(self.port)]
