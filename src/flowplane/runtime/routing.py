"""Which answer an event gets (RUNTIME.md's table), pure over the caches' view.

The order of the checks is the order a user debugs in: is there such a workflow and is
it live, is this its path, its method, is the body acceptable. Rate limits and storage
come after, in the server, because they need state and I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowplane.runtime.executor import PlanGraph
from flowplane.runtime.pinning import Pin

NOT_LIVE = "NotLive"
NO_SUCH_PATH = "NoSuchPath"
METHOD_NOT_ALLOWED = "MethodNotAllowed"
BODY_TOO_LARGE = "BodyTooLarge"
MALFORMED_JSON = "MalformedJSON"
RATE_EXCEEDED = "RunRateExceeded"
NOT_STORED = "RunNotStored"
PLAN_UNAVAILABLE = "PlanUnavailable"

CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")
DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


@dataclass(frozen=True)
class Accept:
    pin: Pin
    plan: PlanGraph


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_PORT = re.compile(r":[0-9]{1,5}$")


def parse_host(host: str | None) -> tuple[str, str] | None:
    """(service, namespace) from `svc.ns`, `svc.ns.svc` or `svc.ns.svc.cluster.local`, each
    with an optional numeric port and trailing dot; anything else is None."""
    if not host:
        return None
    name = _PORT.sub("", host.strip().lower()).rstrip(".")
    for suffix in CLUSTER_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    parts = name.split(".")
    if len(parts) != 2 or not all(_LABEL.fullmatch(p) for p in parts):
        return None
    return parts[0], parts[1]


def _normal_path(path: str) -> str:
    return path.rstrip("/") or "/"


def decide(host: str | None, method: str, path: str, service: Mapping[str, Any] | None,
           pin: Pin | None, plan: PlanGraph | None, content_length: int | None,
           max_body_bytes: int) -> Refusal | Accept:
    target = parse_host(host)
    if target is None:
        return Refusal(404, NOT_LIVE, f"Host {host!r} names no trigger Service "
                                      "(expected <workflow>-trigger.<namespace>[.svc])")
    svc, ns = target
    if service is None:
        return Refusal(404, NOT_LIVE, f"no trigger Service {svc} in namespace {ns}")
    if pin is None:
        return Refusal(404, NOT_LIVE, f"{ns}/{svc} has no live version (the workflow is Draft, "
                                      "Disabled, Archived or PausedSafety)")
    if plan is None:
        return Refusal(503, PLAN_UNAVAILABLE, f"plan {pin.plan} of v{pin.version} is not "
                                              "readable yet", {"Retry-After": "2"})
    trigger_type = plan.node_type(plan.trigger)
    if trigger_type != "webhook":
        return Refusal(404, NO_SUCH_PATH, f"v{pin.version} of {pin.workflow} has a "
                                          f"{trigger_type} trigger; it takes no HTTP events")
    config = plan.trigger_config()
    want_path = str(config.get("path") or "/")
    if _normal_path(path) != _normal_path(want_path):
        return Refusal(404, NO_SUCH_PATH, f"{pin.workflow} listens on {want_path}, not {path}")
    want_method = str(config.get("method") or "POST").upper()
    if method.upper() != want_method:
        return Refusal(405, METHOD_NOT_ALLOWED, f"{pin.workflow} takes {want_method} on "
                                                f"{want_path}, not {method.upper()}",
                       {"Allow": want_method})
    if content_length is not None and content_length > max_body_bytes:
        return too_large(max_body_bytes)
    return Accept(pin, plan)


def too_large(max_body_bytes: int) -> Refusal:
    return Refusal(413, BODY_TOO_LARGE, f"the body is over the {max_body_bytes}-byte limit")


def event_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Request headers as recorded in the run: lower-case, credentials left out."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name not in DROPPED_HEADERS and len(out) < 100:
            out[name] = value[:4096]
    return out
