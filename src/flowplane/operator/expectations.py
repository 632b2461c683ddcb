"""Read-your-writes: the family worker decides again only once the watch shows its writes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flowplane.reconcile.snapshot import Family, FamilyKey
from flowplane.reconcile.writes import Kind

ObjKey = tuple[Kind, str]
"""One object of a family: its kind and name."""


def observed_versions(family: Family) -> dict[ObjKey, str]:
    seen: dict[ObjKey, str] = {}
    if family.workflow:
        seen[(Kind.WORKFLOW, family.workflow.meta.name)] = family.workflow.meta.resource_version
    for v in family.versions:
        seen[(Kind.VERSION, v.meta.name)] = v.meta.resource_version
    for p in family.plans:
        seen[(Kind.CONFIGMAP, p.meta.name)] = p.meta.resource_version
    if family.service:
        seen[(Kind.SERVICE, family.service.meta.name)] = family.service.meta.resource_version
    if family.endpoint_slice:
        seen[(Kind.ENDPOINT_SLICE, family.endpoint_slice.meta.name)] = (
            family.endpoint_slice.meta.resource_version)
    return seen


@dataclass
class _Expectation:
    created: bool
    stale_versions: set[str] = field(default_factory=set)
    deadline: float = 0.0


class Expectations:
    """Our own writes that the indexes have not shown yet.

    A decision made on a snapshot that predates our last writes would redo them
    (and fail with conflicts), so the worker waits until the watch has caught up.
    Resource versions are compared for equality only, never ordered.
    """

    def __init__(self, ttl: float = 15.0) -> None:
        self.ttl = ttl
        self._pending: dict[FamilyKey, dict[ObjKey, _Expectation]] = {}

    def created(self, key: FamilyKey, obj: ObjKey) -> None:
        self._pending.setdefault(key, {})[obj] = _Expectation(True, set(),
                                                              time.monotonic() + self.ttl)

    def patched(self, key: FamilyKey, obj: ObjKey, before: str | None) -> None:
        exp = self._pending.setdefault(key, {}).get(obj)
        if exp is None or exp.created:
            exp = _Expectation(False, set(), 0.0)
            self._pending[key][obj] = exp
        if before:
            exp.stale_versions.add(before)
        exp.deadline = time.monotonic() + self.ttl

    def deleted(self, key: FamilyKey, obj: ObjKey, before: str | None) -> None:
        """Like a patch: fresh once the watch no longer shows the object as it was."""
        self.patched(key, obj, before)

    def wait_for(self, family: Family) -> float:
        """Seconds to wait before this snapshot is fresh; 0 when it is."""
        pending = self._pending.get(family.key)
        if not pending:
            return 0.0
        seen = observed_versions(family)
        now = time.monotonic()
        for obj, exp in list(pending.items()):
            observed = seen.get(obj)
            fresh = observed is not None if exp.created else observed not in exp.stale_versions
            if fresh or exp.deadline < now:
                del pending[obj]
        if not pending:
            del self._pending[family.key]
            return 0.0
        return max(0.05, min(exp.deadline for exp in pending.values()) - now)
