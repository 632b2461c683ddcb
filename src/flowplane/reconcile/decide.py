"""decide(): one workflow family's snapshot in, the ordered writes to converge it out.

Everything the product does lives here: validation of every version, publish,
rollback and deactivation through `spec.publishedVersion`, fork on edit, revert,
safety pause and resume, suspend and archive, and the derived phases and conditions.

Crash safety comes from two things. First, the decision is level-based: it looks
only at the current snapshot, so if the operator dies after any write, the next
decision finishes the job. Second, the writes come out in a safe order:

0. unwiring (nothing may be live: Draft, Disabled, Archived, PausedSafety), first of
   all: the trigger Service loses its selector and active-version annotation, then its
   mirrored EndpointSlice its endpoints. A write that makes things safer never waits
   behind one that may fail (an adoption or a fork that conflicts). The one exception:
   when the version that stays live while unwired (safety pause, suspend) is live only
   by the Service's annotation (a publish cut short before step 6), the unwire would
   erase the only record of it, so it comes right after step 7 instead;
1. adoption (labels, owner references) of versions;
2. forks of an edited live version, then the restore of its graph from its plan,
   then reverts (spec writes, so an edit is saved before it is undone);
3. the publish target goes `Compiling`;
4. the immutable plan ConfigMap is created (before anything points at it);
5. the trigger Service is pointed at the target: the one atomic data-plane switch, and
   the authority on what is live after a crash; right after it, its mirrored
   EndpointSlice gets the runtime's ready endpoints (a Service selects pods in its own
   namespace only, and the runtime runs in another);
6. every other version's status (so the previous live version is retired
   *before* the next one is marked Active: a watcher never sees two Active);
7. the target's status (`Active`);
8. the workflow's status (pointer, phase, conditions, lastPublish);
9. retention: retired versions beyond `spec.versionHistoryLimit` are deleted (last:
   nothing above depends on them, and a version is never deleted in the pass that
   retires it; see reconcile/retention.py for what is never deleted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flowplane.compiler import CompileResult, compile_graph
from flowplane.model.graph import Graph
from flowplane.model.numbers import parse_decimal
from flowplane.model.resources import (
    ANN_ACTIVE_VERSION,
    ANN_PLAN,
    ANN_PLAN_HASH,
    ANN_RESUME,
    ANN_REVERT,
    ANN_TRIGGER_TYPE,
    API_VERSION,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_PLAN_HASH,
    LABEL_SERVICE_NAME,
    LABEL_SLICE_MANAGED_BY,
    LABEL_VERSION,
    LABEL_WORKFLOW,
    MANAGED_BY,
    SAFETY_MESSAGE_MAX,
    SLICE_MANAGER,
    VERSION_MAX,
    GraphError,
    LastPublish,
    PlanRef,
    PublishResult,
    SafetyStatus,
    TriggerStatus,
    VersionPhase,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
    WorkflowVersionStatus,
)
from flowplane.reconcile.compile_cache import CompileCache
from flowplane.reconcile.conditions import Desired, merge_conditions, safe_message, safe_reason
from flowplane.reconcile.retention import plan_retention
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import (
    ANN_FORKED_FROM,
    EndpointSliceObj,
    Family,
    OwnerRef,
    PlanObj,
    VersionObj,
    WorkflowObj,
)
from flowplane.reconcile.writes import Create, Decision, Delete, Event, Kind, Patch, Write, diff

WORKFLOW_OWNER_KIND = "Workflow"
VERSION_OWNER_KIND = "WorkflowVersion"
SERVICE_PORT_NAME = "http"
MAX_STATUS_ERRORS = 50
"""A hostile graph can break thousands of rules; status keeps the first ones and a count."""


REASON_INVALID_SPEC = "InvalidSpec"
"""Ready's reason while the Workflow's spec cannot be read (what is live is held)."""
REASON_FORK_REFUSED = "ForkRefused"
"""Ready's reason while an edit of the live version has no version number left to take."""
REASON_LIVE_PLAN_LOST = "LivePlanLost"
"""Ready's reason while the live version's plan is gone and its graph was edited since."""


def service_name(workflow: str) -> str:
    return f"{workflow}-trigger"


def endpoint_slice_name(workflow: str) -> str:
    """The trigger Service's mirrored EndpointSlice (at most 63 + 8 characters)."""
    return f"{service_name(workflow)}-runtime"


MAX_OBJECT_NAME = 253
_SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def workflow_name_problem(workflow: str) -> str | None:
    """Why `workflow` cannot name its trigger Service, or None.

    Any DNS subdomain is a valid Workflow name, but `<workflow>-trigger` must be a DNS
    label (at most 63 lowercase letters, digits and '-'; no dots), and the name is also a
    label value on the versions, plans and Service (at most 63 characters).
    """
    svc = service_name(workflow)
    if len(svc) > 63:
        return f"{svc!r} is longer than 63 characters (a workflow name may have at most 55)"
    if not _SERVICE_NAME.match(svc):
        return f"{svc!r} is not a DNS label (only lowercase letters, digits and '-')"
    return None


def plan_label_hash(full_hash: str) -> str:
    """Label values are limited to 63 characters: sha256-<56 hex digits>."""
    return full_hash.replace(":", "-")[:63]


def decide(family: Family, settings: Settings, now: str,
           compile_cache: CompileCache | None = None) -> Decision:
    """Pure: the writes and events that move `family` towards what its users asked for.

    `compile_cache` only remembers compile results (an exact key), never changes them.
    """
    return _Decider(family, settings, now, compile_cache).run()


@dataclass(frozen=True)
class _Outcome:
    """The outcome of the current publish request, as recorded in status.lastPublish."""

    version: int
    result: PublishResult
    reason: str
    message: str


@dataclass(frozen=True)
class _LivePlan:
    name: str
    hash: str
    steps: int
    trigger_type: str | None
    graph: Mapping[str, Any] | None
    compiled_at: str | None
    create: Create | None = None  # set when the plan must still be written


