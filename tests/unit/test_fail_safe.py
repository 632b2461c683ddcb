"""Fail-safe decisions: whatever the status or spec says, decide() never raises and never
fails open (issue 11: defects 1, 5, 9 and 10)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowplane.reconcile.conditions import safe_message, safe_reason
from flowplane.reconcile.writes import Kind
from tests.unit.fakeworld import FakeWorld, simple_graph

WF = "form-to-slack"
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def _live_world() -> FakeWorld:
    world = FakeWorld()
    world.add_workflow(WF, publishedVersion=1)
    world.add_version(1, simple_graph("v1"))
    world.converge()
    assert world.service()["spec"].get("selector")
    return world


def _valid_conditions(world: FakeWorld) -> None:
    for c in world.wf_status()["conditions"]:
        assert REASON.match(c["reason"]) and len(c["reason"]) <= 1024, c["reason"]
        assert len(c["message"]) <= 32768


# ---------------------------------------------------------------- defect 1: safety pause

def test_a_huge_garbage_safety_reason_still_unwires() -> None:
    world = _live_world()
    garbage = "".join(chr(33 + i % 90) for i in range(5000))
    world.edit(Kind.WORKFLOW, WF, {"status": {"safety": {
        "tripped": True, "reason": garbage, "message": garbage * 10}}})
    world.decide()  # raised ValueError (reason over 1,024 characters) before the fix
    world.converge()
    assert "selector" not in world.service()["spec"]
    status = world.wf_status()
    assert status["phase"] == "PausedSafety"
    paused = world.condition("SafetyPaused")
    assert paused["status"] == "True" and len(paused["reason"]) <= 1024
    assert len(paused["message"]) <= 1024
    _valid_conditions(world)


def test_safe_reason_and_message() -> None:
    assert safe_reason("RunRateExceeded") == "RunRateExceeded"
    assert safe_reason("9 bad reason!:") == "bad_reason_"
    assert safe_reason("", "SafetyTripped") == "SafetyTripped"
    assert safe_reason("!!!") == "Unknown"
    assert len(safe_reason("a" * 5000)) == 1024
    assert safe_message("x" * 10, 5) == "xxxx\u2026"
    assert safe_message("short") == "short"


_text = st.one_of(st.none(), st.text(max_size=3000), st.integers(), st.booleans(),
                  st.lists(st.text(max_size=5), max_size=3))
_safety: Any = st.one_of(
    st.none(), st.text(max_size=20), st.integers(),
    st.fixed_dictionaries({}, optional={
        "tripped": st.one_of(st.booleans(), st.none(), st.text(max_size=5)),
        "reason": _text, "message": _text, "trippedAt": _text, "resumedAt": _text,
        "lastResumeToken": _text,
    }),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(safety=_safety)
def test_any_status_safety_never_raises_and_a_trip_never_fails_open(safety: Any) -> None:
    world = _live_world()
    world.edit(Kind.WORKFLOW, WF, {"status": {"safety": safety}})
    # Not converge(): unparseable timestamps (e.g. resumedAt "3") can make every pass a
    # "fresh trip" again, a separate defect; this property is totality and failing closed.
    for _ in range(4):
        world.step()
    _valid_conditions(world)
    if isinstance(safety, dict) and safety.get("tripped") is True:
        assert "selector" not in world.service()["spec"]


# ---------------------------------------------------------------- defect 5: unreadable spec

def test_an_unreadable_spec_keeps_what_is_live_and_says_why() -> None:
    world = _live_world()
    world.edit(Kind.WORKFLOW, WF, {"spec": {"displayName": "x" * 300}})
    world.converge()
    # before the fix, the spec fell back to the defaults: nothing published, v1 deactivated
    assert world.actives() == [1]
    assert world.service()["spec"].get("selector")
    status = world.wf_status()
    assert status["activeVersion"] == 1 and status["phase"] == "Published"
    ready = world.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.displayName" in ready["message"] and "v1 stays live" in ready["message"]
    warnings = [e for e in world.events if e.reason == "InvalidSpec"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    world.converge()
    assert len([e for e in world.events if e.reason == "InvalidSpec"]) == 1
    assert not [e for e in world.events if e.reason == "Deactivated"]
    # fixed: back to normal
    world.edit(Kind.WORKFLOW, WF, {"spec": {"displayName": "ok"}})
    world.converge()
    assert world.condition("Ready")["reason"] == "Published"
    assert world.actives() == [1]


def test_an_unreadable_spec_of_a_suspended_workflow_stays_suspended() -> None:
    world = _live_world()
    world.edit(Kind.WORKFLOW, WF, {"spec": {"suspend": True}})
    world.converge()
    assert "selector" not in world.service()["spec"]
    world.edit(Kind.WORKFLOW, WF, {"spec": {"displayName": "x" * 300}})
    world.converge()
    assert "selector" not in world.service()["spec"]
    assert world.wf_status()["activeVersion"] == 1
    assert world.condition("Ready")["reason"] == "InvalidSpec"


# ---------------------------------------------------------------- defect 9: tenant limits

def test_a_namespace_without_limit_annotations_is_indexed_as_empty() -> None:
    """Kopf keeps the previous entry when an index function returns None: removing the
    last limit annotation must replace the tenant's limits with none."""
    from flowplane.operator.handlers import flowplane_namespace_limits

    limited = asyncio.run(flowplane_namespace_limits(
        name="team-a", annotations={"flowplane.dev/allowed-apps": "github", "other": "x"}))
    assert limited == {"team-a": {"flowplane.dev/allowed-apps": "github"}}
    assert asyncio.run(flowplane_namespace_limits(
        name="team-a", annotations={"other": "x"})) == {"team-a": {}}
    assert asyncio.run(flowplane_namespace_limits(name="team-a", annotations={})) == {
        "team-a": {}}


