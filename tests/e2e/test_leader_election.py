"""Issue 13.1: two operator replicas behind one Lease, the leader SIGKILLed mid-stream.

Both replicas watch the same namespace; only the Lease holder writes. The standby must
make no API write while it waits, take over once the dead leader's lease expires, and
finish the publishes the users kept making; a watcher from before the first replica
starts must never see two Active versions of one workflow.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.sentinel import writes_total
from tests.e2e.test_reliability import (
    ActiveWatcher,
    create_family,
    own_operator,  # noqa: F401 - fixture
    publish,
    wait_live,
)

LEASE_DURATION = 6.0
WORKFLOWS = [f"le-{i}" for i in range(4)]


def gauge(proc: OperatorProcess, name: str) -> float | None:
    for line in proc.metrics().splitlines():
        if line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def leads(proc: OperatorProcess) -> bool:
    return gauge(proc, "flowplane_operator_leader") == 1.0


def replica(kubeconfig: str, kube: Kube, tmp_path: Path, identity: str,
            lease_duration: float = LEASE_DURATION) -> OperatorProcess:
    return OperatorProcess(kubeconfig, tmp_path / f"{identity}.log", extra_args=[
        "--namespace", kube.ns, "--leader-elect",
        "--lease-name", "flowplane-operator", "--lease-namespace", kube.ns,
        "--identity", identity, "--lease-duration", str(lease_duration),
        "--renew-deadline", str(lease_duration - 2), "--retry-period", "1"])


def lease(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    body = client.CoordinationV1Api(api).read_namespaced_lease("flowplane-operator", namespace)
    spec = body.spec
    return {"holder": spec.holder_identity, "transitions": spec.lease_transitions or 0}


@pytest.fixture
def replicas(kubeconfig: str, kube: Kube, tmp_path: Path,
             own_operator: None) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:  # noqa: F811
    first = replica(kubeconfig, kube, tmp_path, "replica-a")
    second = replica(kubeconfig, kube, tmp_path, "replica-b")
    try:
        yield first, second
    finally:
        for proc in (first, second):
            proc.stop()
            print(f"{proc.log_path}")


def test_the_standby_writes_nothing_and_takes_over_when_the_leader_dies(
        kube: Kube, api_client: client.ApiClient,
        replicas: tuple[OperatorProcess, OperatorProcess]) -> None:
    leader, standby = replicas
    watcher = ActiveWatcher(api_client, kube.ns)
    rng = random.Random(13)
    try:
        leader.start()
        wait_for(lambda: leads(leader), 30, "replica-a holds the lease")
        standby.start()
        for wf in WORKFLOWS:
            create_family(kube, wf, publishedVersion=1)
        for wf in WORKFLOWS:
            wait_live(kube, wf, 1)
        # The standby saw every event (its watches are warm) and wrote nothing.
        assert not leads(standby)
        assert writes_total(standby) == 0
        assert lease(api_client, kube.ns)["holder"] == "replica-a"
        before = lease(api_client, kube.ns)["transitions"]

        # Users keep publishing; the leader dies in the middle of it.
        wanted: dict[str, int | None] = {}
        for _ in range(6):
            wf = rng.choice(WORKFLOWS)
            wanted[wf] = rng.choice([1, 2, 3, None])
            publish(kube, wf, wanted[wf])
        leader.kill()
        for _ in range(6):
            wf = rng.choice(WORKFLOWS)
            wanted[wf] = rng.choice([1, 2, 3, None])
            publish(kube, wf, wanted[wf])

        # The dead leader's lease expires; the standby takes it and finishes the work.
        wait_for(lambda: leads(standby), LEASE_DURATION * 4, "replica-b takes over")
        taken = lease(api_client, kube.ns)
        assert taken["holder"] == "replica-b"
        assert taken["transitions"] == before + 1
        for wf, n in wanted.items():
            wait_live(kube, wf, n)
        assert writes_total(standby) > 0
    finally:
        watcher.finish()
    assert watcher.events > 0
    assert watcher.violations == [], watcher.violations


def test_a_clean_shutdown_hands_the_lease_over_at_once(
        kube: Kube, api_client: client.ApiClient, kubeconfig: str, tmp_path: Path,
        own_operator: None) -> None:  # noqa: F811
    # A lease far longer than the wait below: only a released lease can change hands in time.
    leader = replica(kubeconfig, kube, tmp_path, "replica-a", lease_duration=120)
    standby = replica(kubeconfig, kube, tmp_path, "replica-b", lease_duration=120)
    try:
        leader.start()
        wait_for(lambda: leads(leader), 30, "replica-a holds the lease")
        standby.start()
        create_family(kube, "handover", publishedVersion=1)
        wait_live(kube, "handover", 1)
        before = lease(api_client, kube.ns)["transitions"]
        leader.stop()  # SIGTERM: the lease is released on the way out
        wait_for(lambda: leads(standby), 30, "replica-b takes the released lease")
        taken = lease(api_client, kube.ns)
        assert (taken["holder"], taken["transitions"]) == ("replica-b", before + 1)
        publish(kube, "handover", 2)
        wait_live(kube, "handover", 2)
    finally:
        for proc in (leader, standby):
            proc.stop()
