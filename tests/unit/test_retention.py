"""Version retention (spec.versionHistoryLimit): the pure rule as a table, then decide()."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import Condition, VersionPhase, WorkflowVersionStatus
from flowplane.model.timestamps import format_timestamp
from flowplane.operator import reconciler as reconciler_module
from flowplane.operator.config import parse_options
from flowplane.operator.indexes import Indexes
from flowplane.operator.kube import KubeClient
from flowplane.operator.queue import Retry
from flowplane.operator.reconciler import FamilyReconciler
from flowplane.reconcile.decide import decide
from flowplane.reconcile.retention import plan_retention
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import (
    Family,
    FamilyKey,
    Meta,
    RunObj,
    VersionObj,
    run_family_key,
    run_from_body,
    store_plan,
    store_version,
    store_workflow,
)
from flowplane.reconcile.writes import Decision, Delete, Kind
from tests.unit.fakeworld import FakeWorld, simple_graph

NOW = "2026-11-22T12:00:00Z"
LONG_AGO = "2026-11-22T10:00:00Z"
HALF_A_MINUTE_AGO = "2026-11-22T11:59:30Z"
A_MINUTE_AGO = "2026-11-22T11:59:00Z"


def version(n: int, phase: VersionPhase = VersionPhase.INACTIVE,
            retired: str | None = LONG_AGO, conditions: list[Condition] | None = None,
            ) -> VersionObj:
    status = WorkflowVersionStatus(phase=phase, deactivatedAt=retired,
                                   conditions=conditions or [])
    return VersionObj(meta=Meta(name=f"wf-v{n}", namespace="ns", uid=f"uid-{n}"),
                      workflow_name="wf", number=n, label="", graph_raw={}, status_raw={},
                      status=status)


def family(*overrides: tuple[int, VersionObj]) -> list[VersionObj]:
    """v1..v4 Inactive (retired long ago), v5 Active; `overrides` replace by number."""
    versions = {n: version(n) for n in range(1, 5)}
    versions[5] = version(5, VersionPhase.ACTIVE, retired=None)
    versions.update(dict(overrides))
    return list(versions.values())


RETIRED_CONDITION = Condition(type="Active", status="False", reason="Retired",
                              message="retired", lastTransitionTime=LONG_AGO)

# (id, versions, limit, protection kwargs, grace, expected deletions)
TABLE: list[tuple[str, list[VersionObj], int | None, dict[str, Any], float, list[int]]] = [
    ("limit absent keeps all", family(), None, {}, 60, []),
    ("limit 0 deletes every Inactive one", family(), 0, {}, 60, [1, 2, 3, 4]),
    ("limit 1 keeps the newest Inactive", family(), 1, {}, 60, [1, 2, 3]),
    ("limit 3", family(), 3, {}, 60, [1]),
    ("limit equal to the Inactive count", family(), 4, {}, 60, []),
    ("limit above the Inactive count", family(), 10, {}, 60, []),
    ("newest by number, not by retirement time",
     family((4, version(4, retired=LONG_AGO)), (1, version(1, retired=A_MINUTE_AGO))),
     1, {}, 0, [1, 2, 3]),
    ("never a Draft", family((2, version(2, VersionPhase.DRAFT))), 0, {}, 60, [1, 3, 4]),
    ("a Draft does not count towards the limit",
     family((4, version(4, VersionPhase.DRAFT))), 1, {}, 60, [1, 2]),
    ("never Compiling, Invalid or Failed",
     family((1, version(1, VersionPhase.COMPILING)), (2, version(2, VersionPhase.INVALID)),
            (3, version(3, VersionPhase.FAILED))), 0, {}, 60, [4]),
    ("never the Active one", family(), 0, {}, 0, [1, 2, 3, 4]),
    ("never the active version (even if its status still says Inactive)",
     family(), 0, {"active": {3}}, 60, [1, 2, 4]),
    ("never the wanted version", family(), 0, {"wanted": 2}, 60, [1, 3, 4]),
    ("never what the Service names", family(), 0, {"served": {1}}, 60, [2, 3, 4]),
    ("never a version a non-finished run is pinned to",
     family(), 1, {"pinned": {1, 2}}, 60, [3]),
    ("a pin on a kept version changes nothing", family(), 1, {"pinned": {4}}, 60, [1, 2, 3]),
    ("a protected version still counts as one of the newest",
     family(), 1, {"pinned": {4}, "wanted": 3}, 60, [1, 2]),
    ("grace not elapsed",
     family((2, version(2, retired=HALF_A_MINUTE_AGO))), 0, {}, 60, [1, 3, 4]),
    ("grace just elapsed", family((2, version(2, retired=A_MINUTE_AGO))), 0, {}, 60,
     [1, 2, 3, 4]),
    ("grace 0 deletes at once", family((2, version(2, retired=NOW))), 0, {}, 0, [1, 2, 3, 4]),
    ("unknown retirement time is kept while there is a grace",
     family((2, version(2, retired=None))), 0, {}, 60, [1, 3, 4]),
    ("unknown retirement time, no grace", family((2, version(2, retired=None))), 0, {}, 0,
     [1, 2, 3, 4]),
    ("unreadable retirement time is kept", family((2, version(2, retired="yesterday"))), 0,
     {}, 60, [1, 3, 4]),
    ("retirement time from the Active condition",
     family((2, version(2, retired=None, conditions=[RETIRED_CONDITION]))), 0, {}, 60,
     [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("versions", "limit", "protect", "grace", "expected"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_versions_to_delete(versions: list[VersionObj], limit: int | None,
                            protect: dict[str, Any], grace: float, expected: list[int]) -> None:
    names = plan_retention(versions, limit, now=NOW, grace_seconds=grace, **protect).delete
    assert names == [f"wf-v{n}" for n in expected]


def retention_recheck_after(versions: list[VersionObj], limit: int | None,
                            **kwargs: Any) -> float | None:
    return plan_retention(versions, limit, **kwargs).recheck_after


def test_recheck_after_the_grace_of_the_next_version_that_may_go() -> None:
    versions = family((2, version(2, retired=HALF_A_MINUTE_AGO)),
                      (3, version(3, retired="2026-11-22T11:59:50Z")))
    assert retention_recheck_after(versions, 0, now=NOW, grace_seconds=60) == 30
    # Held back by something other than the grace: an event ends that, not a timer.
    assert retention_recheck_after(versions, 0, pinned={2, 3}, now=NOW,
                                   grace_seconds=60) is None
    assert retention_recheck_after(versions, 0, now=NOW, grace_seconds=0) is None
    assert retention_recheck_after(versions, None, now=NOW, grace_seconds=60) is None
    assert retention_recheck_after(family(), 0, now=NOW, grace_seconds=60) is None
    almost = family((2, version(2, retired="2026-11-22T11:00:59Z")))
    assert retention_recheck_after(almost, 0, now="2026-11-22T11:01:58Z",
                                   grace_seconds=60) == 1.0  # never sooner than a second


# ---------------------------------------------------------------- through decide()

WF = "form-to-slack"


def publish(world: FakeWorld, n: int | None) -> None:
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": n}})
    world.converge()


def plans(world: FakeWorld) -> set[int]:
    return {int(b["metadata"]["labels"]["flowplane.dev/version"])
            for (k, _), b in world.objects.items() if k == Kind.CONFIGMAP}


@pytest.fixture
def world() -> FakeWorld:
    w = FakeWorld(Settings(version_retention_grace_seconds=0))
    w.add_workflow(WF, versionHistoryLimit=1)
    for n in range(1, 5):
        w.add_version(n, simple_graph(f"v{n}"))
    w.converge()
    return w


def test_publishing_in_turn_keeps_the_newest_retired_version(world: FakeWorld) -> None:
    world.add_version(5, simple_graph("draft"))
    for n in range(1, 5):
        publish(world, n)
    assert world.numbers() == [3, 4, 5]
    assert (world.phase(3), world.phase(4), world.phase(5)) == ("Inactive", "Active", "Draft")
    assert plans(world) == {3, 4}  # the deleted versions' plans went with them
    world.check_invariants()
    deleted = [e for e in world.events if e.reason == "VersionDeleted"]
    assert [e.message.split()[2] for e in deleted] == ["v1", "v2"]


def test_a_running_run_keeps_its_version_until_it_finishes(world: FakeWorld) -> None:
    publish(world, 1)
    world.add_run("run-1", 1, "Running")
    world.add_run("run-pending", 2, None)  # no status yet: not finished
    for n in (2, 3, 4):
        publish(world, n)
    assert world.numbers() == [1, 2, 3, 4]
    world.add_run("run-1", 1, "Succeeded")
    world.converge()
    assert world.numbers() == [2, 3, 4]
    world.add_run("run-pending", 2, "Failed")
    world.converge()
    assert world.numbers() == [3, 4]


def test_the_wanted_version_is_kept_while_its_publish_is_rejected(world: FakeWorld) -> None:
    publish(world, 1)
    publish(world, 2)
    world.edit(Kind.WORKFLOW, WF, {"status": {"safety": {"tripped": True,
                                                        "reason": "RunRateExceeded"}}})
    world.converge()
    world.edit(Kind.WORKFLOW, WF, {"spec": {"versionHistoryLimit": 0, "publishedVersion": 1}})
    world.converge()
    assert world.wf_status()["lastPublish"]["reason"] == "SafetyPaused"
    assert world.numbers() == [1, 2, 3, 4]  # v1 is wanted, v2 live, v3 and v4 Drafts


def test_no_limit_keeps_everything() -> None:
    w = FakeWorld(Settings(version_retention_grace_seconds=0))
    w.add_workflow(WF)
    for n in range(1, 4):
        w.add_version(n)
        publish(w, n)
    assert w.numbers() == [1, 2, 3]


def test_the_grace_holds_a_retired_version_back_and_asks_to_look_again() -> None:
    w = FakeWorld()  # the default grace: 60 s
    w.add_workflow(WF, versionHistoryLimit=0)
    w.add_version(1)
    w.add_version(2, simple_graph("v2"))
    publish(w, 1)
    publish(w, 2)
    assert w.numbers() == [1, 2]
    retired = w.version(1)["status"]["deactivatedAt"]
    soon = decide(w.family(), w.settings, retired)
    assert not soon.writes and soon.requeue_after == 60
    later = decide(w.family(), w.settings, "2026-11-22T23:00:00Z")
    assert later.writes == [Delete(Kind.VERSION, f"{WF}-v1", w.version(1)["metadata"]["uid"],
                                   why="retire v1: versionHistoryLimit 0")]
    assert later.requeue_after is None


def test_a_version_is_never_deleted_in_the_pass_that_retires_it() -> None:
    w = FakeWorld(Settings(version_retention_grace_seconds=0))
    w.add_workflow(WF, versionHistoryLimit=0)
    w.add_version(1)
    w.add_version(2, simple_graph("v2"))
    publish(w, 1)
    w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}})
    first = w.decide()
    assert first.writes and not any(isinstance(x, Delete) for x in first.writes)
    w.converge()
    assert w.numbers() == [2]
    w.check_invariants()


def test_deletes_come_last_and_name_the_object_decided_on(world: FakeWorld) -> None:
    publish(world, 1)
    world.edit(Kind.WORKFLOW, WF, {"spec": {"versionHistoryLimit": 5}})
    publish(world, 2)
    publish(world, 3)
    world.edit(Kind.WORKFLOW, WF, {"spec": {"versionHistoryLimit": 0}})
    decision = world.decide()
    deletes = [x for x in decision.writes if isinstance(x, Delete)]
    assert decision.writes[-len(deletes):] == deletes
    assert [(d.name, d.uid) for d in deletes] == [
        (f"{WF}-v{n}", world.version(n)["metadata"]["uid"]) for n in (1, 2)]


# ---------------------------------------------------------------- the operator's inputs


def run_body(phase: str | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "form-to-slack-abc12", "namespace": "team-a",
                     "labels": {"flowplane.dev/workflow": WF, "flowplane.dev/version": "3"}},
        "spec": {"workflowRef": {"name": WF}, "version": 3, **spec},
    }
    if phase is not None:
        body["status"] = {"phase": phase, "steps": [{"node": "form", "output": "x" * 100}]}
    return body


@pytest.mark.parametrize(("phase", "finished"), [
    (None, False), ("Pending", False), ("Running", False), ("Succeeded", True),
    ("Failed", True)])
def test_a_run_is_kept_as_its_pin_only(phase: str | None, finished: bool) -> None:
    run = run_from_body(run_body(phase))
    assert run == RunObj(name="form-to-slack-abc12", version=3, finished=finished)
    assert run_family_key(run_body(phase)) == ("team-a", WF)


def test_a_run_key_and_pin_fall_back_to_its_labels() -> None:
    body = run_body("Running")
    body["spec"] = {}
    assert run_from_body(body).version == 3
    assert run_family_key(body) == ("team-a", WF)
    body["metadata"]["labels"] = {}
    assert run_family_key(body) is None and run_from_body(body).version is None


def test_retention_grace_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_options([]).settings.version_retention_grace_seconds == 60
    assert parse_options(["--version-retention-grace", "0"]).settings \
        .version_retention_grace_seconds == 0
    monkeypatch.setenv("FLOWPLANE_VERSION_RETENTION_GRACE", "5.5")
    assert parse_options([]).settings.version_retention_grace_seconds == 5.5
    with pytest.raises(SystemExit):
        parse_options(["--version-retention-grace", "-1"])


# ---------------------------------------------------------------- the applier


class FakeClient:
    """The KubeClient calls a Delete decision makes."""

    def __init__(self, delete_status: int | None = None) -> None:
        self.delete_status = delete_status
        self.deleted: list[tuple[Kind, str, str, str]] = []
        self.events: list[Any] = []

    async def delete(self, kind: Kind, namespace: str, name: str, *, uid: str) -> None:
        self.deleted.append((kind, namespace, name, uid))
        if self.delete_status is not None:
            raise ApiException(status=self.delete_status, reason="test")

    async def emit(self, namespace: str, event: Any) -> None:
        self.events.append(event)


def reconciler_for(world: FakeWorld, client: FakeClient,
                   runs: tuple[RunObj, ...] = ()) -> tuple[FamilyReconciler, Family]:
    reconciler = FamilyReconciler(cast(KubeClient, client), world.settings)
    fam = world.family()
    key = fam.key
    bodies = {kind: [b for (k, _), b in world.objects.items() if k == kind]
              for kind in (Kind.WORKFLOW, Kind.VERSION, Kind.CONFIGMAP)}
    reconciler.indexes = Indexes(  # as the Kopf indexes keep them: the compact stored forms
        workflows={key: [store_workflow(b) for b in bodies[Kind.WORKFLOW]]},
        versions={key: [store_version(b) for b in bodies[Kind.VERSION]]},
        plans={key: [store_plan(b) for b in bodies[Kind.CONFIGMAP]]},
        services={key: [fam.service]}, runs={key: list(runs)})
    return reconciler, fam


@pytest.mark.parametrize("status", [None, 404])
def test_the_applier_deletes_with_the_uid_and_counts_not_found_as_done(
        world: FakeWorld, status: int | None) -> None:
    publish(world, 1)
    client = FakeClient(status)
    reconciler, fam = reconciler_for(world, client)
    v1 = next(v for v in fam.versions if v.number == 1)
    delete = Delete(Kind.VERSION, v1.meta.name, v1.meta.uid, why="test")
    asyncio.run(reconciler.apply(fam, Decision(writes=[delete])))
    assert client.deleted == [(Kind.VERSION, "team-a", v1.meta.name, v1.meta.uid)]
    assert reconciler.expectations.wait_for(fam) > 0  # until the watch shows it gone
    gone = replace(fam, versions=tuple(v for v in fam.versions if v is not v1))
    assert reconciler.expectations.wait_for(gone) == 0


def test_the_applier_stops_at_a_refused_delete(world: FakeWorld) -> None:
    client = FakeClient(409)  # the uid precondition failed: another object has the name
    reconciler, fam = reconciler_for(world, client)
    with pytest.raises(ApiException):
        asyncio.run(reconciler.apply(fam, Decision(writes=[Delete(Kind.VERSION, "x", "u")])))


def test_the_family_is_decided_again_when_the_grace_is_over() -> None:
    w = FakeWorld()  # the default grace: 60 s
    w.add_workflow(WF, versionHistoryLimit=0)
    w.add_version(1)
    w.add_version(2, simple_graph("v2"))
    publish(w, 1)
    publish(w, 2)
    w.edit(Kind.VERSION, f"{WF}-v1", {"status": {"deactivatedAt": format_timestamp()}})

    async def reconcile(reconciler: FamilyReconciler, key: FamilyKey) -> bool:
        await reconciler.reconcile(key)
        scheduled = reconciler.queue.scheduled(key)
        await reconciler.queue.stop()
        return scheduled

    client = FakeClient()
    reconciler, fam = reconciler_for(w, client)
    assert asyncio.run(reconcile(reconciler, fam.key)) is True  # a timer is set for the family
    assert client.deleted == []

    # Pinned by a run (the index's view): no timer, the run's end is an event of its own.
    runs = (RunObj("run-1", 1, finished=False), RunObj("run-0", 2, finished=True))
    reconciler, fam = reconciler_for(w, client, runs)
    assert reconciler.indexes is not None
    assert reconciler.indexes.gather(fam.key).pinned_versions == frozenset({1})
    assert asyncio.run(reconcile(reconciler, fam.key)) is False
    assert client.deleted == []


def test_a_family_decide_cannot_handle_is_told_once_and_retried_with_backoff(
        world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """(issue 11.6) decide() is total by design; should it raise anyway, the user hears of
    it (a Warning Event on the Workflow, once per distinct error) and the family is
    retried with backoff rather than in a tight loop."""
    def broken(*_: Any) -> Any:
        raise ValueError("a case nobody thought of")

    monkeypatch.setattr(reconciler_module, "decide", broken)
    client = FakeClient()
    reconciler, fam = reconciler_for(world, client)
    for _ in range(3):
        with pytest.raises(Retry) as retry:
            asyncio.run(reconciler.reconcile(fam.key))
        assert retry.value.delay is None  # None: the queue's exponential backoff
    [event] = client.events
    assert (event.type, event.reason, event.name) == ("Warning", "ReconcileFailed", WF)
    assert "ValueError: a case nobody thought of" in event.message