# ---------------------------------------------------------------- defect 10: version numbers

def test_version_numbers_are_bounded_in_the_models_and_the_crds() -> None:
    from pydantic import ValidationError

    from flowplane.model.crd import all_crds, render
    from flowplane.model.resources import VERSION_MAX, WorkflowSpec, WorkflowVersionSpec

    spec = {"workflowRef": {"name": "w"}, "graph": simple_graph()}
    assert WorkflowVersionSpec.model_validate({**spec, "version": VERSION_MAX})
    with pytest.raises(ValidationError):
        WorkflowVersionSpec.model_validate({**spec, "version": 2**63 - 1})
    with pytest.raises(ValidationError):
        WorkflowSpec.model_validate({"publishedVersion": 10**12})
    text = "\n".join(render(doc) for doc in all_crds().values())
    assert text.count(f"maximum: {VERSION_MAX}") >= 2


def test_an_edit_of_the_highest_version_is_refused_clearly_not_retried() -> None:
    from flowplane.model.resources import VERSION_MAX

    world = FakeWorld()
    world.add_workflow(WF, publishedVersion=VERSION_MAX)
    world.add_version(VERSION_MAX, simple_graph("last"))
    world.converge()
    assert world.actives() == [VERSION_MAX]
    edited = simple_graph("edited")
    world.edit(Kind.VERSION, f"{WF}-v{VERSION_MAX}", {"spec": {"graph": edited}})
    world.converge()  # before the fix: a fork to v1000000001, which the API server refuses
    assert world.numbers() == [VERSION_MAX]
    assert world.version(VERSION_MAX)["spec"]["graph"] == edited  # the edit is not lost
    assert world.actives() == [VERSION_MAX]
    assert world.service()["spec"].get("selector")
    ready = world.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "ForkRefused"
    assert f"version numbers end at {VERSION_MAX}" in ready["message"]
    world.converge()
    refused = [e for e in world.events if e.reason == "ForkRefused"]
    assert len(refused) == 1 and refused[0].type == "Warning"
    assert not world.decide().writes  # at rest: no retry loop
