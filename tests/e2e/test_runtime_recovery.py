"""Durability across replicas and restarts, on the real API server with real processes.

Each test starts its own runtime replicas (short 3 s leases) and kills them with
SIGKILL, as a node failure would; the sink counts how often each step really ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess
from flowplane_devtools.sink import Sink
from tests.e2e.conftest import runtime_args
from tests.e2e.runtime_helpers import (
    accepted,
    chain,
    deploy,
    http_call,
    publish,
    run_status,
    runs_of,
    steps,
    wait_phase,
    webhook,
)

Replica = Callable[[str], RuntimeProcess]


@pytest.fixture
def replicas(running_operator: OperatorProcess, runtime: RuntimeProcess, sink: Sink,
             kubeconfig: str, namespace: str, tmp_path: Path) -> Iterator[Replica]:
    """Start runtime replicas that serve only this test's namespace.

    The session's replica serves every namespace, so it is stopped: the test's replicas
    are then the only ones that can take a run over (it is started again when needed).
    """
    runtime.stop()
    started: list[RuntimeProcess] = []

    def start(executor_id: str) -> RuntimeProcess:
        proc = RuntimeProcess(kubeconfig, tmp_path / f"{executor_id}.log", runtime_args(
            sink, "--executor-id", executor_id, "--namespace", namespace))
        proc.start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def _durable_graph(sink: Sink, kube: Kube, seconds: int = 4) -> dict[str, object]:
    return chain(
        webhook(),
        http_call("before", f"{sink.url}/{kube.ns}/before", {"run": "{{ run.name }}"}),
        {"id": "wait", "role": "system", "type": "delay", "config": {"duration": f"{seconds}s"}},
        http_call("after", f"{sink.url}/{kube.ns}/after", {"run": "{{ run.name }}"}))


def _waiting(kube: Kube, name: str) -> bool:
    return bool(steps(run_status(kube, name)).get("wait", {}).get("resumeAt"))


def test_sigkill_during_a_delay_then_restart_runs_each_step_once(
        kube: Kube, sink: Sink, replicas: Replica) -> None:
    replica = replicas("solo")
    deploy(kube, "durable", _durable_graph(sink, kube))
    name = accepted(replica, kube, "durable")
    wait_for(lambda: _waiting(kube, name), 15, "run waiting in its delay")
    resume_at = steps(run_status(kube, name))["wait"]["resumeAt"]
    replica.kill()
    replica.start()

    status = wait_phase(kube, name, "Succeeded", timeout=40)
    assert [r.body for r in sink.requests(f"/{kube.ns}/before")] == [{"run": name}]
    assert [r.body for r in sink.requests(f"/{kube.ns}/after")] == [{"run": name}]
    assert status["executor"]["id"] == "solo"
    # The wait was not restarted: it ended when it was first recorded to end.
    assert steps(status)["wait"]["finishedAt"] >= resume_at


def test_another_replica_takes_over_a_dead_replicas_runs(
        kube: Kube, sink: Sink, replicas: Replica) -> None:
    first, second = replicas("replica-a"), replicas("replica-b")
    deploy(kube, "handover", _durable_graph(sink, kube))
    name = accepted(first, kube, "handover")
    wait_for(lambda: _waiting(kube, name), 15, "run waiting in its delay")
    assert run_status(kube, name)["executor"]["id"] == "replica-a"
    first.kill()

    status = wait_phase(kube, name, "Succeeded", timeout=40)
    assert status["executor"]["id"] == "replica-b"
    assert len(sink.requests(f"/{kube.ns}/before")) == 1
    assert len(sink.requests(f"/{kube.ns}/after")) == 1
    assert "flowplane_runtime_runs_taken_over_total 1.0" in second.metrics()


def test_a_schedule_fires_once_per_tick_across_replicas(
        kube: Kube, sink: Sink, replicas: Replica) -> None:
    replicas("tick-a")
    replicas("tick-b")
    path = f"/{kube.ns}/tick"
    deploy(kube, "cron", chain(
        {"id": "every", "role": "trigger", "type": "schedule", "config": {"cron": "* * * * * */2"}},
        http_call("out", sink.url + path, {"run": "{{ run.name }}",
                                           "at": "{{ nodes.every.output.body.scheduledAt }}"})))
    wait_for(lambda: len([r for r in runs_of(kube, "cron")
                          if (r.get("status") or {}).get("phase") == "Succeeded"]) >= 4,
             40, "four ticks run")
    publish(kube, "cron", None)
    wait_for(lambda: all((r.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                         for r in runs_of(kube, "cron")), 20, "runs finished")

    runs = runs_of(kube, "cron")
    ticks = [r["spec"]["event"]["receivedAt"] for r in runs]
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    calls = [r.body for r in sink.requests(path)]
    assert sorted(c["run"] for c in calls) == sorted(r["metadata"]["name"] for r in runs)
    assert all(r["spec"]["trigger"]["type"] == "schedule" for r in runs)