class _Decider:
    def __init__(self, family: Family, settings: Settings, now: str,
                 compile_cache: CompileCache | None = None) -> None:
        self.f = family
        self.s = settings
        self.now = now
        self.d = Decision()
        wf = family.workflow
        self.wf: WorkflowObj | None = wf if wf is not None and not wf.meta.deleting else None
        self.results: dict[str, CompileResult] = {
            v.meta.name: (
                compile_cache.compile(v.meta.uid, v.meta.generation, v.graph_raw,
                                      settings.limits)
                if compile_cache is not None else compile_graph(v.graph_raw, settings.limits))
            for v in family.versions
        }
        self.plans: dict[str, PlanObj] = {p.meta.name: p for p in family.plans}
        self.canonical: dict[int, VersionObj] = {}
        self.family_errors: dict[str, GraphError] = {}
        self.spec_patched: set[str] = set()
        self.fork_refused: str | None = None
        """Why an edit of the live version could not be forked (nor restored)."""
        self.lost_plans: dict[str, str] = {}
        """Versions whose published plan is gone and whose graph was edited since: by
        name, what to tell the user. Nothing can serve or rebuild them."""
        self.lost_plan_forks: dict[str, int] = {}
        """The draft each of those edits was saved as in this pass."""
        self._resolve_versions()

    # ------------------------------------------------------------------ inputs

    def _resolve_versions(self) -> None:
        """Pick the one version object per number; the rest are reported, never adopted.

        The version that is live keeps its number, then one this workflow already adopted;
        only then does the oldest win. creationTimestamp has a resolution of one second, so
        ordering by age alone would let a duplicate made in the same second as the live
        version, with a name that sorts first, take over its number (and go live).
        """
        wf = self.wf
        served: set[str] = set()
        svc = self.f.service
        if svc is not None and wf is not None and self._service_is_ours():
            plan = self.plans.get(svc.meta.annotations.get(ANN_PLAN, ""))
            served = {r.uid for r in plan.meta.owner_refs} if plan is not None else set()

        def adopted(v: VersionObj) -> bool:
            return wf is not None and any(r.uid == wf.meta.uid and r.controller
                                          for r in v.meta.owner_refs)

        ordered = sorted(
            (v for v in self.f.versions if not v.meta.deleting),
            key=lambda v: (v.meta.uid not in served, not adopted(v),
                           v.meta.creation_timestamp, v.meta.name),
        )
        for v in ordered:
            # Any controller other than this workflow blocks adoption: the API refuses a second
            # controller reference (422), and that write must not stand in the family's way.
            owner = next(
                (r for r in v.meta.owner_refs
                 if r.controller and (self.wf is None or r.uid != self.wf.meta.uid)),
                None,
            )
            if self.wf is not None and owner is not None:
                kind = "Workflow" if owner.kind == WORKFLOW_OWNER_KIND else owner.kind
                self.family_errors[v.meta.name] = GraphError(
                    code="OwnerMismatch",
                    message=f"controlled by another {kind} {owner.name!r} (uid {owner.uid}); "
                    "not adopted by this one",
                )
            elif v.number in self.canonical:
                first = self.canonical[v.number]
                self.family_errors[v.meta.name] = GraphError(
                    code="DuplicateVersion",
                    path="spec.version",
                    message=f"version {v.number} of workflow {v.workflow_name!r} already exists "
                    f"as {first.meta.name!r}; this object is ignored; delete it "
                    "(spec.version cannot be changed)",
                )
            else:
                self.canonical[v.number] = v

    def _owner_ref(self) -> OwnerRef:
        assert self.wf is not None
        return OwnerRef(API_VERSION, WORKFLOW_OWNER_KIND, self.wf.meta.name, self.wf.meta.uid, True)

    def _plan_of(self, v: VersionObj, wanted_hash: str | None) -> PlanObj | None:
        """An existing plan ConfigMap of `v` holding `wanted_hash` (any, if None)."""
        preferred = v.status.plan.configMap if v.status.plan else None
        candidates = [
            p for p in self.plans.values()
            if any(r.uid == v.meta.uid for r in p.meta.owner_refs) or p.meta.name == preferred
        ]
        candidates.sort(key=lambda p: (p.meta.name != preferred, p.meta.name))
        return next((p for p in candidates if wanted_hash is None or p.hash == wanted_hash), None)

    def _live_now(self) -> VersionObj | None:
        """The version serving right now. The Service annotation is the authority.

        Pointers name a version by number, and a number can change hands (the live
        object is deleted and a duplicate takes its number, or it is recreated under
        the same name): a pointer counts only for the very object it was set for.
        """
        svc = self.f.service
        if svc is not None and self._service_is_ours():
            served_number = parse_decimal(svc.meta.annotations.get(ANN_ACTIVE_VERSION))
            if served_number is not None and served_number in self.canonical:
                v = self.canonical[served_number]
                if self._served_by(v, svc.meta.annotations.get(ANN_PLAN)):
                    return v
        return self._live_by_status()

    def _settled_outcome(self, live: VersionObj) -> _Outcome | None:
        """lastPublish for a request that is live already, derived from the world.

        A crash between the Service switch and the workflow's status write leaves
        lastPublish describing the request before (and its Event unsent); the Service and
        the versions say how this one ended. None when lastPublish already says so.
        """
        wf = self.wf
        if wf is None:
            return None
        last = wf.status.lastPublish
        if last is not None and (last.version, last.result) == (
                live.number, PublishResult.SUCCEEDED):
            return None
        was = wf.status.activeVersion
        if was == live.number:  # asked again for what stayed live: nothing moved
            return _Outcome(live.number, PublishResult.SUCCEEDED, "Published",
                            f"v{live.number} is live")
        status = live.status  # live before? (its Active write may be the one that landed)
        rollback = status.deactivatedAt is not None or (
            status.activatedAt is not None and status.phase != VersionPhase.ACTIVE)
        return _Outcome(live.number, PublishResult.SUCCEEDED,
                        "RolledBack" if rollback else "Published",
                        f"v{live.number} is live" + (f" (was v{was})" if was else ""))

    def _trigger_tampered(self, candidate: VersionObj, live: VersionObj | None) -> bool:
        """Whether the Service alone disagrees with a finished publish of the candidate.

        The statuses call the candidate live (Active, named by the workflow) and its plan
        still serves its graph: what the Service names instead was written by someone else.
        """
        wf = self.wf
        return (
            live is not None and wf is not None
            and wf.status.activeVersion == candidate.number
            and self._live_by_status() is candidate
            and self._live_plan(candidate) is not None
        )

    def _live_by_status(self) -> VersionObj | None:
        """What the statuses call live: what is left once the Service is unwired."""
        wf = self.wf
        if wf is not None and wf.status.activeVersion in self.canonical:
            v = self.canonical[wf.status.activeVersion]
            if v.status.phase == VersionPhase.ACTIVE:
                return v
        actives = [v for v in self.canonical.values() if v.status.phase == VersionPhase.ACTIVE]
        actives.sort(key=lambda v: (v.status.activatedAt or "", v.number))
        return actives[-1] if actives else None

    def _served_by(self, v: VersionObj, plan_name: str | None) -> bool:
        """Whether the Service's plan annotation was written for this object of version v."""
        plan = self.plans.get(plan_name) if plan_name else None
        if plan is not None:
            return any(r.uid == v.meta.uid for r in plan.meta.owner_refs)
        # The plan is gone (deleted by hand, or with its version): trust the version's own
        # record of being published with that plan.
        return v.status.phase in (VersionPhase.ACTIVE, VersionPhase.COMPILING) and (
            v.status.plan is None or v.status.plan.configMap == plan_name)

    def _service_is_ours(self) -> bool:
        svc, wf = self.f.service, self.wf
        if wf is not None and (Kind.SERVICE.value, service_name(wf.meta.name)) in (
            self.f.taken_names
        ):
            return False
        if svc is None or wf is None:
            return False
        return any(r.uid == wf.meta.uid for r in svc.meta.owner_refs) or not svc.meta.owner_refs

    def _live_plan(self, live: VersionObj) -> _LivePlan | None:
        """The plan the live version runs: named by the Service, else by its status."""
        name = None
        svc = self.f.service
        if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(live.number):
            name = svc.meta.annotations.get(ANN_PLAN)
        if name is None and live.status.plan is not None:
            name = live.status.plan.configMap
        plan = self.plans.get(name) if name else None
        if plan is None:
            plan = self._plan_of(live, None)
        if plan is not None and plan.hash:
            compiled_at = (
                live.status.plan.compiledAt
                if live.status.plan and live.status.plan.configMap == plan.meta.name
                else plan.meta.creation_timestamp or self.now
            )
            return _LivePlan(
                plan.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph, compiled_at
            )
        # The plan is gone (deleted by hand): rebuild it from the version's graph, but only
        # from the graph that was published (an edit since then was never published).
        result = self.results[live.meta.name]
        recorded = self._recorded_hash(live)
        if recorded is not None and result.graph_hash != recorded:
            self.lost_plans[live.meta.name] = ""
            return None
        return self._new_plan(live, result)

    def _recorded_hash(self, v: VersionObj) -> str | None:
        """The hash of the graph v was published with, as its status or the Service says."""
        svc = self.f.service
        if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(v.number):
            named = svc.meta.annotations.get(ANN_PLAN_HASH)
            if named:
                return named
        return v.status.plan.hash if v.status.plan is not None else None

    def _lost_plan_ref(self, v: VersionObj) -> _LivePlan | None:
        """The record of the plan v was published with, kept while its loss is reported."""
        svc, ref = self.f.service, v.status.plan
        if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(v.number):
            name, hash_ = svc.meta.annotations.get(ANN_PLAN), svc.meta.annotations.get(
                ANN_PLAN_HASH)
            if name and hash_:
                return _LivePlan(name, hash_, ref.steps if ref else 0, None, None,
                                 ref.compiledAt if ref else self.now)
        if ref is None:
            return None
        return _LivePlan(ref.configMap, ref.hash, ref.steps, None, None, ref.compiledAt)

    def _lost_plan_message(self, v: VersionObj) -> str:
        ref = self._lost_plan_ref(v)
        edited = self.results[v.meta.name].graph_hash
        forks = sorted(f.number for f in self.f.versions if f.forked_from == v.number
                       and edited is not None and self.results[f.meta.name].graph_hash == edited)
        if v.meta.name in self.lost_plan_forks:  # made in this pass
            forks.append(self.lost_plan_forks[v.meta.name])
        saved = f"the edit is saved as draft v{max(forks)}; " if forks else ""
        return (f"the plan of v{v.number} ({ref.name if ref else 'unknown'}) was deleted and "
                f"v{v.number}'s graph was edited after it was published, so neither can serve: "
                f"{saved}nothing is live. Undo the edit of {v.meta.name} or publish another "
                "version to go live again")

    def _plan_lost_to_edit(self, v: VersionObj) -> bool:
        """v was live, its plan is gone, and its graph was edited since it was published.

        The record is the version's own: `status.plan` still names the missing plan (kept so
        while v is the version wanted live), in phase Active (the first pass) or Failed.
        """
        ref = v.status.plan
        if ref is None or v.status.phase not in (VersionPhase.ACTIVE, VersionPhase.FAILED):
            return False
        if ref.configMap in self.plans or self._plan_of(v, ref.hash) is not None:
            return False
        return self.results[v.meta.name].graph_hash != ref.hash

    def _new_plan(self, v: VersionObj, result: CompileResult) -> _LivePlan | None:
        if result.plan is None:
            return None
        plan = result.plan
        existing = self._plan_of(v, plan.hash)
        if existing is not None:
            compiled_at = (
                v.status.plan.compiledAt
                if v.status.plan and v.status.plan.configMap == existing.meta.name
                else existing.meta.creation_timestamp or self.now
            )
            return _LivePlan(
                existing.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph,
                compiled_at,
            )
        name = f"{v.meta.name}-plan"
        # A plan is never rewritten: a new graph gets a new plan (as does a name taken
        # by a ConfigMap that is not ours, or one too long for a version's long name).
        if (name in self.plans or (Kind.CONFIGMAP.value, name) in self.f.taken_names
                or len(name) > MAX_OBJECT_NAME):
            suffix = f"-plan-{plan.hash.split(':')[-1][:10]}"
            name = v.meta.name[: MAX_OBJECT_NAME - len(suffix)].rstrip("-.") + suffix
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.f.namespace,
                "labels": {
                    LABEL_WORKFLOW: v.workflow_name,
                    LABEL_VERSION: str(v.number),
                    LABEL_PLAN_HASH: plan_label_hash(plan.hash),
                    LABEL_COMPONENT: "plan",
                    LABEL_MANAGED_BY: MANAGED_BY,
                },
                "annotations": {ANN_PLAN_HASH: plan.hash, ANN_TRIGGER_TYPE: plan.trigger_type},
                "ownerReferences": [
                    OwnerRef(API_VERSION, VERSION_OWNER_KIND, v.meta.name, v.meta.uid, True)
                    .to_api()
                ],
            },
            "immutable": True,
            "data": plan.configmap_data(),
        }
        return _LivePlan(
            name, plan.hash, plan.steps, plan.trigger_type, plan.graph, self.now,
            create=Create(Kind.CONFIGMAP, name, body, why=f"plan of v{v.number}"),
        )

    # ------------------------------------------------------------------ the run

    def run(self) -> Decision:
        if self.wf is None:
            self._orphans()
            return self.d
        wf = self.wf
        if wf.spec_error is not None:
            # A spec that cannot be read says nothing about what should be live: hold what
            # is (never the defaults, which would deactivate) and report it.
            wf = self.wf = replace(wf, spec=self._held_spec(wf))
        name_problem = workflow_name_problem(wf.meta.name)
        if name_problem is not None:
            self._unusable(wf, name_problem)
            return self.d
        self._adopt_versions()

        # Safety: a resume token clears the trip; nothing else does.
        safety = wf.status.safety.model_copy() if wf.status.safety else None
        resume_token = wf.meta.annotations.get(ANN_RESUME)
        if resume_token and (safety is None or safety.lastResumeToken != resume_token):
            safety = safety or SafetyStatus()
            if safety.tripped:
                safety.tripped = False
                safety.resumedAt = self.now
                self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "Resumed",
                            "resumed from safety pause; publishing is allowed again")
            safety.lastResumeToken = resume_token
        tripped = bool(safety and safety.tripped)
        fresh_trip = safety is not None and safety.tripped and (
            not safety.trippedAt or (safety.resumedAt or "") > safety.trippedAt
        )
        if safety is not None and fresh_trip:
            safety.trippedAt = self.now
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning", "SafetyPaused",
                        f"safety pause: {safety.reason or 'tripped'}: {safety.message or ''}"
                        .rstrip(": "))

        archived, suspended = wf.spec.archived, wf.spec.suspend
        wanted = wf.spec.publishedVersion
        live = self._live_now()
        live_plan = self._live_plan(live) if live is not None else None
        if live is not None and live_plan is None:
            # Its plan is gone and its graph was edited since it was published (or no longer
            # compiles): nothing can serve it, so it is not live. The edit is kept as a draft;
            # publishing the version again reports why.
            if live.meta.name in self.lost_plans:
                fork = self._fork_edit(live)
                if fork is not None:
                    self.lost_plan_forks[live.meta.name] = fork
            live = None

        # Fork on edit: an edit of the live version becomes a new draft; the live graph stays.
        if live is not None and live_plan is not None and live_plan.graph is not None:
            self._fork_if_edited(live, live_plan)
        self._reverts(live, live_plan)

        # Where should the live pointer be?
        outcome: _Outcome | None = None
        target: VersionObj | None = live
        target_plan: _LivePlan | None = live_plan
        candidate = self.canonical.get(wanted) if wanted is not None else None
        rejected_candidate: VersionPhase | None = None
        repair = False
        if archived:
            target, target_plan = None, None
            if wanted is not None:
                outcome = _Outcome(wanted, PublishResult.REJECTED, "Archived",
                                   f"the workflow is archived, so v{wanted} is not published; "
                                   "remove spec.publishedVersion (nothing is live)")
        elif tripped:
            live_number = live.number if live else None
            if wanted is None:
                # Deactivating is the safest action there is (nothing live): allowed
                # while paused. The workflow stays PausedSafety until a resume.
                target, target_plan = None, None
            elif wanted != live_number:
                outcome = _Outcome(
                    wanted, PublishResult.REJECTED, "SafetyPaused",
                    f"publishing v{wanted} is blocked by a safety pause; annotate the "
                    f"workflow with {ANN_RESUME}=<token> to resume",
                )
        elif wanted is None:
            target, target_plan = None, None
        elif candidate is None:
            outcome = _Outcome(
                wanted, PublishResult.PENDING, "VersionNotFound",
                f"waiting for a WorkflowVersion with spec.version {wanted} "
                f"for workflow {wf.meta.name!r}",
            )
        elif candidate.meta.name in self.lost_plans or self._plan_lost_to_edit(candidate):
            # Publishing it now would put an edit live that nobody published.
            rejected_candidate = VersionPhase.FAILED
            self.lost_plans[candidate.meta.name] = self._lost_plan_message(candidate)
            outcome = _Outcome(wanted, PublishResult.REJECTED, REASON_LIVE_PLAN_LOST,
                               self.lost_plans[candidate.meta.name])
        elif candidate is not live and self._trigger_tampered(candidate, live):
            # The Service names another version than the one published and recorded live
            # (edited by hand): point it back. A repair, not a publish: no Compiling, no
            # lastPublish, no Published/RolledBack.
            repair = True
            target, target_plan = candidate, self._live_plan(candidate)
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "TriggerRepaired",
                        f"the trigger Service named v{live.number if live else '?'}; "
                        f"pointed back at v{candidate.number}, which is live")
        elif candidate is not live:
            result = self.results[candidate.meta.name]
            new_plan = self._new_plan(candidate, result)
            if result.ok and new_plan is not None:
                target, target_plan = candidate, new_plan
                rollback = candidate.status.activatedAt is not None
                was = f" (was v{live.number})" if live is not None else ""
                outcome = _Outcome(
                    wanted, PublishResult.SUCCEEDED, "RolledBack" if rollback else "Published",
                    f"v{wanted} is live{was}",
                )
            else:
                rejected_candidate = (
                    VersionPhase.INVALID if result.invalid else VersionPhase.FAILED
                )
                outcome = _Outcome(
                    wanted, PublishResult.REJECTED,
                    "ValidationFailed" if result.invalid else "CompileFailed",
                    f"v{wanted} was not published: {_summarise(result.errors)}; "
                    + (f"v{live.number} stays live" if live else "nothing is live"),
                )

        if (outcome is None and not repair and not archived and not tripped
                and candidate is not None and candidate is live):
            outcome = self._settled_outcome(candidate)

        service_conflict = (
            self.f.service is not None
            or (Kind.SERVICE.value, service_name(wf.meta.name)) in self.f.taken_names
        ) and not self._service_is_ours()
        wired = target is not None and not (suspended or tripped or archived or service_conflict)
        slice_conflict = wired and self._slice_conflict()

        # 0. Unwiring goes first: nothing it does can make things less safe. Except when
        # the version that stays live while unwired (a safety pause, suspend) is live only
        # by the Service, a publish cut short before its statuses were written: unwiring
        # erases that record, so then it waits for the statuses (after 7).
        unwire = not wired and not service_conflict
        unwire_late = unwire and target is not None and target is live and (
            self._live_by_status() is not target)
        if unwire and not unwire_late:
            before = len(self.d.writes)
            self._service(None, None)
            self._slice(wired=False)
            first = self.d.writes[before:]
            del self.d.writes[before:]
            self.d.writes[:0] = first

        # 3-4. Publish: Compiling, then the plan (before anything points at it).
        publishing = target is not None and target is not live and not repair
        if publishing and target is not None and target.status.phase != VersionPhase.COMPILING:
            self._write(Patch(Kind.VERSION, target.meta.name,
                              {"status": {"phase": VersionPhase.COMPILING.value}},
                              target.meta.resource_version, status=True,
                              why=f"publish v{target.number}: compiling"))
        if target_plan is not None and target_plan.create is not None:
            self._write(target_plan.create)

        # 5. The data-plane switch, then the endpoints it routes to.
        if wired:
            self._service(target, target_plan)
            self._slice(wired=True)

        # 6-7. Version statuses: everyone else first, the target last.
        phases: dict[str, VersionPhase] = {}
        for v in self.canonical.values():
            if v is target:
                phases[v.meta.name] = VersionPhase.ACTIVE
            elif v is candidate and rejected_candidate is not None:
                phases[v.meta.name] = rejected_candidate
            else:
                phases[v.meta.name] = self._resting_phase(v)
        for v in self.f.versions:
            if v.meta.deleting or v is target:
                continue
            phase = phases.get(v.meta.name, VersionPhase.DRAFT)
            plan_ref = (self._lost_plan_ref(v) if v is candidate and rejected_candidate
                        and v.meta.name in self.lost_plans else self._resting_plan_ref(v))
            self._version_status(v, phase, plan_ref)
        if target is not None and target_plan is not None:
            self._version_status(target, VersionPhase.ACTIVE, target_plan)
        if unwire_late:
            self._service(None, None)
            self._slice(wired=False)

        # 8. The workflow.
        self._workflow_status(
            wf, target=target, target_plan=target_plan, wanted=wanted, candidate=candidate,
            outcome=outcome, wired=wired, tripped=tripped, safety=safety,
            service_conflict=service_conflict, previous_live=live,
            slice_conflict=slice_conflict,
        )

        # 9. Retention.
        self._retention(phases, live=live, target=target, wanted=wanted)
        return self.d

    # ------------------------------------------------------------------ pieces

    def _retention(self, phases: Mapping[str, VersionPhase], *, live: VersionObj | None,
                   target: VersionObj | None, wanted: int | None) -> None:
        """Delete the retired versions beyond spec.versionHistoryLimit (never the ones in use).

        Only versions this workflow owns, that were Inactive in the snapshot and stay so in
        this decision, may go. Protected besides (reconcile/retention.py): the live version
        before and after this decision and the one status names, the wanted one, what the
        trigger Service names (even a Service that is not ours: the runtime pins runs from
        it) and the owner of the plan it names, and every version a non-finished run is
        pinned to.
        """
        wf = self.wf
        assert wf is not None
        limit = wf.spec.versionHistoryLimit
        if limit is None:
            return
        owned = [
            v for v in self.canonical.values()
            if phases.get(v.meta.name) == VersionPhase.INACTIVE
            and any(r.uid == wf.meta.uid and r.controller for r in v.meta.owner_refs)
        ]
        active = {v.number for v in (live, target) if v is not None}
        if wf.status.activeVersion is not None:
            active.add(wf.status.activeVersion)
        served: set[int] = set()
        svc = self.f.service
        if svc is not None:
            served_number = parse_decimal(svc.meta.annotations.get(ANN_ACTIVE_VERSION))
            if served_number is not None:
                served.add(served_number)
            plan = self.plans.get(svc.meta.annotations.get(ANN_PLAN, ""))
            owners = {r.uid for r in plan.meta.owner_refs} if plan is not None else set()
            served |= {v.number for v in self.canonical.values() if v.meta.uid in owners}
        retention = plan_retention(
            owned, limit, active=active, wanted=wanted, served=served,
            pinned=self.f.pinned_versions, now=self.now,
            grace_seconds=self.s.version_retention_grace_seconds)
        by_name = {v.meta.name: v for v in owned}
        for name in retention.delete:
            v = by_name[name]
            self._write(Delete(Kind.VERSION, v.meta.name, v.meta.uid,
                               why=f"retire v{v.number}: versionHistoryLimit {limit}"))
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "VersionDeleted",
                        f"deleted retired v{v.number} ({v.meta.name}) and its plan: "
                        f"spec.versionHistoryLimit is {limit}")
        self.d.requeue_after = retention.recheck_after

    def _held_spec(self, wf: WorkflowObj) -> WorkflowSpec:
        """The intent while the spec cannot be read: everything as it is now.

        What is live stays live (suspended or archived if it was), nothing is published,
        and no version is retired. Built without validation: the live number may be one
        the model would now refuse.
        """
        live = self._live_now()
        return WorkflowSpec.model_construct(
            displayName=None,
            publishedVersion=live.number if live is not None else None,
            suspend=wf.status.phase == WorkflowPhase.DISABLED,
            archived=wf.status.phase == WorkflowPhase.ARCHIVED,
            versionHistoryLimit=None,
        )

    def _unusable(self, wf: WorkflowObj, problem: str) -> None:
        """A workflow whose name cannot name its Service: say so, and write nothing else.

        Every object write (labels, plan, Service) would be refused by the API server and
        retried forever, leaving the user with no status at all.
        """
        for v in self.f.versions:
            if not v.meta.deleting:
                self._version_status(v, self._resting_phase(v), self._resting_plan_ref(v))
        message = (f"the workflow cannot be wired: its trigger Service name {problem}; "
                   "recreate the workflow under a name of at most 55 lowercase letters, "
                   "digits and '-'")
        wanted = wf.spec.publishedVersion
        outcome = (_Outcome(wanted, PublishResult.REJECTED, "InvalidName", message)
                   if wanted is not None else None)
        self._workflow_status(
            wf, target=None, target_plan=None, wanted=wanted,
            candidate=self.canonical.get(wanted) if wanted is not None else None,
            outcome=outcome, wired=False, tripped=False, safety=wf.status.safety,
            service_conflict=False, previous_live=None, blocker=("InvalidName", message),
        )

    def _orphans(self) -> None:
        """Versions whose Workflow does not exist (yet): validate them, nothing else."""
        for v in self.f.versions:
            if v.meta.deleting:
                continue
            prev = v.status.phase
            phase = prev if prev in (VersionPhase.ACTIVE, VersionPhase.INACTIVE) else (
                self._resting_phase(v)
            )
            self._version_status(v, phase, self._resting_plan_ref(v))

    def _adopt_versions(self) -> None:
        wf = self.wf
        assert wf is not None
        for v in self.f.versions:
            if v.meta.deleting or v.meta.name in self.family_errors:
                continue
            meta: dict[str, Any] = {}
            if v.meta.labels.get(LABEL_WORKFLOW) != wf.meta.name:
                meta["labels"] = {LABEL_WORKFLOW: wf.meta.name}
            if not any(r.uid == wf.meta.uid for r in v.meta.owner_refs):
                refs = [r.to_api() for r in v.meta.owner_refs if r.kind != WORKFLOW_OWNER_KIND]
                meta["ownerReferences"] = [*refs, self._owner_ref().to_api()]
            if meta:
                self._write(Patch(Kind.VERSION, v.meta.name, {"metadata": meta},
                                  v.meta.resource_version, why="adopt version"))

    def _fork_if_edited(self, live: VersionObj, live_plan: _LivePlan) -> None:
        if self.results[live.meta.name].graph_hash == live_plan.hash:
            return
        assert live_plan.graph is not None
        if self._fork_edit(live) is None:
            return
        self._write(Patch(Kind.VERSION, live.meta.name, {"spec": {"graph": live_plan.graph}},
                          live.meta.resource_version, why=f"restore live v{live.number}"))
        self.spec_patched.add(live.meta.name)
        self.results[live.meta.name] = compile_graph(live_plan.graph, self.s.limits)

    def _fork_edit(self, live: VersionObj) -> int | None:
        """Save the edit of live v as a draft (once per edit): the draft's number, or None
        (and `fork_refused` says why) when no number is left for it."""
        edited_hash = self.results[live.meta.name].graph_hash
        wf = self.wf
        assert wf is not None
        already = [
            v for v in self.f.versions
            if v.forked_from == live.number and self.results[v.meta.name].graph_hash == edited_hash
            and edited_hash is not None
        ]
        if not already:
            # The next free number, under a name no other object has: versions of other
            # workflows share the namespace, and a create that finds the name taken must
            # not be taken for the fork (the restore below would lose the user's edit).
            number = max([v.number for v in self.f.versions] + [0]) + 1
            taken = {v.meta.name for v in self.f.versions} | {
                n for k, n in self.f.taken_names if k == Kind.VERSION.value}
            while f"{wf.meta.name}-v{number}" in taken:
                number += 1
            if number > VERSION_MAX:
                # No number is left for the draft, and restoring the live graph would
                # discard the edit: keep both as they are (the plan serves the published
                # graph) and ask the user, instead of a create the API server refuses.
                self.fork_refused = (
                    f"the edit of live v{live.number} cannot be saved as a new draft: "
                    f"version numbers end at {VERSION_MAX}; v{live.number} keeps serving "
                    "its published graph. Undo the edit of "
                    f"{live.meta.name} (or publish another version first)")
                return None
            name = f"{wf.meta.name}-v{number}"
            body = {
                "apiVersion": API_VERSION,
                "kind": "WorkflowVersion",
                "metadata": {
                    "name": name,
                    "namespace": self.f.namespace,
                    "labels": {LABEL_WORKFLOW: wf.meta.name},
                    "annotations": {ANN_FORKED_FROM: str(live.number)},
                    "ownerReferences": [self._owner_ref().to_api()],
                },
                "spec": {
                    "workflowRef": {"name": wf.meta.name},
                    "version": number,
                    "label": f"Draft from v{live.number}",
                    "graph": live.graph_raw,
                },
            }
            self._write(Create(Kind.VERSION, name, body, why=f"fork of edited v{live.number}"))
            msg = (f"the edit of live v{live.number} was saved as draft v{number} ({name}); "
                   f"v{live.number} keeps serving unchanged")
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "Forked", msg)
            self._event(Kind.VERSION, live.meta.name, live.meta.uid, "Normal", "Forked", msg)
            return number
        return max(v.number for v in already)

    def _reverts(self, live: VersionObj | None, live_plan: _LivePlan | None) -> None:
        for v in self.canonical.values():
            token = v.meta.annotations.get(ANN_REVERT)
            if not token or token == v.status.lastRevertToken:
                continue
            if v is live:
                self._event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning", "RevertIgnored",
                            f"v{v.number} is the live version; there is nothing to revert")
            elif live_plan is None or live_plan.graph is None:
                self._event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning", "RevertIgnored",
                            "no version is live, so there is no published graph to revert to")
            elif self.results[v.meta.name].graph_hash != live_plan.hash:
                assert live is not None
                self._write(Patch(Kind.VERSION, v.meta.name, {"spec": {"graph": live_plan.graph}},
                                  v.meta.resource_version, why=f"revert v{v.number}"))
                self.spec_patched.add(v.meta.name)
                self.results[v.meta.name] = compile_graph(live_plan.graph, self.s.limits)
                self._event(Kind.VERSION, v.meta.name, v.meta.uid, "Normal", "Reverted",
                            f"graph replaced with the graph of live v{live.number}")

    def _resting_phase(self, v: VersionObj) -> VersionPhase:
        """The phase of a version that is neither being published nor live."""
        prev = v.status.phase
        current = self.results[v.meta.name].graph_hash
        plan = self._plan_of(v, current) if current else None
        was_live = v.status.activatedAt is not None
        if prev == VersionPhase.ACTIVE:
            return VersionPhase.INACTIVE if plan is not None else VersionPhase.DRAFT
        if prev in (VersionPhase.INACTIVE, VersionPhase.COMPILING):
            return VersionPhase.INACTIVE if plan is not None and was_live else VersionPhase.DRAFT
        if prev == VersionPhase.FAILED and self._plan_lost_to_edit(v):
            return VersionPhase.DRAFT  # no longer wanted live: an edited draft, as it is
        if prev in (VersionPhase.INVALID, VersionPhase.FAILED):
            return prev if current == v.status.graphHash else VersionPhase.DRAFT
        return VersionPhase.DRAFT

    def _resting_plan_ref(self, v: VersionObj) -> _LivePlan | None:
        ref = v.status.plan
        if ref is None or ref.configMap not in self.plans:
            current = self.results[v.meta.name].graph_hash
            plan = self._plan_of(v, current) if current else None
            if plan is None or not plan.hash:
                return None
            return _LivePlan(plan.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph,
                             plan.meta.creation_timestamp or self.now)
        plan = self.plans[ref.configMap]
        return _LivePlan(ref.configMap, ref.hash, ref.steps, plan.trigger_type, plan.graph,
                         ref.compiledAt)

    def _service(self, target: VersionObj | None, plan: _LivePlan | None) -> None:
        wf = self.wf
        assert wf is not None
        name = service_name(wf.meta.name)
        wired = target is not None and plan is not None
        annotations: dict[str, str | None] = {
            ANN_ACTIVE_VERSION: str(target.number) if wired and target else None,
            ANN_PLAN: plan.name if wired and plan else None,
            ANN_PLAN_HASH: plan.hash if wired and plan else None,
            ANN_TRIGGER_TYPE: (plan.trigger_type if wired and plan else None),
        }
        labels = {LABEL_WORKFLOW: wf.meta.name, LABEL_COMPONENT: "trigger",
                  LABEL_MANAGED_BY: MANAGED_BY}
        selector = dict(self.s.runtime_selector) if wired else None
        ports = [{"name": SERVICE_PORT_NAME, "port": self.s.service_port,
                  "targetPort": self.s.target_port, "protocol": "TCP"}]
        svc = self.f.service
        why = f"wire v{target.number}" if wired and target else "unwire"
        if svc is None:
            spec: dict[str, Any] = {"type": "ClusterIP", "ports": ports}
            if selector:
                spec["selector"] = selector
            body = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": self.f.namespace,
                    "labels": labels,
                    "annotations": {k: v for k, v in annotations.items() if v is not None},
                    "ownerReferences": [self._owner_ref().to_api()],
                },
                "spec": spec,
            }
            self._write(Create(Kind.SERVICE, name, body, why=why))
            return
        patch: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        ann_patch = {k: v for k, v in annotations.items() if svc.meta.annotations.get(k) != v}
        if ann_patch:
            meta["annotations"] = ann_patch
        label_patch = {k: v for k, v in labels.items() if svc.meta.labels.get(k) != v}
        if label_patch:
            meta["labels"] = label_patch
        if not any(r.uid == wf.meta.uid for r in svc.meta.owner_refs):
            meta["ownerReferences"] = [self._owner_ref().to_api()]
        if meta:
            patch["metadata"] = meta
        spec_patch: dict[str, Any] = {}
        if (svc.selector or None) != selector:
            spec_patch["selector"] = selector
        observed_ports = [
            {k: p.get(k) for k in ("name", "port", "targetPort", "protocol")} for p in svc.ports
        ]
        if observed_ports != ports:
            spec_patch["ports"] = ports
        if spec_patch:
            patch["spec"] = spec_patch
        if patch:
            self._write(Patch(Kind.SERVICE, name, patch, svc.meta.resource_version, why=why))

    def _slice_is_ours(self, observed: EndpointSliceObj) -> bool:
        """Ours: labelled as managed by the operator, IPv4, owned by no one or by a Service
        of the trigger's name (a stale uid is re-owned: the Service was recreated)."""
        assert self.wf is not None
        svc_name = service_name(self.wf.meta.name)
        return (
            observed.meta.labels.get(LABEL_SLICE_MANAGED_BY) == SLICE_MANAGER
            and observed.address_type == "IPv4"
            and (not observed.meta.owner_refs or any(
                r.kind == "Service" and r.name == svc_name for r in observed.meta.owner_refs))
        )

    def _slice_conflict(self) -> bool:
        """The slice's name is held by an object that is not ours: report it, never write it."""
        if self.s.runtime_service is None:
            return False
        assert self.wf is not None
        observed = self.f.endpoint_slice
        if observed is not None:
            return not self._slice_is_ours(observed)
        name = endpoint_slice_name(self.wf.meta.name)
        return (Kind.ENDPOINT_SLICE.value, name) in self.f.taken_names

    def _slice(self, *, wired: bool) -> None:
        """The trigger Service's mirrored EndpointSlice.

        While wired: the runtime's ready endpoints, created once the Service exists (it
        owns the slice, so it needs the Service's uid). While unwired, or with mirroring
        off: no endpoints (an existing slice is emptied, never created). A slice whose
        name someone else holds is left alone (reported in status); while the runtime's
        endpoints are not known yet, a wired slice is left as it is.
        """
        wf = self.wf
        assert wf is not None
        name = endpoint_slice_name(wf.meta.name)
        observed = self.f.endpoint_slice
        if observed is not None and not self._slice_is_ours(observed):
            return
        mirror = wired and self.s.runtime_service is not None
        if not mirror:
            if observed is not None and observed.endpoints:
                why = "unwire" if not wired else "mirroring is off"
                self._write(Patch(Kind.ENDPOINT_SLICE, name, {"endpoints": []},
                                  observed.meta.resource_version, why=why))
            return
        runtime, svc = self.f.runtime_endpoints, self.f.service
        if runtime is None or svc is None or not svc.meta.uid:
            return  # the runtime's endpoints not listed yet / the Service not created yet
        if observed is None and self._slice_conflict():
            return
        svc_name = service_name(wf.meta.name)
        labels = {LABEL_SERVICE_NAME: svc_name, LABEL_SLICE_MANAGED_BY: SLICE_MANAGER,
                  LABEL_WORKFLOW: wf.meta.name, LABEL_COMPONENT: "trigger-endpoints",
                  LABEL_MANAGED_BY: MANAGED_BY}
        owner = {"apiVersion": "v1", "kind": "Service", "name": svc_name,
                 "uid": svc.meta.uid, "controller": True}
        ports = [{"name": SERVICE_PORT_NAME, "port": runtime.port or self.s.target_port,
                  "protocol": "TCP"}]
        endpoints = [{"addresses": [a], "conditions": {"ready": True}}
                     for a in runtime.addresses]
        why = f"mirror {len(endpoints)} runtime endpoints"
        if observed is None:
            body = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": name, "namespace": self.f.namespace, "labels": labels,
                             "ownerReferences": [owner]},
                "addressType": "IPv4",
                "ports": ports,
                "endpoints": endpoints,
            }
            self._write(Create(Kind.ENDPOINT_SLICE, name, body, why=why))
            return
        patch: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        label_patch = {k: v for k, v in labels.items() if observed.meta.labels.get(k) != v}
        if label_patch:
            meta["labels"] = label_patch
        if not any(r.uid == svc.meta.uid for r in observed.meta.owner_refs):
            meta["ownerReferences"] = [owner]
        if meta:
            patch["metadata"] = meta
        if list(observed.ports) != ports:
            patch["ports"] = ports
        if list(observed.endpoints) != endpoints:
            patch["endpoints"] = endpoints
        if patch:
            self._write(Patch(Kind.ENDPOINT_SLICE, name, patch, observed.meta.resource_version,
                              why=why))

    def _version_status(
        self, v: VersionObj, phase: VersionPhase, plan: _LivePlan | None
    ) -> None:
        result = self.results[v.meta.name]
        prev = v.status
        if self.f.workflow is None:
            found = Desired.of(
                "WorkflowFound", False, "WorkflowNotFound",
                f"no Workflow {v.workflow_name!r} in namespace {self.f.namespace!r} "
                "(spec.workflowRef.name); this version cannot be published until it exists")
            before = next((c for c in prev.conditions if c.type == "WorkflowFound"), None)
            if before is None or before.status != "False":
                self._event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning",
                            "WorkflowNotFound", found.message)
        else:
            found = Desired.of("WorkflowFound", True, "WorkflowFound",
                               f"workflow {v.workflow_name!r} exists")
        errors = ([self.family_errors[v.meta.name]] if v.meta.name in self.family_errors else [])
        errors += list(result.errors)
        if len(errors) > MAX_STATUS_ERRORS:
            hidden = len(errors) - MAX_STATUS_ERRORS + 1
            errors = [*errors[: MAX_STATUS_ERRORS - 1], GraphError(
                code="TooManyErrors", message=f"{hidden} more errors are not listed")]
        graph_hash = result.graph_hash
        generation = v.meta.generation + (1 if v.meta.name in self.spec_patched else 0)
        activated_at = prev.activatedAt
        deactivated_at = prev.deactivatedAt
        if phase == VersionPhase.ACTIVE and prev.phase != VersionPhase.ACTIVE:
            activated_at = self.now
        if prev.phase == VersionPhase.ACTIVE and phase != VersionPhase.ACTIVE:
            deactivated_at = self.now
        plan_ref = (
            PlanRef(configMap=plan.name, hash=plan.hash, steps=plan.steps,
                    compiledAt=plan.compiled_at or self.now)
            if plan is not None else None
        )

        node_count = _node_count(v.graph_raw)
        if not errors:
            validated = Desired.of("Validated", True, "Valid",
                                   f"the graph is valid ({_nodes_phrase(node_count)})")
        elif v.meta.name in self.family_errors:
            validated = Desired.of("Validated", False, self.family_errors[v.meta.name].code,
                                   _summarise(errors))
        else:
            validated = Desired.of(
                "Validated", False, "GraphInvalid" if result.invalid else "PlanLimitExceeded",
                _summarise(errors),
            )
        if phase == VersionPhase.FAILED and v.meta.name in self.lost_plans:
            compiled = Desired.of("Compiled", False, REASON_LIVE_PLAN_LOST,
                                  self.lost_plans[v.meta.name])
        elif phase == VersionPhase.FAILED:
            compiled = Desired.of("Compiled", False, "CompileFailed", _summarise(errors))
        elif plan_ref is not None and plan_ref.hash == graph_hash:
            compiled = Desired.of("Compiled", True, "PlanReady",
                                  f"plan {plan_ref.configMap} ({plan_ref.steps} steps)")
        elif plan_ref is not None:
            compiled = Desired.of("Compiled", False, "PlanOutdated",
                                  f"the graph changed after plan {plan_ref.configMap} was compiled;"
                                  " it is compiled again when published")
        else:
            compiled = Desired.of("Compiled", False, "NotCompiled",
                                  "compiled when published")
        if phase == VersionPhase.ACTIVE:
            active = Desired.of("Active", True, "Live", f"v{v.number} receives the live events")
        elif phase == VersionPhase.INACTIVE:
            active = Desired.of("Active", False, "Retired", "retired; publish it to roll back")
        else:
            active = Desired.of("Active", False, "NotLive", "only the active version is live")

        status = WorkflowVersionStatus(
            phase=phase,
            observedGeneration=generation,
            graphHash=graph_hash,
            shortHash=short_hash(graph_hash),
            nodeCount=node_count,
            errors=errors,
            plan=plan_ref,
            forkedFrom=v.forked_from,
            activatedAt=activated_at,
            deactivatedAt=deactivated_at,
            lastRevertToken=v.meta.annotations.get(ANN_REVERT) or prev.lastRevertToken,
            conditions=merge_conditions(prev.conditions, [validated, compiled, active, found],
                                        now=self.now, generation=generation),
        )
        self._status_patch(Kind.VERSION, v.meta.name, v.meta.resource_version, v.status_raw,
                           status.model_dump(mode="json", exclude_none=True),
                           why=f"v{v.number} {phase.value}")

    def _workflow_status(
        self,
        wf: WorkflowObj,
        *,
        target: VersionObj | None,
        target_plan: _LivePlan | None,
        wanted: int | None,
        candidate: VersionObj | None,
        outcome: _Outcome | None,
        wired: bool,
        tripped: bool,
        safety: SafetyStatus | None,
        service_conflict: bool,
        previous_live: VersionObj | None,
        blocker: tuple[str, str] | None = None,
        slice_conflict: bool = False,
    ) -> None:
        spec = wf.spec
        svc = service_name(wf.meta.name)
        if spec.archived:
            phase = WorkflowPhase.ARCHIVED
        elif tripped:
            phase = WorkflowPhase.PAUSED_SAFETY
        elif spec.suspend:
            phase = WorkflowPhase.DISABLED
        elif target is not None:
            phase = WorkflowPhase.PUBLISHED
        else:
            phase = WorkflowPhase.DRAFT

        last = wf.status.lastPublish
        if outcome is not None:
            same = last is not None and (last.version, last.result, last.reason, last.message) == (
                outcome.version, outcome.result, outcome.reason, outcome.message)
            if not same:
                last = LastPublish(version=outcome.version, result=outcome.result,
                                   reason=outcome.reason, message=outcome.message, time=self.now)
                if outcome.result == PublishResult.REJECTED:
                    self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning",
                                "PublishRejected", outcome.message, detail=outcome.reason)
                elif outcome.result == PublishResult.SUCCEEDED:
                    self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal",
                                outcome.reason, outcome.message)
                else:
                    self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal",
                                "PublishPending", outcome.message)
        if previous_live is not None and target is None and not spec.archived:
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "Deactivated",
                        f"v{previous_live.number} was deactivated; nothing is live")
        if previous_live is not None and target is None and spec.archived:
            self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", "Archived",
                        f"archived; v{previous_live.number} was deactivated")

        live_n = target.number if target is not None else None
        if target is not None:
            published = Desired.of("Published", True, "VersionActive",
                                   f"v{target.number} ({target.meta.name}) is the active version")
        elif spec.archived:
            published = Desired.of("Published", False, "Archived", "the workflow is archived")
        elif wanted is not None and candidate is None and not tripped:
            published = Desired.of("Published", False, "VersionNotFound",
                                   outcome.message if outcome else "version not found")
        else:
            published = Desired.of("Published", False, "NoActiveVersion",
                                   "no version is live; set spec.publishedVersion to publish one")

        if blocker is not None:
            trig = Desired.of("TriggerWired", False, *blocker)
        elif service_conflict:
            trig = Desired.of("TriggerWired", False, "ServiceConflict",
                              f"Service {svc} exists and is not owned by this workflow")
        elif slice_conflict:
            trig = Desired.of("TriggerWired", False, "EndpointSliceConflict",
                              f"EndpointSlice {endpoint_slice_name(wf.meta.name)} exists and "
                              f"is not managed by this workflow, so {svc} cannot reach the "
                              "runtime; delete or rename it")
        elif wired:
            trig = Desired.of("TriggerWired", True, "Wired", f"{svc} routes to v{live_n}")
        else:
            why, text = (
                ("Archived", "the workflow is archived") if spec.archived else
                ("SafetyPaused", "unwired by a safety pause") if tripped else
                ("Suspended", "unwired because spec.suspend is true") if spec.suspend else
                ("NoActiveVersion", "no version is live")
            )
            trig = Desired.of("TriggerWired", False, why, f"{svc} has no selector: {text}")

        if tripped and safety is not None:
            paused = Desired.of("SafetyPaused", True,
                                safe_reason(safety.reason or "", "SafetyTripped"),
                                safe_message(safety.message or "a safety check tripped",
                                             SAFETY_MESSAGE_MAX))
        elif safety is not None and safety.resumedAt:
            paused = Desired.of("SafetyPaused", False, "Resumed",
                                f"resumed at {safety.resumedAt}")
        else:
            paused = Desired.of("SafetyPaused", False, "NotTripped", "no safety check tripped")

        if blocker is not None:
            ready = Desired.of("Ready", False, *blocker)
        elif wf.spec_error is not None:
            held = (f"v{live_n} stays live as it is" if live_n is not None
                    else "nothing is live")
            ready = Desired.of("Ready", False, REASON_INVALID_SPEC,
                               safe_message(f"the spec cannot be read ({wf.spec_error}); "
                                            f"{held} until it is fixed", 4096))
            before = next((c for c in wf.status.conditions if c.type == "Ready"), None)
            if before is None or (before.reason, before.message) != (
                    safe_reason(ready.reason), safe_message(ready.message)):
                self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning",
                            REASON_INVALID_SPEC, ready.message)
        elif self.fork_refused is not None:
            ready = Desired.of("Ready", False, REASON_FORK_REFUSED, self.fork_refused)
            before = next((c for c in wf.status.conditions if c.type == "Ready"), None)
            if before is None or (before.reason, before.message) != (
                    ready.reason, ready.message):
                self._event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning",
                            REASON_FORK_REFUSED, ready.message)
        elif service_conflict:
            ready = Desired.of("Ready", False, "ServiceConflict", trig.message)
        elif slice_conflict:
            ready = Desired.of("Ready", False, "EndpointSliceConflict", trig.message)
        elif tripped:
            ready = Desired.of("Ready", False, "SafetyPaused",
                               f"paused by a safety check; annotate {ANN_RESUME}=<token> to resume")
        elif spec.archived:
            # Archiving is the user's ask: done once nothing is live, even while
            # spec.publishedVersion still names a version (it is ignored, and said so).
            ready = Desired.of(
                "Ready", True, "Archived",
                f"archived; nothing is live (spec.publishedVersion {wanted} is ignored while "
                "archived: remove it)" if wanted is not None else "archived; nothing is live")
        elif wanted is None:
            ready = Desired.of("Ready", True, "NothingPublished",
                               "no version is wanted live, and none is")
        elif live_n == wanted:
            ready = (Desired.of("Ready", True, "Suspended", f"v{wanted} is active; trigger "
                                "unwired while suspended") if spec.suspend else
                     Desired.of("Ready", True, "Published", f"v{wanted} is live"))
        else:
            ready = Desired.of("Ready", False, outcome.reason if outcome else "Publishing",
                               outcome.message if outcome else f"publishing v{wanted}")

        versions = [v.number for v in self.canonical.values()]
        status = WorkflowStatus(
            phase=phase,
            activeVersion=live_n,
            activeVersionName=target.meta.name if target is not None else None,
            latestVersion=max(versions) if versions else None,
            observedGeneration=wf.meta.generation,
            trigger=TriggerStatus(
                service=svc, enabled=wired,
                url=trigger_url(svc, self.f.namespace,
                                target_plan.graph if target_plan else None),
                type=target_plan.trigger_type if wired and target_plan else None,
            ),
            lastPublish=last,
            safety=safety,
            conditions=merge_conditions(wf.status.conditions, [ready, published, trig, paused],
                                        now=self.now, generation=wf.meta.generation),
        )
        desired = status.model_dump(mode="json", exclude_none=True)
        self._status_patch(Kind.WORKFLOW, wf.meta.name, wf.meta.resource_version, wf.status_raw,
                           desired, why=f"workflow {phase.value}")

    # ------------------------------------------------------------------ output

    def _status_patch(self, kind: Kind, name: str, rv: str, observed: Mapping[str, Any],
                      desired: dict[str, Any], why: str) -> None:
        change = diff(dict(observed), desired)
        if change is not None:
            self._write(Patch(kind, name, {"status": change}, rv, status=True, why=why))

    def _write(self, write: Write) -> None:
        self.d.writes.append(write)

    def _event(self, kind: Kind, name: str, uid: str, type_: str, reason: str, msg: str,
               detail: str = "") -> None:
        self.d.events.append(Event(kind, name, uid, type_, reason, msg, detail))


