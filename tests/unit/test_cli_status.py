"""What a workflow's status means for the plugin: blockers, rollback rules, wait outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from flowplane.cli.status import (
    OperationError,
    Outcome,
    blocker,
    check_rollback,
    describe_ready,
    draft_name,
    find_version,
    new_draft_body,
    next_version_number,
    publish_outcome,
    require_version,
    resume_outcome,
)


def wf(*, generation: int = 3, ready: tuple[str, str, int] | None = ("True", "Published", 3),
       active: int | None = 1, spec: dict[str, Any] | None = None,
       safety: dict[str, Any] | None = None, phase: str = "Published",
       observed: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": []}
    if observed is not None:
        status["observedGeneration"] = observed
    if active is not None:
        status["activeVersion"] = active
    if ready is not None:
        status["conditions"].append({"type": "Ready", "status": ready[0], "reason": ready[1],
                                     "message": f"msg {ready[1]}",
                                     "observedGeneration": ready[2]})
    if safety is not None:
        status["safety"] = safety
    return {"metadata": {"name": "wf", "generation": generation}, "spec": spec or {},
            "status": status}


def version(n: int, phase: str | None = "Draft", name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name or f"wf-v{n}"},
                            "spec": {"version": n, "workflowRef": {"name": "wf"},
                                     "graph": {"nodes": [{"id": f"n{n}"}], "edges": []}}}
    if phase is not None:
        body["status"] = {"phase": phase}
    return body


def test_blockers_archive_first_then_safety() -> None:
    assert blocker(wf(), "publishing") is None
    paused = wf(safety={"tripped": True, "reason": "RunRateExceeded"}, phase="PausedSafety")
    assert blocker(paused, "publishing") == (
        "publishing is blocked by a safety pause; run `kubectl flowplane resume wf`")
    assert "deactivating is blocked" in (blocker(paused, "deactivating") or "")
    # the phase alone is enough (status.safety may lag behind in a partial status)
    assert blocker(wf(phase="PausedSafety"), "publishing") is not None
    assert blocker(wf(safety={"tripped": False}), "publishing") is None
    archived = wf(spec={"archived": True}, safety={"tripped": True})
    assert "archived" in (blocker(archived, "publishing") or "")


def test_versions_are_found_by_number() -> None:
    versions = [version(1), version(3), version(2, name="other-name")]
    assert find_version(versions, 2) == versions[2]
    assert find_version(versions, 9) is None
    with pytest.raises(OperationError, match=r"workflow wf has no version 9 \(versions: v1, v2, "
                                             r"v3\)"):
        require_version(versions, 9, "wf")
    with pytest.raises(OperationError, match=r"\(versions: none\)"):
        require_version([], 1, "wf")
    assert next_version_number(versions) == 4
    assert next_version_number([]) == 1


def test_rollback_only_to_an_inactive_version() -> None:
    check_rollback(wf(active=2), version(1, "Inactive"))
    with pytest.raises(OperationError, match="already live"):
        check_rollback(wf(active=1), version(1, "Active"))
    with pytest.raises(OperationError, match=r"it is Draft, and rollback only goes back .* "
                                             r"`kubectl flowplane publish wf 3`"):
        check_rollback(wf(active=1), version(3, "Draft"))
    with pytest.raises(OperationError, match="it is Invalid"):
        check_rollback(wf(active=1), version(3, "Invalid"))
    with pytest.raises(OperationError, match="it is Draft"):
        check_rollback(wf(active=1), version(3, None))


def test_new_draft_body_copies_the_graph_and_names_the_source() -> None:
    body = new_draft_body("wf", "team-a", 5, "wf-v5", version(3))
    assert body["metadata"] == {"name": "wf-v5", "namespace": "team-a",
                                "labels": {"flowplane.dev/workflow": "wf"}}
    assert body["spec"] == {"workflowRef": {"name": "wf"}, "version": 5,
                            "label": "Draft from v3",
                            "graph": {"nodes": [{"id": "n3"}], "edges": []}}
    assert draft_name("wf", 5, set()) == "wf-v5"
    assert draft_name("wf", 5, {"wf-v5", "wf-v5-2"}) == "wf-v5-3"


def test_publish_outcome_waits_for_the_new_generation() -> None:
    # Ready=True from before the patch does not count
    assert publish_outcome(wf(generation=4, ready=("True", "Published", 3)), 1, 4) is None
    # the operator acted on the generation but the status generation still lags
    assert publish_outcome(wf(generation=4, ready=("True", "Published", 4), observed=3),
                           1, 4) is None
    assert publish_outcome(wf(generation=4, ready=("True", "Published", 4), active=2),
                           2, 4) == Outcome(True, "Published", "msg Published")
    # Ready, but not with the version we asked for (someone published another): keep waiting
    assert publish_outcome(wf(generation=4, ready=("True", "Published", 4), active=1),
                           2, 4) is None
    assert publish_outcome(wf(ready=None), 1, 3) is None


@pytest.mark.parametrize("reason", ["Publishing", "VersionNotFound", ""])
def test_publish_outcome_pending_reasons(reason: str) -> None:
    assert publish_outcome(wf(ready=("False", reason, 3)), 2, 3) is None


@pytest.mark.parametrize("reason", ["ValidationFailed", "CompileFailed", "SafetyPaused",
                                    "PublishRejected", "ServiceConflict"])
def test_publish_outcome_rejections(reason: str) -> None:
    assert publish_outcome(wf(ready=("False", reason, 3)), 2, 3) == Outcome(
        False, reason, f"msg {reason}")


def test_deactivation_outcome() -> None:
    assert publish_outcome(wf(ready=("True", "NothingPublished", 3), active=None), None, 3) \
        == Outcome(True, "NothingPublished", "msg NothingPublished")
    assert publish_outcome(wf(ready=("True", "Published", 3), active=1), None, 3) is None


def test_resume_outcome_needs_the_token_recorded_and_the_trip_cleared() -> None:
    paused = {"tripped": True, "lastResumeToken": "old"}
    assert resume_outcome(wf(safety=paused, ready=("False", "SafetyPaused", 3)), "t1") is None
    recorded_but_tripped = {"tripped": True, "lastResumeToken": "t1"}
    assert resume_outcome(wf(safety=recorded_but_tripped), "t1") is None
    done = {"tripped": False, "lastResumeToken": "t1"}
    assert resume_outcome(wf(safety=done), "t1") == Outcome(True, "Published", "msg Published")
    assert resume_outcome(wf(safety=done, ready=("False", "Publishing", 3)), "t1") is None
    assert resume_outcome(wf(safety=done, ready=("False", "ValidationFailed", 3)), "t1") == \
        Outcome(False, "ValidationFailed", "msg ValidationFailed")


def test_describe_ready() -> None:
    assert describe_ready(wf()) == "Ready=True Published: msg Published"
    assert "is the operator running?" in describe_ready(wf(ready=None))
