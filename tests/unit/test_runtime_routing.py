"""routing: which answer an event gets (RUNTIME.md's "Receiving events" table)."""

from __future__ import annotations

from typing import Any

import pytest

from flowplane.runtime.executor import PlanGraph, plan_graph
from flowplane.runtime.pinning import Pin
from flowplane.runtime.routing import (
    BODY_TOO_LARGE,
    METHOD_NOT_ALLOWED,
    NO_SUCH_PATH,
    NOT_LIVE,
    PLAN_UNAVAILABLE,
    Accept,
    Refusal,
    decide,
    event_headers,
    parse_host,
)
from tests.unit.runtime_plans import action, graph, plan_data, schedule, webhook

WF = "form-to-slack"
SVC = f"{WF}-trigger"
HOST = f"{SVC}.team-a.svc"
LIMIT = 1024 * 1024


# ------------------------------------------------------------------ parse_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("form-to-slack-trigger.team-a", ("form-to-slack-trigger", "team-a")),
        ("form-to-slack-trigger.team-a.svc", ("form-to-slack-trigger", "team-a")),
        ("form-to-slack-trigger.team-a.svc.cluster.local", ("form-to-slack-trigger", "team-a")),
        ("form-to-slack-trigger.team-a:8080", ("form-to-slack-trigger", "team-a")),
        ("form-to-slack-trigger.team-a.svc:80", ("form-to-slack-trigger", "team-a")),
        ("svc.ns.svc.cluster.local:8080", ("svc", "ns")),
        ("Form-To-Slack-Trigger.TEAM-A.SVC", ("form-to-slack-trigger", "team-a")),
        ("svc.ns.svc.cluster.local.", ("svc", "ns")),
        ("svc.ns.", ("svc", "ns")),
        ("  svc.ns  ", ("svc", "ns")),
        (None, None),
        ("", None),
        ("localhost", None),
        ("localhost:8080", None),
        ("127.0.0.1:8080", None),
        ("[::1]:8080", None),
        ("[::1]", None),
        ("::1", None),
        ("[fe80::1%25eth0]:8080", None),
        ("svc", None),
        ("svc.svc", None),
        ("svc.svc.cluster.local", None),
        ("a.b.c", None),
        ("svc.ns.cluster.local", None),
        ("svc..ns", None),
        (".ns", None),
        ("svc.", None),
        (".", None),
        (":8080", None),
    ],
    ids=lambda v: repr(v),
)
def test_parse_host(host: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_host(host) == expected


@pytest.mark.parametrize("host", ["svc.ns.:8080", "svc.ns.svc.cluster.local.:8080"])
def test_parse_host_trailing_dot_with_port(host: str) -> None:
    assert parse_host(host) == ("svc", "ns")


@pytest.mark.parametrize("host", ["x.y:1:2", "svc.ns/x", "s v.ns", "svc.ns:http", "svc.n_s"])
def test_parse_host_refuses_non_dns_names(host: str) -> None:
    assert parse_host(host) is None


# ------------------------------------------------------------------ decide


def _plan(trigger: dict[str, Any]) -> PlanGraph:
    plan = plan_graph(f"{WF}-v3-plan", plan_data(graph([trigger, action("notify")],
                                                       [(trigger["id"], "notify")])))
    assert plan is not None
    return plan


WEBHOOK = _plan(webhook("form", "/submit", "POST"))
NO_METHOD = _plan(webhook("form", "/submit", None))
LOWER_GET = _plan(webhook("form", "/hooks/in/", "get"))
SCHEDULE = _plan(schedule("tick"))


def _pin(plan: PlanGraph, trigger_type: str = "webhook") -> Pin:
    return Pin(workflow=WF, version=3, plan=plan.name, plan_hash=plan.hash,
               trigger_type=trigger_type)


SERVICE = {"metadata": {"name": SVC, "namespace": "team-a"}}
_ABSENT = object()


def _decide(host: str | None = HOST, method: str = "POST", path: str = "/submit",
            service: Any = SERVICE, pin: Any = _ABSENT, plan: Any = WEBHOOK,
            content_length: int | None = 10, max_body_bytes: int = LIMIT) -> Refusal | Accept:
    if pin is _ABSENT:
        pin = _pin(plan if plan is not None else WEBHOOK)
    return decide(host, method, path, service, pin, plan, content_length, max_body_bytes)


@pytest.mark.parametrize(
    ("kwargs", "status", "error", "headers"),
    [
        ({"host": "localhost:8080"}, 404, NOT_LIVE, {}),
        ({"host": None}, 404, NOT_LIVE, {}),
        ({"service": None}, 404, NOT_LIVE, {}),
        ({"pin": None}, 404, NOT_LIVE, {}),
        ({"plan": None}, 503, PLAN_UNAVAILABLE, {"Retry-After": "2"}),
        ({"plan": SCHEDULE, "pin": _pin(SCHEDULE, "schedule")}, 404, NO_SUCH_PATH, {}),
        ({"path": "/other"}, 404, NO_SUCH_PATH, {}),
        ({"path": "/"}, 404, NO_SUCH_PATH, {}),
        ({"path": "/Submit"}, 404, NO_SUCH_PATH, {}),
        ({"path": "/submit/more"}, 404, NO_SUCH_PATH, {}),
        ({"method": "GET"}, 405, METHOD_NOT_ALLOWED, {"Allow": "POST"}),
        ({"method": "PUT", "plan": NO_METHOD}, 405, METHOD_NOT_ALLOWED, {"Allow": "POST"}),
        ({"method": "POST", "path": "/hooks/in", "plan": LOWER_GET}, 405, METHOD_NOT_ALLOWED,
         {"Allow": "GET"}),
        ({"content_length": LIMIT + 1}, 413, BODY_TOO_LARGE, {}),
        ({"content_length": 101, "max_body_bytes": 100}, 413, BODY_TOO_LARGE, {}),
        # the checks come in the order a user debugs in
        ({"service": None, "path": "/other", "method": "GET"}, 404, NOT_LIVE, {}),
        ({"path": "/other", "method": "GET", "content_length": LIMIT * 2}, 404, NO_SUCH_PATH, {}),
        ({"method": "GET", "content_length": LIMIT * 2}, 405, METHOD_NOT_ALLOWED,
         {"Allow": "POST"}),
    ],
    ids=[
        "host-names-no-service", "no-host", "no-such-service", "no-live-version",
        "plan-not-readable-yet", "schedule-trigger-takes-no-http", "other-path", "root-path",
        "paths-are-case-sensitive", "longer-path", "wrong-method", "default-method-is-post",
        "configured-method-is-uppercased", "body-over-limit", "body-over-custom-limit",
        "not-live-before-path", "path-before-method-and-size", "method-before-size",
    ],
)
def test_decide_refusals(kwargs: dict[str, Any], status: int, error: str,
                         headers: dict[str, str]) -> None:
    answer = _decide(**kwargs)
    assert isinstance(answer, Refusal)
    assert (answer.status, answer.error) == (status, error)
    assert dict(answer.headers) == headers
    assert answer.body() == {"error": error, "message": answer.message}
    assert answer.message


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"host": f"{SVC}.team-a"},
        {"host": f"{SVC}.team-a.svc.cluster.local:8080"},
        {"path": "/submit/"},
        {"path": "/submit//"},
        {"method": "post"},
        {"content_length": None},
        {"content_length": LIMIT},
        {"content_length": 0},
        {"method": "POST", "plan": NO_METHOD},
        {"method": "get", "path": "/hooks/in", "plan": LOWER_GET},
        {"method": "GET", "path": "/hooks/in/", "plan": LOWER_GET},
    ],
    ids=["exact", "svc.ns", "fqdn-with-port", "trailing-slash", "two-trailing-slashes",
         "lowercase-method", "no-content-length", "exactly-the-limit", "empty-body",
         "default-post", "lowercase-get", "configured-trailing-slash"],
)
def test_decide_accepts(kwargs: dict[str, Any]) -> None:
    plan = kwargs.get("plan", WEBHOOK)
    answer = _decide(**kwargs)
    assert isinstance(answer, Accept), answer
    assert answer.plan is plan
    assert answer.pin == _pin(plan)


