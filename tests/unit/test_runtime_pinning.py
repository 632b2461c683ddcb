"""pinning: the trigger Service's annotations are the only source of a run's pin."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowplane.model.resources import (
    ANN_ACTIVE_VERSION,
    ANN_PLAN,
    ANN_PLAN_HASH,
    ANN_TRIGGER_TYPE,
    API_VERSION,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_VERSION,
    LABEL_WORKFLOW,
)
from flowplane.model.run import LABEL_TRIGGER, TriggerKind, WorkflowRunSpec
from flowplane.runtime.pinning import (
    MAX_VERSION,
    Pin,
    pin_from_service,
    random_run_name,
    replay_run_name,
    run_body,
    schedule_run_name,
    synthetic_event,
    workflow_of_service,
)

HASH = "sha256:" + "ab" * 32
LIVE = {ANN_ACTIVE_VERSION: "3", ANN_PLAN: "form-to-slack-v3-plan", ANN_PLAN_HASH: HASH,
        ANN_TRIGGER_TYPE: "webhook"}
PIN = Pin(workflow="form-to-slack", version=3, plan="form-to-slack-v3-plan", plan_hash=HASH,
          trigger_type="webhook")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name) is not None


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("form-to-slack-trigger", "form-to-slack"),
        ("a-trigger", "a"),
        ("a-trigger-trigger", "a-trigger"),
        ("-trigger", None),
        ("trigger", None),
        ("form-to-slack", None),
        ("form-to-slack-trigger-x", None),
        ("", None),
    ],
    ids=lambda v: repr(v),
)
def test_workflow_of_service(service: str, expected: str | None) -> None:
    assert workflow_of_service(service) == expected


def _with(**changes: Any) -> dict[str, Any]:
    ann: dict[str, Any] = dict(LIVE)
    for key, value in changes.items():
        name = {"version": ANN_ACTIVE_VERSION, "plan": ANN_PLAN, "hash": ANN_PLAN_HASH,
                "type": ANN_TRIGGER_TYPE}[key]
        if value is None:
            ann.pop(name, None)
        else:
            ann[name] = value
    return ann


def test_pin_from_service_reads_every_field() -> None:
    assert pin_from_service("form-to-slack-trigger", LIVE) == PIN


@pytest.mark.parametrize(
    ("annotations", "expected_version"),
    [
        (_with(version="1"), 1),
        (_with(version=str(MAX_VERSION)), MAX_VERSION),
        (_with(version="007"), 7),
    ],
    ids=["one", "max", "leading-zeros"],
)
def test_pin_from_service_versions(annotations: dict[str, str], expected_version: int) -> None:
    pin = pin_from_service("form-to-slack-trigger", annotations)
    assert pin is not None and pin.version == expected_version


def test_pin_without_trigger_type_is_still_a_pin() -> None:
    pin = pin_from_service("form-to-slack-trigger", _with(type=None))
    assert pin == Pin("form-to-slack", 3, "form-to-slack-v3-plan", HASH, "")


@pytest.mark.parametrize(
    ("service", "annotations"),
    [
        ("form-to-slack-trigger", None),
        ("form-to-slack-trigger", {}),
        ("form-to-slack-trigger", _with(version=None)),
        ("form-to-slack-trigger", _with(version="")),
        ("form-to-slack-trigger", _with(version="0")),
        ("form-to-slack-trigger", _with(version="-1")),
        ("form-to-slack-trigger", _with(version="+3")),
        ("form-to-slack-trigger", _with(version=" 3")),
        ("form-to-slack-trigger", _with(version="3.0")),
        ("form-to-slack-trigger", _with(version="v3")),
        ("form-to-slack-trigger", _with(version="1e3")),
        ("form-to-slack-trigger", _with(version="0x10")),
        ("form-to-slack-trigger", _with(version=str(MAX_VERSION + 1))),
        ("form-to-slack-trigger", _with(version="9" * 40)),
        ("form-to-slack-trigger", _with(plan=None)),
        ("form-to-slack-trigger", _with(plan="")),
        ("form-to-slack-trigger", _with(hash=None)),
        ("form-to-slack-trigger", _with(hash="")),
        ("form-to-slack", LIVE),
        ("-trigger", LIVE),
    ],
    ids=["no-annotations", "empty", "no-version", "blank-version", "zero", "negative", "plus",
         "space", "float", "prefixed", "exponent", "hex", "over-max", "huge", "no-plan",
         "blank-plan", "no-hash", "blank-hash", "not-a-trigger-service", "no-workflow-name"],
)
def test_pin_from_service_nothing_live(service: str, annotations: Any) -> None:
    assert pin_from_service(service, annotations) is None


@pytest.mark.parametrize("version", ["³", "9" * 5000], ids=["superscript", "5000-digits"])
def test_pin_from_service_never_raises_on_garbage_versions(version: str) -> None:
    assert pin_from_service("form-to-slack-trigger", _with(version=version)) is None


# ------------------------------------------------------------------ run names

TICK = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_schedule_run_name_is_deterministic_per_tick() -> None:
    assert schedule_run_name("wf", TICK) == schedule_run_name("wf", TICK)
    assert schedule_run_name("wf", TICK) == schedule_run_name("wf", TICK + timedelta(
        microseconds=999_999))
    assert schedule_run_name("wf", TICK) != schedule_run_name("wf", TICK + timedelta(minutes=5))
    assert schedule_run_name("wf", TICK) != schedule_run_name("other", TICK)
    # the same instant in another zone is the same tick
    assert schedule_run_name("wf", TICK) == schedule_run_name(
        "wf", TICK.astimezone(ZoneInfo("Europe/Berlin")))


@pytest.mark.parametrize(
    "workflow", ["a", "form-to-slack", "w" * 55, "a-1-b"], ids=["short", "typical", "max-55", "x"])
def test_schedule_run_names_are_valid_object_names(workflow: str) -> None:
    for tick in (TICK, datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                 datetime(1970, 1, 1, tzinfo=UTC)):
        name = schedule_run_name(workflow, tick)
        assert is_dns_subdomain(name), name
        assert name.startswith(workflow + "-")


def test_replay_run_name_is_deterministic_per_token() -> None:
    assert replay_run_name("wf-r7x2k", "t1") == replay_run_name("wf-r7x2k", "t1")
    assert replay_run_name("wf-r7x2k", "t1") != replay_run_name("wf-r7x2k", "t2")
    assert replay_run_name("wf-r7x2k", "t1") != replay_run_name("wf-r9q1z", "t1")
    assert replay_run_name("wf-r7x2k", "t1").startswith("wf-r7x2k-replay-")


@pytest.mark.parametrize(
    ("source", "token"),
    [
        ("wf-r7x2k", "t1"),
        ("wf-r7x2k", ""),
        ("wf-r7x2k", "\udcff surrogate and ünïcode " * 100),
        ("a" * 253, "t"),
        ("a" * 229 + "-" + "b" * 23, "t"),
        ("wf.with.dots-r1", "t"),
    ],
    ids=["typical", "empty-token", "odd-token", "max-length-source", "dash-at-cut", "dots"],
)
def test_replay_run_names_are_valid_object_names(source: str, token: str) -> None:
    name = replay_run_name(source, token)
    assert is_dns_subdomain(name), name
    assert replay_run_name(source, token + "x") != name


def test_long_sources_differing_after_the_cut_still_get_distinct_names_per_token() -> None:
    a, b = "a" * 240 + "x", "a" * 240 + "y"
    # the cut loses the difference; the token still separates replays
    assert replay_run_name(a, "t1") != replay_run_name(a, "t2")
    assert replay_run_name(b, "t1") != replay_run_name(b, "t2")


def test_replay_run_name_cut_on_a_dot() -> None:
    assert is_dns_subdomain(replay_run_name("a" * 229 + "." + "b" * 23, "t"))


def test_random_run_names() -> None:
    names = {random_run_name("wf") for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"wf-[a-z0-9]{8}", n) for n in names)


# ------------------------------------------------------------------ run_body

EVENT = {"method": "POST", "path": "/submit", "query": {"a": "1"},
         "headers": {"content-type": "application/json"}, "body": {"email": "a@b.c"},
         "receivedAt": "2026-12-02T10:00:00Z"}


@pytest.mark.parametrize(
    ("trigger", "uid", "replay_of"),
    [
        (TriggerKind.WEBHOOK, "uid-1", None),
        (TriggerKind.SCHEDULE, "uid-1", None),
        (TriggerKind.MANUAL, None, None),
        (TriggerKind.REPLAY, "uid-1", "form-to-slack-r7x2k"),
    ],
    ids=["webhook", "schedule", "manual-without-owner", "replay"],
)
def test_run_body(trigger: TriggerKind, uid: str | None, replay_of: str | None) -> None:
    body = run_body(name="form-to-slack-abc", pin=PIN, trigger=trigger, event=EVENT,
                    workflow_uid=uid, replay_of=replay_of)
    assert body["apiVersion"] == API_VERSION and body["kind"] == "WorkflowRun"
    meta = body["metadata"]
    assert meta["name"] == "form-to-slack-abc"
    assert meta["labels"] == {LABEL_WORKFLOW: "form-to-slack", LABEL_VERSION: "3",
                              LABEL_TRIGGER: trigger.value, LABEL_COMPONENT: "run",
                              LABEL_MANAGED_BY: "flowplane"}
    if uid:
        assert meta["ownerReferences"] == [{
            "apiVersion": API_VERSION, "kind": "Workflow", "name": "form-to-slack",
            "uid": uid, "blockOwnerDeletion": False}]
    else:
        assert "ownerReferences" not in meta
    spec = WorkflowRunSpec.model_validate(body["spec"])
    assert spec.workflowRef.name == "form-to-slack"
    assert spec.version == 3
    assert (spec.plan.configMap, spec.plan.hash) == ("form-to-slack-v3-plan", HASH)
    assert spec.trigger.type == trigger
    assert spec.event.body == {"email": "a@b.c"}
    assert spec.event.headers == {"content-type": "application/json"}
    assert spec.replayOf == replay_of
    assert ("replayOf" in body["spec"]) == (replay_of is not None)
    assert "status" not in body


def test_run_body_copies_the_event() -> None:
    event = dict(EVENT)
    body = run_body(name="r", pin=PIN, trigger=TriggerKind.WEBHOOK, event=event,
                    workflow_uid=None)
    event["path"] = "/changed"
    assert body["spec"]["event"]["path"] == "/submit"


def test_synthetic_event_validates() -> None:
    event = synthetic_event(body={"x": 1}, received_at="2026-12-02T10:00:00Z")
    body = run_body(name="r", pin=PIN, trigger=TriggerKind.MANUAL, event=event,
                    workflow_uid=None)
    spec = WorkflowRunSpec.model_validate(body["spec"])
    assert (spec.event.method, spec.event.path, spec.event.body) == ("POST", "/", {"x": 1})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", synthetic_event()["receivedAt"])