def _node_count(raw: Any) -> int:
    if isinstance(raw, dict) and isinstance(raw.get("nodes"), list):
        return len(raw["nodes"])
    return 0


def trigger_url(service: str, namespace: str, graph: Mapping[str, Any] | None) -> str:
    """Where to send events: the Service, plus the webhook's path when the graph has one
    (the runtime answers 404 NoSuchPath on any other path)."""
    base = f"http://{service}.{namespace}.svc"
    nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, Mapping) and node.get("role") == "trigger":
            config = node.get("config")
            path = config.get("path") if isinstance(config, Mapping) else None
            if node.get("type") == "webhook" and isinstance(path, str) and path.startswith("/"):
                return base + path
            break
    return base + "/"


def short_hash(graph_hash: str | None) -> str | None:
    """The first 12 hex digits, as `docker images` shows an id: enough to tell versions apart."""
    if not graph_hash:
        return None
    return graph_hash.partition(":")[2][:12] or graph_hash[:12]


def _nodes_phrase(n: int) -> str:
    """"1 node", "3 nodes": the count users read in conditions."""
    return f"{n} node" if n == 1 else f"{n} nodes"


def _summarise(errors: list[GraphError] | tuple[GraphError, ...], most: int = 3) -> str:
    parts = [f"{e.code}: {e.message}" for e in errors[:most]]
    if len(errors) > most:
        parts.append(f"(+{len(errors) - most} more)")
    return "; ".join(parts) if parts else "no errors"


__all__ = ["Graph", "decide", "endpoint_slice_name", "plan_label_hash", "service_name"]
