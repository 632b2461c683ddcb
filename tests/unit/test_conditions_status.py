"""Each condition function of reconcile/status.py as a table: facts in, condition out.

Rows assert the status and reason, and the message (or the part of it users act on).
"""

from __future__ import annotations

from typing import Any

import pytest

from flowplane.model import reasons as r
from flowplane.model.resources import (
    GraphError,
    PlanRef,
    PublishResult,
    SafetyStatus,
    VersionPhase,
    WorkflowPhase,
)
from flowplane.reconcile.conditions import Desired
from flowplane.reconcile.intent import Outcome
from flowplane.reconcile.status import (
    MAX_STATUS_ERRORS,
    active_condition,
    capped_errors,
    compiled_condition,
    published_condition,
    ready_condition,
    safety_paused_condition,
    trigger_wired_condition,
    validated_condition,
    workflow_found_condition,
    workflow_phase,
)

E1 = GraphError(code="CycleDetected", message="a -> b -> a")
E2 = GraphError(code="TooManyNodes", message="3 nodes, at most 1")
DUP = GraphError(code=r.REASON_DUPLICATE_VERSION, message="version 1 already exists")
PLAN = PlanRef(configMap="wf-v1-plan", hash="sha256:aa", steps=3, compiledAt="t")
PENDING = Outcome(3, PublishResult.PENDING, r.REASON_VERSION_NOT_FOUND, "waiting for v3")
REJECTED = Outcome(2, PublishResult.REJECTED, r.REASON_COMPILE_FAILED, "v2 was not published")


def check(got: Desired, type_: str, status: bool, reason: str, message: str) -> None:
    assert (got.type, got.status, got.reason) == (type_, "True" if status else "False", reason)
    assert message in got.message


@pytest.mark.parametrize(("found", "status", "reason", "message"), [
    (True, True, r.REASON_WORKFLOW_FOUND, "workflow 'wf' exists"),
    (False, False, r.REASON_WORKFLOW_NOT_FOUND, "no Workflow 'wf' in namespace 'ns'"),
])
def test_workflow_found(found: bool, status: bool, reason: str, message: str) -> None:
    check(workflow_found_condition(found, "wf", "ns"), r.WORKFLOW_FOUND, status, reason,
          message)


@pytest.mark.parametrize(("errors", "family", "invalid", "nodes", "status", "reason", "message"), [
    ([], None, False, 1, True, r.REASON_VALID, "the graph is valid (1 node)"),
    ([], None, False, 3, True, r.REASON_VALID, "(3 nodes)"),
    ([DUP, E1], DUP, True, 2, False, r.REASON_DUPLICATE_VERSION, "DuplicateVersion: version 1"),
    ([E1], None, True, 2, False, r.REASON_GRAPH_INVALID, "CycleDetected: a -> b -> a"),
    ([E2], None, False, 3, False, r.REASON_PLAN_LIMIT_EXCEEDED, "TooManyNodes"),
    ([E1] * 5, None, True, 2, False, r.REASON_GRAPH_INVALID, "(+2 more)"),
])
def test_validated(errors: list[GraphError], family: GraphError | None, invalid: bool,
                   nodes: int, status: bool, reason: str, message: str) -> None:
    check(validated_condition(errors, family, invalid, nodes), r.VALIDATED, status, reason,
          message)


@pytest.mark.parametrize(("phase", "lost", "errors", "plan", "graph_hash", "status", "reason",
                          "message"), [
    (VersionPhase.FAILED, "the plan is gone", [], PLAN, "sha256:aa", False,
     r.REASON_LIVE_PLAN_LOST, "the plan is gone"),
    (VersionPhase.FAILED, None, [E2], None, "sha256:aa", False, r.REASON_COMPILE_FAILED,
     "TooManyNodes"),
    (VersionPhase.ACTIVE, None, [], PLAN, "sha256:aa", True, r.REASON_PLAN_READY,
     "plan wf-v1-plan (3 steps)"),
    (VersionPhase.DRAFT, "ignored unless Failed", [], PLAN, "sha256:aa", True,
     r.REASON_PLAN_READY, "plan wf-v1-plan"),
    (VersionPhase.DRAFT, None, [], PLAN, "sha256:bb", False, r.REASON_PLAN_OUTDATED,
     "the graph changed after plan wf-v1-plan was compiled"),
    (VersionPhase.DRAFT, None, [], None, "sha256:bb", False, r.REASON_NOT_COMPILED,
     "compiled when published"),
])
def test_compiled(phase: VersionPhase, lost: str | None, errors: list[GraphError],
                  plan: PlanRef | None, graph_hash: str, status: bool, reason: str,
                  message: str) -> None:
    check(compiled_condition(phase, lost, errors, plan, graph_hash), r.COMPILED, status,
          reason, message)