def test_decide_not_live_messages_name_the_target() -> None:
    no_service = _decide(service=None)
    no_pin = _decide(pin=None)
    assert isinstance(no_service, Refusal) and isinstance(no_pin, Refusal)
    assert SVC in no_service.message and "team-a" in no_service.message
    assert "no live version" in no_pin.message


def test_decide_schedule_message_names_the_trigger_type() -> None:
    answer = _decide(plan=SCHEDULE, pin=_pin(SCHEDULE, "schedule"))
    assert isinstance(answer, Refusal)
    assert "schedule" in answer.message


# ------------------------------------------------------------------ event_headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content-Type": "application/json"}, {"content-type": "application/json"}),
        ({"Authorization": "Bearer s3cret", "X-Ok": "1"}, {"x-ok": "1"}),
        ({"AUTHORIZATION": "Basic x"}, {}),
        ({"Cookie": "session=1"}, {}),
        ({"cookie": "a=b", "Set-Cookie": "kept"}, {"set-cookie": "kept"}),
        ({"Proxy-Authorization": "Basic y"}, {}),
        ({"X-Api-Key": "k", "X-API-KEY": "k2", "x-api-key": "k3"}, {}),
        ({"X-Request-Id": "abc", "User-Agent": "curl/8"},
         {"x-request-id": "abc", "user-agent": "curl/8"}),
        ({}, {}),
    ],
    ids=["lowercased", "authorization", "authorization-uppercase", "cookie",
         "set-cookie-is-not-a-credential", "proxy-authorization", "x-api-key-any-case",
         "others-kept", "empty"],
)
def test_event_headers(headers: dict[str, str], expected: dict[str, str]) -> None:
    assert event_headers(headers) == expected


def test_event_headers_bounds_count_and_length() -> None:
    many = {f"X-H{i}": "v" for i in range(500)}
    assert len(event_headers(many)) == 100
    long = event_headers({"X-Long": "x" * 10_000})
    assert long == {"x-long": "x" * 4096}
