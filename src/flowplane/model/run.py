"""WorkflowRun (flowplane.dev/v1alpha1): one execution of a published plan.

The spec is the run's pin: which version and plan it executes and what event started
it. It is written once, at acceptance, and immutable (CEL), so a run that began on v3
finishes on v3 whatever goes live afterwards. The status is the run's durable progress:
each finished step is recorded before the next starts, which is what lets another
runtime replica resume it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from flowplane.model.resources import GROUP, Condition, WorkflowRef, _conditions_field, _Model

RUN_PLURAL = "workflowruns"
ANN_REPLAY = f"{GROUP}/replay"
"""Annotation on a finished run: `<token>` asks for a replay of its event (once per token)."""
LABEL_TRIGGER = f"{GROUP}/trigger"
MAX_TOKEN_CHARS = 253


def token_record(token: str) -> str:
    """How a replay token is recorded in status.lastReplay.token: as given, or its sha256
    when longer than the field allows (an annotation value may be up to 256 KiB)."""
    if len(token) <= MAX_TOKEN_CHARS:
        return token
    import hashlib

    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

_FREE_FORM: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}

STEP_OUTPUT_LIMIT = 16 * 1024
"""Bytes of JSON one step's output may take in the run's status; larger is truncated."""
RUN_OUTPUT_LIMIT = 256 * 1024
"""Bytes of JSON all outputs of a run may take; later outputs are truncated past it."""


class TriggerKind(StrEnum):
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    REPLAY = "replay"


class RunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


FINISHED_PHASES = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED})


class StepPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class PinnedPlan(_Model):
    configMap: str = Field(min_length=1, max_length=253)
    hash: str = Field(min_length=1, max_length=80)


class RunTrigger(_Model):
    type: TriggerKind


class RunEvent(_Model):
    """What arrived: for webhooks the request (credentials filtered out), else a synthetic event."""

    method: str = Field(default="POST", max_length=16)
    path: str = Field(default="/", max_length=2048)
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, json_schema_extra=_FREE_FORM,
                      description="JSON when the request was JSON, else the text.")
    receivedAt: str


class WorkflowRunSpec(_Model):
    workflowRef: WorkflowRef
    version: int = Field(ge=1, le=2**53, description="Pinned at acceptance.")
    plan: PinnedPlan
    trigger: RunTrigger
    event: RunEvent
    replayOf: str | None = Field(default=None, max_length=253,
                                 description="The run whose event this run replays.")


class StepError(_Model):
    code: str = Field(max_length=128)
    message: str = Field(default="", max_length=4096)


class StepStatus(_Model):
    node: str = Field(max_length=63)
    phase: StepPhase = StepPhase.PENDING
    startedAt: str | None = None
    finishedAt: str | None = None
    resumeAt: str | None = Field(default=None,
                                 description="delay: when the wait ends (survives restarts).")
    attempts: int | None = Field(default=None, ge=0)
    output: Any = Field(default=None, json_schema_extra=_FREE_FORM)
    truncated: bool | None = None
    error: StepError | None = None


class RunError(_Model):
    code: str = Field(max_length=128)
    node: str | None = Field(default=None, max_length=63)
    message: str = Field(default="", max_length=4096)


class Executor(_Model):
    """The replica executing the run; a heartbeat older than the lease may be taken over."""

    id: str = Field(max_length=253)
    heartbeatAt: str
    leaseSeconds: int = Field(default=15, ge=1)


class ReplayResult(StrEnum):
    STARTED = "Started"
    REJECTED = "Rejected"


class LastReplay(_Model):
    token: str = Field(max_length=MAX_TOKEN_CHARS)
    result: ReplayResult
    run: str | None = Field(default=None, max_length=253)
    reason: str = Field(default="", max_length=128)
    message: str = Field(default="", max_length=1024)
    time: str | None = None


class WorkflowRunStatus(_Model):
    phase: RunPhase = RunPhase.PENDING
    startedAt: str | None = None
    finishedAt: str | None = None
    duration: str | None = Field(default=None, description="finishedAt - startedAt, e.g. 1.2s")
    steps: list[StepStatus] = Field(default_factory=list)
    error: RunError | None = None
    executor: Executor | None = None
    lastReplay: LastReplay | None = None
    conditions: list[Condition] = _conditions_field()  # type: ignore[assignment]
