"""The writes `decide()` asks for, as data. The operator's applier performs them in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    WORKFLOW = "Workflow"
    VERSION = "WorkflowVersion"
    CONFIGMAP = "ConfigMap"
    SERVICE = "Service"
    ENDPOINT_SLICE = "EndpointSlice"


@dataclass(frozen=True)
class Create:
    """Create an object; AlreadyExists counts as done (the create is idempotent by name)."""

    kind: Kind
    name: str
    body: dict[str, Any]
    why: str = ""


@dataclass(frozen=True)
class Patch:
    """A JSON merge patch, guarded by the resourceVersion the decision was made on."""

    kind: Kind
    name: str
    patch: dict[str, Any]
    resource_version: str | None
    status: bool = False
    why: str = ""


@dataclass(frozen=True)
class Delete:
    """Delete an object, only if it is still the very object decided on (its uid).

    NotFound counts as done. The uid precondition means an object recreated under the
    same name in the meantime is never deleted. Dependents (a version's plan) go in the
    background, by the garbage collector.
    """

    kind: Kind
    name: str
    uid: str
    why: str = ""


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event about one of the family's objects."""

    kind: Kind
    name: str
    uid: str
    type: str  # Normal | Warning
    reason: str
    message: str
    detail: str = ""  # machine-readable cause (e.g. the publish rejection reason), for metrics


Write = Create | Patch | Delete


@dataclass
class Decision:
    writes: list[Write] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Decide this family again after so many seconds even if nothing changes (a wait that
    no watch event ends, such as a retention grace). Not a write: `bool()` ignores it."""

    def __bool__(self) -> bool:
        return bool(self.writes or self.events)


def merge_patch_diff(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns `old` into `new`; None means no change.

    Keys missing from `new` become null (removed). Lists are replaced whole.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        patch: dict[str, Any] = {}
        for key in old.keys() - new.keys():
            patch[key] = None
        for key, value in new.items():
            if key not in old:
                patch[key] = value
                continue
            sub = merge_patch_diff(old[key], value)
            if sub is not _UNCHANGED:
                patch[key] = sub
        return patch if patch else _UNCHANGED
    return _UNCHANGED if old == new else new


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


_UNCHANGED: Any = _Unchanged()


def changed_entries(want: Mapping[str, Any], have: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `want` that `have` lacks or holds otherwise: as a merge patch of a
    labels or annotations map, it sets them (None removes one) and leaves every key
    someone else put there alone."""
    return {k: v for k, v in want.items() if have.get(k) != v}


def diff(old: Any, new: Any) -> dict[str, Any] | None:
    """merge_patch_diff for dicts, with None for "nothing to write"."""
    result = merge_patch_diff(old, new)
    return None if result is _UNCHANGED else result
