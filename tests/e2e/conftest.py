"""e2e fixtures: the flowplane CRDs installed once, and the operator running as a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from flowplane.cli.main import main
from flowplane_devtools.kube import Kube, install_crds
from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess
from flowplane_devtools.sink import Sink
from tests.e2e.plugin_helpers import Plugin, Result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def crds(api_client: client.ApiClient) -> None:
    install_crds(api_client, REPO / "crds")


@pytest.fixture(scope="session")
def operator(
    crds: None, kubeconfig: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for the session (tests may restart or kill it; it is started again)."""
    proc = OperatorProcess(kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log")
    proc.start()
    try:
        yield proc
    finally:
        print(f"operator log: {proc.log_path}")
        proc.stop()


@pytest.fixture
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start()
    return operator


@pytest.fixture
def kube(api_client: client.ApiClient, namespace: str, crds: None) -> Kube:
    return Kube(api_client, namespace)


# ------------------------------------------------------------------ the data plane

@pytest.fixture(scope="session")
def sink() -> Iterator[Sink]:
    """Stands in for Slack, an AI provider and any HTTP endpoint a workflow calls."""
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()


def runtime_args(sink: Sink, *extra: str) -> list[str]:
    return ["--slack-base-url", f"{sink.url}/slack", "--ai-base-url", f"{sink.url}/ai",
            "--lease-seconds", "3", *extra]


@pytest.fixture(scope="session")
def runtime(operator: OperatorProcess, sink: Sink, kubeconfig: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    """One runtime replica for the session, pointed at the sink."""
    proc = RuntimeProcess(kubeconfig, tmp_path_factory.mktemp("runtime") / "runtime.log",
                          runtime_args(sink, "--executor-id", "runtime-main",
                                       "--max-consecutive-failures", "3"))
    proc.start()
    try:
        yield proc
    finally:
        print(f"runtime log: {proc.log_path}")
        proc.stop()


@pytest.fixture
def running_runtime(runtime: RuntimeProcess, running_operator: OperatorProcess) -> RuntimeProcess:
    if runtime.proc is None or runtime.proc.poll() is not None:
        runtime.start()
    return runtime


@pytest.fixture
def plugin(kubeconfig: str, kube: Kube, capsys: pytest.CaptureFixture[str]) -> Plugin:
    """The plugin's `main()` against the test namespace; usage errors are exit code 2."""
    def call(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main([*argv, "--kubeconfig", kubeconfig, "-n", kube.ns])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return call
