"""intent.choose_target as a table: one row per case of the publish state machine.

Each row gives the facts (what is wanted, what is live, what the candidate is) and
asserts where the live pointer goes, the lastPublish outcome (result, reason), the
phase a refused candidate gets, whether it is a repair, and what is recorded of a lost
plan. V1 is the version that serves, V2 the one asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from flowplane.compiler import PlanLimits, compile_graph
from flowplane.model.resources import PublishResult, VersionPhase
from flowplane.reconcile.intent import Intent, Outcome, choose_target, settled_outcome
from flowplane.reconcile.plans import LivePlan
from flowplane.reconcile.snapshot import VersionObj, version_from_body, workflow_from_body
from tests.unit.fakeworld import broken_graph, simple_graph

WF = "wf"
OK = compile_graph(simple_graph())
BROKEN = compile_graph(broken_graph())
TOO_BIG = compile_graph(simple_graph(), PlanLimits(max_nodes=1))


def _version(number: int, *, activated: bool = False) -> VersionObj:
    status: dict[str, Any] = {"phase": "Draft"}
    if activated:
        status = {"phase": "Inactive", "activatedAt": "2026-01-01T00:00:00Z"}
    return version_from_body({
        "metadata": {"name": f"{WF}-v{number}", "namespace": "ns", "uid": f"uid-{number}"},
        "spec": {"workflowRef": {"name": WF}, "version": number, "graph": simple_graph()},
        "status": status,
    })


V1 = _version(1)
V2 = _version(2)
V2_WAS_LIVE = _version(2, activated=True)
PLAN1 = LivePlan("wf-v1-plan", "sha256:1", 2, "webhook", simple_graph(), "t0")
PLAN2 = LivePlan("wf-v2-plan", "sha256:2", 2, "webhook", simple_graph(), "t0")
SETTLED = Outcome(1, PublishResult.SUCCEEDED, "Published", "v1 is live")


@dataclass(frozen=True)
class Row:
    id: str
    facts: dict[str, Any]
    target: VersionObj | None
    plan: LivePlan | None
    outcome: tuple[PublishResult, str] | None
    rejected: VersionPhase | None = None
    repair: bool = False
    lost_plan: str | None = None
    message: str | None = None


LIVE1 = {"live": V1, "live_plan": PLAN1}
ASK2 = {"wanted": 2, "candidate": V2, "candidate_result": OK, "candidate_new_plan": PLAN2}
TAMPERED = {**ASK2, "status_active": 2, "status_live": V2, "candidate_live_plan": PLAN2}

ROWS = [
    Row("archived, nothing wanted: nothing live, no outcome",
        {"archived": True, **LIVE1}, None, None, None),
    Row("archived, a version wanted: nothing live, rejected",
        {"archived": True, **LIVE1, **ASK2}, None, None,
        (PublishResult.REJECTED, "Archived"),
        message="the workflow is archived, so v2 is not published; "
                "remove spec.publishedVersion (nothing is live)"),
    Row("safety pause, deactivation asked: allowed",
        {"tripped": True, **LIVE1}, None, None, None),
    Row("safety pause, another version asked: live stays, rejected",
        {"tripped": True, **LIVE1, **ASK2}, V1, PLAN1,
        (PublishResult.REJECTED, "SafetyPaused")),
    Row("safety pause, the live version asked: live stays, nothing to say",
        {"tripped": True, **LIVE1, "wanted": 1, "candidate": V1}, V1, PLAN1, None),
    Row("nothing wanted: deactivate",
        {**LIVE1}, None, None, None),
    Row("wanted version does not exist: live stays, pending",
        {**LIVE1, "wanted": 7}, V1, PLAN1, (PublishResult.PENDING, "VersionNotFound"),
        message="waiting for a WorkflowVersion with spec.version 7 for workflow 'wf'"),
    Row("candidate's plan lost to an edit: rejected, Failed, loss recorded",
        {**LIVE1, **ASK2, "candidate_plan_lost": True, "lost_plan_message": "gone"},
        V1, PLAN1, (PublishResult.REJECTED, "LivePlanLost"),
        rejected=VersionPhase.FAILED, lost_plan="gone", message="gone"),
    Row("candidate is live: stays, settled outcome",
        {**LIVE1, "wanted": 1, "candidate": V1, "settled": SETTLED}, V1, PLAN1,
        (PublishResult.SUCCEEDED, "Published")),
    Row("candidate is live, lastPublish already says so: no outcome",
        {**LIVE1, "wanted": 1, "candidate": V1}, V1, PLAN1, None),
    Row("Service tampered with: pointed back, a repair",
        {**LIVE1, **TAMPERED}, V2, PLAN2, None, repair=True),
    Row("recorded live but its plan is lost: loss marked, published anew",
        {**LIVE1, **TAMPERED, "candidate_live_plan": None, "candidate_live_plan_lost": True},
        V2, PLAN2, (PublishResult.SUCCEEDED, "Published"), lost_plan=""),
    Row("recorded live by status only, nothing serving: a publish, not a repair",
        {**TAMPERED}, V2, PLAN2, (PublishResult.SUCCEEDED, "Published"),
        message="v2 is live"),
    Row("publish a new version",
        {**LIVE1, **ASK2}, V2, PLAN2, (PublishResult.SUCCEEDED, "Published"),
        message="v2 is live (was v1)"),
    Row("publish a version that was live before: a rollback",
        {**LIVE1, **ASK2, "candidate": V2_WAS_LIVE}, V2_WAS_LIVE, PLAN2,
        (PublishResult.SUCCEEDED, "RolledBack")),
    Row("candidate invalid: rejected, Invalid, live stays",
        {**LIVE1, **ASK2, "candidate_result": BROKEN, "candidate_new_plan": None}, V1, PLAN1,
        (PublishResult.REJECTED, "ValidationFailed"), rejected=VersionPhase.INVALID),
    Row("candidate over the plan limits: rejected, Failed, live stays",
        {**LIVE1, **ASK2, "candidate_result": TOO_BIG, "candidate_new_plan": None}, V1, PLAN1,
        (PublishResult.REJECTED, "CompileFailed"), rejected=VersionPhase.FAILED),
    Row("candidate compiles but no plan to run: rejected, Failed, nothing live",
        {**ASK2, "candidate_new_plan": None}, None, None,
        (PublishResult.REJECTED, "CompileFailed"), rejected=VersionPhase.FAILED,
        message="v2 was not published: no errors; nothing is live"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_choose_target(row: Row) -> None:
    facts: dict[str, Any] = {"workflow": WF, "archived": False, "tripped": False,
                             "wanted": None, "live": None, "live_plan": None,
                             "candidate": None, **row.facts}
    got = choose_target(Intent(**facts))
    assert got.version is row.target
    assert got.plan == row.plan
    assert (None if got.outcome is None else (got.outcome.result, got.outcome.reason)) == (
        row.outcome)
    if got.outcome is not None:
        assert got.outcome.version == facts["wanted"]
    if row.message is not None:
        assert got.outcome is not None and got.outcome.message == row.message
    assert got.rejected == row.rejected
    assert got.repair is row.repair
    assert got.lost_plan == row.lost_plan


def _workflow(status: dict[str, Any]) -> Any:
    return workflow_from_body({"metadata": {"name": WF, "namespace": "ns", "uid": "w"},
                               "spec": {"publishedVersion": 1}, "status": status})


@pytest.mark.parametrize(("wf_status", "version_status", "expected"), [
    # lastPublish says it already: nothing to record
    ({"activeVersion": 1, "lastPublish": {"version": 1, "result": "Succeeded",
                                          "reason": "Published", "time": "t"}},
     {"phase": "Active"}, None),
    # asked again for what stayed live
    ({"activeVersion": 1}, {"phase": "Active"}, ("Published", "v1 is live")),
    # a crash after the switch: the first publish of v1
    ({"activeVersion": 2}, {"phase": "Compiling"}, ("Published", "v1 is live (was v2)")),
    ({}, {"phase": "Compiling"}, ("Published", "v1 is live")),
    # v1 was live before: a rollback
    ({"activeVersion": 2}, {"phase": "Inactive", "activatedAt": "t", "deactivatedAt": "u"},
     ("RolledBack", "v1 is live (was v2)")),
    ({"activeVersion": 2}, {"phase": "Compiling", "activatedAt": "t"},
     ("RolledBack", "v1 is live (was v2)")),
])
def test_settled_outcome(wf_status: dict[str, Any], version_status: dict[str, Any],
                         expected: tuple[str, str] | None) -> None:
    live = version_from_body({
        "metadata": {"name": f"{WF}-v1", "namespace": "ns", "uid": "uid-1"},
        "spec": {"workflowRef": {"name": WF}, "version": 1, "graph": simple_graph()},
        "status": version_status,
    })
    got = settled_outcome(_workflow(wf_status), live)
    assert (None if got is None else (got.reason, got.message)) == expected
    if got is not None:
        assert (got.version, got.result) == (1, PublishResult.SUCCEEDED)
