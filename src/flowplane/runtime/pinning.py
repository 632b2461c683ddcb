"""Which plan a new run executes, and the WorkflowRun object that records it (pure).

The trigger Service's annotations are the operator's single data-plane switch, so they
are the only source of a pin: a run is pinned to exactly what the Service names at the
moment the event is accepted, never to what a Workflow's status says.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flowplane.model.numbers import parse_decimal
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
    MANAGED_BY,
)
from flowplane.model.run import LABEL_TRIGGER, TriggerKind
from flowplane.model.timestamps import format_timestamp

TRIGGER_SUFFIX = "-trigger"
MAX_VERSION = 2**53
_NAME_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Pin:
    """The live version as the trigger Service names it."""

    workflow: str
    version: int
    plan: str
    plan_hash: str
    trigger_type: str


def workflow_of_service(service_name: str) -> str | None:
    if not service_name.endswith(TRIGGER_SUFFIX) or len(service_name) <= len(TRIGGER_SUFFIX):
        return None
    return service_name[: -len(TRIGGER_SUFFIX)]


def pin_from_service(service_name: str, annotations: Mapping[str, str] | None) -> Pin | None:
    """The pin a run accepted now would get, or None when nothing is live."""
    workflow = workflow_of_service(service_name)
    ann = annotations or {}
    raw_version = str(ann.get(ANN_ACTIVE_VERSION) or "")
    plan = ann.get(ANN_PLAN)
    plan_hash = ann.get(ANN_PLAN_HASH)
    version = parse_decimal(raw_version)
    if workflow is None or version is None or not plan or not plan_hash:
        return None
    if not 1 <= version <= MAX_VERSION:
        return None
    return Pin(workflow=workflow, version=version, plan=str(plan), plan_hash=str(plan_hash),
               trigger_type=str(ann.get(ANN_TRIGGER_TYPE) or ""))




def now_precise() -> str:
    """RFC 3339 with milliseconds: a run's start and end, so its duration means something."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def random_run_name(workflow: str) -> str:
    """`<workflow>-<8 random chars>`: unique enough that a clash (409) is only retried."""
    return f"{workflow}-" + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(8))


def schedule_run_name(workflow: str, tick: datetime) -> str:
    """One name per (workflow, tick): every replica creating it makes the same object."""
    return f"{workflow}-s{int(tick.timestamp())}"


def replay_run_name(source_run: str, token: str) -> str:
    """One name per (source run, token): a replay is created once however often it is asked."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{source_run[:230].rstrip('.-')}-replay-{digest}"


def run_body(
    *,
    name: str,
    pin: Pin,
    trigger: TriggerKind,
    event: Mapping[str, Any],
    workflow_uid: str | None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    """The WorkflowRun to create: owned by its Workflow, pinned in its immutable spec."""
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {
            LABEL_WORKFLOW: pin.workflow,
            LABEL_VERSION: str(pin.version),
            LABEL_TRIGGER: trigger.value,
            LABEL_COMPONENT: "run",
            LABEL_MANAGED_BY: MANAGED_BY,
        },
    }
    if workflow_uid:
        metadata["ownerReferences"] = [{
            "apiVersion": API_VERSION, "kind": "Workflow", "name": pin.workflow,
            "uid": workflow_uid, "blockOwnerDeletion": False,
        }]
    spec: dict[str, Any] = {
        "workflowRef": {"name": pin.workflow},
        "version": pin.version,
        "plan": {"configMap": pin.plan, "hash": pin.plan_hash},
        "trigger": {"type": trigger.value},
        "event": dict(event),
    }
    if replay_of:
        spec["replayOf"] = replay_of
    return {"apiVersion": API_VERSION, "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def synthetic_event(*, body: Any = None, received_at: str | None = None,
                    path: str = "/", method: str = "POST") -> dict[str, Any]:
    """The event of a run no request started (manual, schedule)."""
    return {"method": method, "path": path, "query": {}, "headers": {},
            "body": body, "receivedAt": received_at or format_timestamp()}
