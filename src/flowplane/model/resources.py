"""Spec and status of the two kinds, Workflow and WorkflowVersion (flowplane.dev/v1alpha1)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowplane.model.graph import Graph

GROUP = "flowplane.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WORKFLOW_PLURAL = "workflows"
VERSION_PLURAL = "workflowversions"

# Labels and annotations (the contract's exact names).
LABEL_WORKFLOW = f"{GROUP}/workflow"
LABEL_VERSION = f"{GROUP}/version"
LABEL_PLAN_HASH = f"{GROUP}/plan-hash"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "flowplane"
ANN_ACTIVE_VERSION = f"{GROUP}/active-version"
ANN_PLAN = f"{GROUP}/plan"
ANN_PLAN_HASH = f"{GROUP}/plan-hash"
ANN_TRIGGER_TYPE = f"{GROUP}/trigger-type"
ANN_RESUME = f"{GROUP}/resume-from-safety"
ANN_REVERT = f"{GROUP}/revert"

# The trigger Service's mirrored EndpointSlice (discovery.k8s.io/v1). kube-proxy routes a
# Service to every EndpointSlice labelled with its name; the endpointslice controller
# manages only slices labelled managed-by its own name, so it leaves this one alone.
# (A label value cannot contain "/", hence not "flowplane.dev/operator".)
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "operator.flowplane.dev"


VERSION_MAX = 1_000_000_000
"""The highest version number (spec.version, spec.publishedVersion): far from int64, so a
fork always has a next number to take until then, and is refused clearly after it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class VersionPhase(StrEnum):
    DRAFT = "Draft"
    COMPILING = "Compiling"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    INVALID = "Invalid"
    FAILED = "Failed"


class WorkflowPhase(StrEnum):
    DRAFT = "Draft"
    PUBLISHED = "Published"
    DISABLED = "Disabled"
    ARCHIVED = "Archived"
    PAUSED_SAFETY = "PausedSafety"


class Condition(_Model):
    """metav1.Condition."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024)
    message: str = Field(default="", max_length=32768)
    lastTransitionTime: str
    observedGeneration: int | None = Field(default=None, ge=0)


def _conditions_field() -> object:
    return Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


# ---------------------------------------------------------------------------- WorkflowVersion


class WorkflowRef(_Model):
    name: str = Field(min_length=1, max_length=253)


class WorkflowVersionSpec(_Model):
    workflowRef: WorkflowRef = Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "workflowRef is immutable"}
            ]
        }
    )
    version: int = Field(
        ge=1,
        le=VERSION_MAX,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "version is immutable"}
            ]
        },
    )
    label: str = Field(default="", max_length=256, description="Free text; editing never forks.")
    graph: Graph


class GraphError(_Model):
    """One broken graph rule: a stable code, where, and what."""

    code: str
    node: str | None = None
    path: str | None = None
    message: str


class PlanRef(_Model):
    configMap: str
    hash: str
    steps: int
    compiledAt: str


class WorkflowVersionStatus(_Model):
    phase: VersionPhase = VersionPhase.DRAFT
    observedGeneration: int | None = None
    graphHash: str | None = None
    shortHash: str | None = Field(
        default=None, description="The first 12 hex digits of graphHash, for kubectl get -o wide."
    )
    nodeCount: int | None = Field(default=None, description="How many nodes the graph has.")
    errors: list[GraphError] = Field(default_factory=list)
    plan: PlanRef | None = None
    forkedFrom: int | None = None
    activatedAt: str | None = None
    deactivatedAt: str | None = None
    lastRevertToken: str | None = Field(
        default=None, description="The last flowplane.dev/revert token acted on."
    )
    conditions: list[Condition] = _conditions_field()  # type: ignore[assignment]


# ---------------------------------------------------------------------------- Workflow


class RunHistory(_Model):
    """How many finished runs of each outcome to keep; older ones are deleted."""

    succeeded: int = Field(default=50, ge=0, le=100_000)
    failed: int = Field(default=50, ge=0, le=100_000)


class WorkflowSpec(_Model):
    displayName: str | None = Field(default=None, max_length=256)
    publishedVersion: int | None = Field(
        default=None, ge=1, le=VERSION_MAX,
        description="The version wanted live; absent means nothing live.")
    suspend: bool = Field(default=False, description="Keep the pointer but unwire the trigger.")
    archived: bool = Field(default=False, description="Nothing live; publishing is rejected.")
    runHistory: RunHistory = Field(
        default_factory=RunHistory, description="Finished runs kept per outcome (runtime GC).")
    versionHistoryLimit: int | None = Field(
        default=None, ge=0, le=100_000,
        description="Inactive versions kept (oldest deleted first); absent keeps all. Never "
                    "deletes a Draft, the active or wanted version, or one a run is pinned to.")


class TriggerStatus(_Model):
    service: str
    enabled: bool
    url: str | None = None
    type: str | None = None


class PublishResult(StrEnum):
    SUCCEEDED = "Succeeded"
    REJECTED = "Rejected"
    PENDING = "Pending"


class LastPublish(_Model):
    version: int
    result: PublishResult
    reason: str
    message: str = ""
    time: str


# What a safety trip may say (the runtime and users write status.safety). The CRD bounds
# them so the condition they become is valid; the model does not enforce the bounds when
# reading: an object stored before the bound existed must still read as tripped (a status
# that failed to parse would read as "not tripped" and fail open).
SAFETY_REASON_MAX = 128
SAFETY_MESSAGE_MAX = 1024
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class SafetyStatus(_Model):
    tripped: bool = False
    reason: str | None = Field(default=None, json_schema_extra={
        "maxLength": SAFETY_REASON_MAX, "pattern": CONDITION_REASON_PATTERN})
    message: str | None = Field(default=None, json_schema_extra={
        "maxLength": SAFETY_MESSAGE_MAX})
    # RFC 3339 in the CRD; read without trusting it (model/timestamps.py): an object
    # stored before the format was checked must still read as tripped.
    trippedAt: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    resumedAt: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    lastResumeToken: str | None = None


class WorkflowStatus(_Model):
    phase: WorkflowPhase = WorkflowPhase.DRAFT
    activeVersion: int | None = None
    activeVersionName: str | None = None
    latestVersion: int | None = None
    observedGeneration: int | None = None
    trigger: TriggerStatus | None = None
    lastPublish: LastPublish | None = None
    safety: SafetyStatus | None = None
    conditions: list[Condition] = _conditions_field()  # type: ignore[assignment]
