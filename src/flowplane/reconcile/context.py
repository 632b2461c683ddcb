"""What one decision works with: the snapshot as resolved, what the pass has learned so
far, and the writes and events it has decided (in order)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowplane.compiler import CompileResult
from flowplane.model.resources import GraphError
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import Family, PlanObj, VersionObj, WorkflowObj
from flowplane.reconcile.writes import Decision, Event, Kind, Patch, Write, diff


@dataclass
class Context:
    """One decide() pass. The modules of reconcile/ read it; only edits change `results`."""

    family: Family
    settings: Settings
    now: str
    workflow: WorkflowObj | None
    """The Workflow, unless it is missing or being deleted (then only versions are read)."""
    results: dict[str, CompileResult]
    """Each version's graph compiled, by name (an edit restored or reverted is recompiled)."""
    plans: dict[str, PlanObj]
    canonical: dict[int, VersionObj] = field(default_factory=dict)
    """The one version object per number (identity.resolve_versions)."""
    family_errors: dict[str, GraphError] = field(default_factory=dict)
    """Versions that are not canonical, by name: why (DuplicateVersion, OwnerMismatch)."""
    spec_patched: set[str] = field(default_factory=set)
    """Versions whose spec this pass writes (their next generation is the one observed)."""
    fork_refused: str | None = None
    """Why an edit of the live version could not be forked (nor restored)."""
    lost_plans: dict[str, str] = field(default_factory=dict)
    """Versions whose published plan is gone and whose graph was edited since: by
    name, what to tell the user. Nothing can serve or rebuild them."""
    lost_plan_forks: dict[str, int] = field(default_factory=dict)
    """The draft each of those edits was saved as in this pass."""
    decision: Decision = field(default_factory=Decision)

    @property
    def wf(self) -> WorkflowObj:
        """The Workflow, for the steps that run only when there is one."""
        assert self.workflow is not None
        return self.workflow

    def write(self, write: Write | None) -> None:
        if write is not None:
            self.decision.writes.append(write)

    def event(self, kind: Kind, name: str, uid: str, type_: str, reason: str, msg: str,
              detail: str = "") -> None:
        self.decision.events.append(Event(kind, name, uid, type_, reason, msg, detail))

    def status_patch(self, kind: Kind, name: str, rv: str, observed: Mapping[str, Any],
                     desired: dict[str, Any], why: str) -> None:
        """A status write with only what changed (none when nothing did)."""
        change = diff(dict(observed), desired)
        if change is not None:
            self.write(Patch(kind, name, {"status": change}, rv, status=True, why=why))
