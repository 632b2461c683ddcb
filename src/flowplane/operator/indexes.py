"""A family's snapshot, gathered from the Kopf indexes: decide() reads memory, never the API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flowplane.reconcile.objects import endpoint_slice_name, service_name
from flowplane.reconcile.snapshot import (
    EndpointSliceObj,
    Family,
    FamilyKey,
    PlanObj,
    RunObj,
    RuntimeEndpoints,
    ServiceObj,
    VersionObj,
    WorkflowObj,
)


class Index(Protocol):
    """What we use of a kopf.Index: family key -> the objects indexed under it."""

    def get(self, key: Any, default: Any = None) -> Iterable[Any] | None: ...

    def __iter__(self) -> Any: ...


@dataclass
class Indexes:
    workflows: Index
    versions: Index
    plans: Index
    services: Index
    runs: Index | None = None
    endpoint_slices: Index | None = None

    def gather(self, key: FamilyKey, runtime_endpoints: RuntimeEndpoints | None = None
               ) -> Family:
        # The index keeps compact forms (snapshot.StoredVersion); each pass decodes its own.
        workflows: list[WorkflowObj] = [w.load() for w in self.workflows.get(key) or ()]
        versions: list[VersionObj] = [v.load() for v in self.versions.get(key) or ()]
        plans: list[PlanObj] = [p.load() for p in self.plans.get(key) or ()]
        services: list[ServiceObj] = list(self.services.get(key) or ())
        runs: list[RunObj] = list(self.runs.get(key) or ()) if self.runs is not None else []
        slices: list[EndpointSliceObj] = (
            list(self.endpoint_slices.get(key) or ()) if self.endpoint_slices is not None else [])
        return Family(
            namespace=key[0],
            name=key[1],
            workflow=workflows[0] if workflows else None,
            versions=tuple(sorted(versions, key=lambda v: v.meta.name)),
            plans=tuple(plans),
            service=next((s for s in services if s.meta.name == service_name(key[1])), None),
            pinned_versions=frozenset(
                r.version for r in runs if not r.finished and r.version is not None),
            endpoint_slice=next(
                (s for s in slices if s.meta.name == endpoint_slice_name(key[1])), None),
            runtime_endpoints=runtime_endpoints,
        )

    def wired_families(self) -> list[FamilyKey]:
        """Families whose trigger Service has a selector, or that have a mirrored slice."""
        keys: set[FamilyKey] = set()
        for key in self.services:
            if any(s.selector for s in self.services.get(key) or ()):
                keys.add(key)
        if self.endpoint_slices is not None:
            keys.update(self.endpoint_slices)
        return sorted(keys)