@pytest.mark.parametrize(("phase", "status", "reason", "message"), [
    (VersionPhase.ACTIVE, True, r.REASON_LIVE, "v4 receives the live events"),
    (VersionPhase.INACTIVE, False, r.REASON_RETIRED, "publish it to roll back"),
    (VersionPhase.DRAFT, False, r.REASON_NOT_LIVE, "only the active version is live"),
    (VersionPhase.COMPILING, False, r.REASON_NOT_LIVE, ""),
    (VersionPhase.FAILED, False, r.REASON_NOT_LIVE, ""),
])
def test_active(phase: VersionPhase, status: bool, reason: str, message: str) -> None:
    check(active_condition(phase, 4), r.ACTIVE, status, reason, message)


PUBLISHED_BASE: dict[str, Any] = {"live": None, "live_name": None, "archived": False,
                                  "wanted": None, "candidate_found": False, "tripped": False,
                                  "outcome": None}


@pytest.mark.parametrize(("facts", "status", "reason", "message"), [
    ({"live": 2, "live_name": "wf-v2", "archived": True}, True, r.REASON_VERSION_ACTIVE,
     "v2 (wf-v2) is the active version"),
    ({"archived": True, "wanted": 3}, False, r.REASON_ARCHIVED, "the workflow is archived"),
    ({"wanted": 3, "outcome": PENDING}, False, r.REASON_VERSION_NOT_FOUND, "waiting for v3"),
    ({"wanted": 3}, False, r.REASON_VERSION_NOT_FOUND, "version not found"),
    ({"wanted": 3, "tripped": True}, False, r.REASON_NO_ACTIVE_VERSION, "no version is live"),
    ({"wanted": 3, "candidate_found": True}, False, r.REASON_NO_ACTIVE_VERSION, ""),
    ({}, False, r.REASON_NO_ACTIVE_VERSION, "set spec.publishedVersion to publish one"),
])
def test_published(facts: dict[str, Any], status: bool, reason: str, message: str) -> None:
    check(published_condition(**{**PUBLISHED_BASE, **facts}), r.PUBLISHED, status, reason,
          message)


WIRED_BASE: dict[str, Any] = {"workflow": "wf", "blocker": None, "service_conflict": False,
                              "slice_conflict": False, "wired": False, "live": None,
                              "archived": False, "tripped": False, "suspended": False}


@pytest.mark.parametrize(("facts", "status", "reason", "message"), [
    ({"blocker": ("InvalidName", "bad name"), "service_conflict": True, "wired": True},
     False, "InvalidName", "bad name"),
    ({"service_conflict": True, "slice_conflict": True}, False, r.REASON_SERVICE_CONFLICT,
     "Service wf-trigger exists and is not owned by this workflow"),
    ({"slice_conflict": True, "wired": True}, False, r.REASON_ENDPOINT_SLICE_CONFLICT,
     "EndpointSlice wf-trigger-runtime exists"),
    ({"wired": True, "live": 2}, True, r.REASON_WIRED, "wf-trigger routes to v2"),
    ({"archived": True, "tripped": True}, False, r.REASON_ARCHIVED,
     "wf-trigger has no selector: the workflow is archived"),
    ({"tripped": True, "suspended": True}, False, r.REASON_SAFETY_PAUSED,
     "unwired by a safety pause"),
    ({"suspended": True}, False, r.REASON_SUSPENDED, "unwired because spec.suspend is true"),
    ({}, False, r.REASON_NO_ACTIVE_VERSION, "wf-trigger has no selector: no version is live"),
])
def test_trigger_wired(facts: dict[str, Any], status: bool, reason: str, message: str) -> None:
    check(trigger_wired_condition(**{**WIRED_BASE, **facts}), r.TRIGGER_WIRED, status, reason,
          message)


@pytest.mark.parametrize(("tripped", "safety", "status", "reason", "message"), [
    (True, SafetyStatus(tripped=True, reason="RunRateExceeded", message="too many runs"),
     True, "RunRateExceeded", "too many runs"),
    (True, SafetyStatus(tripped=True), True, r.REASON_SAFETY_TRIPPED, "a safety check tripped"),
    (True, SafetyStatus(tripped=True, reason="not a reason!"), True, "not_a_reason_", ""),
    (True, None, False, r.REASON_NOT_TRIPPED, "no safety check tripped"),
    (False, SafetyStatus(resumedAt="t1"), False, r.REASON_RESUMED, "resumed at t1"),
    (False, SafetyStatus(), False, r.REASON_NOT_TRIPPED, "no safety check tripped"),
    (False, None, False, r.REASON_NOT_TRIPPED, ""),
])
def test_safety_paused(tripped: bool, safety: SafetyStatus | None, status: bool, reason: str,
                       message: str) -> None:
    check(safety_paused_condition(tripped, safety), r.SAFETY_PAUSED, status, reason, message)


