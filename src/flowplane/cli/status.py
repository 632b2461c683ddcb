"""Pure reading of Workflow and WorkflowVersion objects for the plugin's commands.

What blocks an operation, what a version is, and, for `--wait`, whether the operator has
finished acting on a request and how it went. No API calls here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowplane.cli.table import version_number
from flowplane.model import reasons
from flowplane.model.reasons import PENDING_REASONS
from flowplane.model.resources import (
    CONDITION_REASON_PATTERN,
    VersionPhase,
    WorkflowPhase,
)
from flowplane.model.versions import draft_body, free_version
from flowplane.model.versions import next_version_number as _next_number

REASON_PATTERN = re.compile(CONDITION_REASON_PATTERN)
"""metav1.Condition reason syntax: a safety reason becomes the SafetyPaused reason."""


class OperationError(Exception):
    """The operation cannot be done (exit code 1)."""


Obj = Mapping[str, Any]


def _status(obj: Obj) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _spec(obj: Obj) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    for c in _status(obj).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == type_:
            return c
    return None


def live_version(wf: Obj) -> int | None:
    live = _status(wf).get("activeVersion")
    return live if isinstance(live, int) and not isinstance(live, bool) else None


def is_paused(wf: Obj) -> bool:
    status = _status(wf)
    safety = status.get("safety")
    tripped = isinstance(safety, Mapping) and safety.get("tripped") is True
    return tripped or status.get("phase") == WorkflowPhase.PAUSED_SAFETY


def is_suspended(wf: Obj) -> bool:
    """spec.suspend keeps the active version but unwires the trigger: nothing routes."""
    return _spec(wf).get("suspend") is True


def is_archived(wf: Obj) -> bool:
    return _spec(wf).get("archived") is True


def blocker(wf: Obj, verb: str) -> str | None:
    """Why the operator would reject `verb` ("publishing", "deactivating") now, if it would."""
    name = name_of(wf)
    if is_archived(wf):
        return (f"workflow {name} is archived, so {verb} is rejected; "
                "set spec.archived to false first")
    if is_paused(wf):
        return f"{verb} is blocked by a safety pause; run `kubectl flowplane resume {name}`"
    return None


def find_version(versions: Sequence[Obj], number: int) -> Obj | None:
    matches = [v for v in versions if version_number(v) == number]
    return sorted(matches, key=name_of)[0] if matches else None


def require_version(versions: Sequence[Obj], number: int, workflow: str) -> Obj:
    found = find_version(versions, number)
    if found is None:
        known = sorted({n for v in versions if (n := version_number(v)) is not None})
        have = ", ".join(f"v{n}" for n in known) if known else "none"
        raise OperationError(f"workflow {workflow} has no version {number} (versions: {have})")
    return found


def phase_of(version: Obj) -> str:
    return str(_status(version).get("phase") or VersionPhase.DRAFT)


def check_rollback(wf: Obj, version: Obj) -> None:
    """Rollback goes back to a version that was live before: one that is Inactive."""
    number = version_number(version)
    phase = phase_of(version)
    if phase == VersionPhase.INACTIVE:
        return
    if phase == VersionPhase.ACTIVE or live_version(wf) == number:
        raise OperationError(f"v{number} is already live; nothing to roll back to")
    raise OperationError(
        f"v{number} cannot be rolled back to: it is {phase}, and rollback only goes back to a "
        f"version that was live before (Inactive); to publish it, run "
        f"`kubectl flowplane publish {name_of(wf)} {number}`")


def next_version_number(versions: Sequence[Obj]) -> int:
    return _next_number(n for v in versions if (n := version_number(v)) is not None)


def draft_name(workflow: str, number: int, taken: set[str]) -> str:
    """A name for new draft v`number` that no object in `taken` holds (the number stays:
    the plugin has announced it)."""
    return free_version(workflow, number, taken, renumber=False)[1]


def new_draft_body(workflow: str, namespace: str, number: int, name: str,
                   source: Obj) -> dict[str, Any]:
    return draft_body(workflow, namespace, name, number, version_number(source),
                      _spec(source).get("graph") or {"nodes": [], "edges": []})


# ------------------------------------------------------------------ waiting


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str
    message: str


def _ready_for(wf: Obj, generation: int) -> Mapping[str, Any] | None:
    """The Ready condition, once the operator has acted on `generation` of the spec."""
    ready = condition(wf, reasons.READY)
    if ready is None:
        return None
    observed = ready.get("observedGeneration")
    if not isinstance(observed, int) or observed < generation:
        return None
    status_generation = _status(wf).get("observedGeneration")
    if isinstance(status_generation, int) and status_generation < generation:
        return None
    return ready


def publish_outcome(wf: Obj, wanted: int | None, generation: int) -> Outcome | None:
    """How a publish (or, with `wanted` None, a deactivation) ended; None while in progress."""
    ready = _ready_for(wf, generation)
    if ready is None:
        return None
    reason = str(ready.get("reason") or "")
    message = str(ready.get("message") or "")
    if ready.get("status") == "True":
        live = live_version(wf)
        if wanted is None:
            return Outcome(True, reason, message) if live is None else None
        if live == wanted:
            return Outcome(True, reason, message)
        return None
    if reason in PENDING_REASONS or not reason:
        return None
    return Outcome(False, reason, message)


def deactivate_outcome(wf: Obj, generation: int) -> Outcome | None:
    """How a deactivation ended: as publish_outcome, but a safety pause (which allows it and
    stays) is no rejection once nothing is live."""
    ready = _ready_for(wf, generation)
    if ready is not None and is_paused(wf) and live_version(wf) is None:
        return Outcome(True, str(ready.get("reason") or ""), str(ready.get("message") or ""))
    return publish_outcome(wf, None, generation)


def resume_outcome(wf: Obj, token: str) -> Outcome | None:
    """How a resume ended: the token is recorded, then Ready tells whether all is live."""
    safety = _status(wf).get("safety")
    if not isinstance(safety, Mapping) or safety.get("lastResumeToken") != token:
        return None
    if safety.get("tripped") is True:
        return None
    generation = (wf.get("metadata") or {}).get("generation")
    ready = _ready_for(wf, generation if isinstance(generation, int) else 0)
    if ready is None:
        return None
    reason = str(ready.get("reason") or "")
    message = str(ready.get("message") or "")
    if ready.get("status") == "True":
        return Outcome(True, reason, message)
    if reason in PENDING_REASONS:
        return None
    return Outcome(False, reason, message)


def describe_ready(wf: Obj) -> str:
    ready = condition(wf, reasons.READY)
    if ready is None:
        return "no Ready condition yet (is the operator running?)"
    return f"Ready={ready.get('status')} {ready.get('reason', '')}: {ready.get('message', '')}"