READY_BASE: dict[str, Any] = {"blocker": None, "spec_error": None, "fork_refused": None,
                              "service_conflict": False, "slice_conflict": False,
                              "trigger_message": "the trigger says", "tripped": False,
                              "archived": False, "suspended": False, "wanted": None,
                              "live": None, "outcome": None}


@pytest.mark.parametrize(("facts", "status", "reason", "message"), [
    ({"blocker": ("InvalidName", "bad name"), "spec_error": "x"}, False, "InvalidName",
     "bad name"),
    ({"spec_error": "spec.suspend: not a bool", "live": 2, "fork_refused": "no"}, False,
     r.REASON_INVALID_SPEC, "the spec cannot be read (spec.suspend: not a bool); "
     "v2 stays live as it is until it is fixed"),
    ({"spec_error": "bad"}, False, r.REASON_INVALID_SPEC, "nothing is live until it is fixed"),
    ({"fork_refused": "numbers end", "service_conflict": True}, False, r.REASON_FORK_REFUSED,
     "numbers end"),
    ({"service_conflict": True, "slice_conflict": True}, False, r.REASON_SERVICE_CONFLICT,
     "the trigger says"),
    ({"slice_conflict": True, "tripped": True}, False, r.REASON_ENDPOINT_SLICE_CONFLICT,
     "the trigger says"),
    ({"tripped": True, "archived": True}, False, r.REASON_SAFETY_PAUSED,
     "annotate flowplane.dev/resume-from-safety=<token> to resume"),
    ({"archived": True, "wanted": 2}, True, r.REASON_ARCHIVED,
     "spec.publishedVersion 2 is ignored while archived"),
    ({"archived": True}, True, r.REASON_ARCHIVED, "archived; nothing is live"),
    ({}, True, r.REASON_NOTHING_PUBLISHED, "no version is wanted live, and none is"),
    ({"wanted": 2, "live": 2, "suspended": True}, True, r.REASON_SUSPENDED,
     "v2 is active; trigger unwired while suspended"),
    ({"wanted": 2, "live": 2}, True, r.REASON_PUBLISHED, "v2 is live"),
    ({"wanted": 2, "live": 1, "outcome": REJECTED}, False, r.REASON_COMPILE_FAILED,
     "v2 was not published"),
    ({"wanted": 2, "live": 1}, False, r.REASON_PUBLISHING, "publishing v2"),
])
def test_ready(facts: dict[str, Any], status: bool, reason: str, message: str) -> None:
    check(ready_condition(**{**READY_BASE, **facts}), r.READY, status, reason, message)


def test_ready_cuts_an_unreadable_spec_to_its_bound() -> None:
    got = ready_condition(**{**READY_BASE, "spec_error": "x" * 10_000})
    assert len(got.message) == 4096 and got.message.endswith("\u2026")


@pytest.mark.parametrize(("facts", "phase"), [
    ({"archived": True, "tripped": True, "suspended": True, "live": True},
     WorkflowPhase.ARCHIVED),
    ({"tripped": True, "suspended": True, "live": True}, WorkflowPhase.PAUSED_SAFETY),
    ({"suspended": True, "live": True}, WorkflowPhase.DISABLED),
    ({"live": True}, WorkflowPhase.PUBLISHED),
    ({}, WorkflowPhase.DRAFT),
])
def test_workflow_phase(facts: dict[str, bool], phase: WorkflowPhase) -> None:
    base = {"archived": False, "tripped": False, "suspended": False, "live": False}
    assert workflow_phase(**{**base, **facts}) == phase


@pytest.mark.parametrize(("count", "listed", "last"), [
    (0, 0, None),
    (MAX_STATUS_ERRORS, MAX_STATUS_ERRORS, "CycleDetected"),
    (MAX_STATUS_ERRORS + 1, MAX_STATUS_ERRORS, "2 more errors are not listed"),
    (500, MAX_STATUS_ERRORS, "451 more errors are not listed"),
])
def test_capped_errors(count: int, listed: int, last: str | None) -> None:
    got = capped_errors([E1] * count)
    assert len(got) == listed
    if last is not None:
        assert last in (got[-1].code, got[-1].message)
