"""decide(): one workflow family's snapshot in, the ordered writes to converge it out.

Everything the product does is decided here: validation of every version, publish,
rollback and deactivation through `spec.publishedVersion`, fork on edit, revert,
safety pause and resume, suspend and archive, and the derived phases and conditions.
This module keeps the order; the pieces are pure modules beside it: identity (which
object is which), plans, intent (the publish state machine), edits (fork, restore,
revert), status (phases and one function per condition), objects (bodies and names),
retention, all over one pass's Context.

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

from dataclasses import replace

from flowplane.compiler import CompileResult, compile_graph
from flowplane.model.reasons import (
    EVENT_RESUMED,
    EVENT_SAFETY_PAUSED,
    EVENT_TRIGGER_REPAIRED,
    REASON_INVALID_NAME,
)
from flowplane.model.resources import (
    ANN_RESUME,
    PublishResult,
    SafetyStatus,
    VersionPhase,
    WorkflowPhase,
    WorkflowSpec,
)
from flowplane.model.timestamps import parse_timestamp
from flowplane.reconcile import edits, identity, plans, status
from flowplane.reconcile.compile_cache import CompileCache
from flowplane.reconcile.context import Context
from flowplane.reconcile.intent import Intent, Outcome, Target, choose_target, settled_outcome
from flowplane.reconcile.objects import (
    service_name,
    service_write,
    slice_conflict,
    slice_write,
    workflow_name_problem,
)
from flowplane.reconcile.plans import LivePlan
from flowplane.reconcile.retention import retire
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import Family, VersionObj, WorkflowObj
from flowplane.reconcile.writes import Decision, Kind, Patch

__all__ = ["decide"]


def decide(family: Family, settings: Settings, now: str,
           compile_cache: CompileCache | None = None) -> Decision:
    """Pure: the writes and events that move `family` towards what its users asked for.

    `compile_cache` only remembers compile results (an exact key), never changes them.
    """
    return _Decider(family, settings, now, compile_cache).run()


class _Decider:
    """One pass over one family: run() is the steps of the module docstring, in order."""

    def __init__(self, family: Family, settings: Settings, now: str,
                 compile_cache: CompileCache | None = None) -> None:
        wf = family.workflow
        results: dict[str, CompileResult] = {
            v.meta.name: (
                compile_cache.compile(v.meta.uid, v.meta.generation, v.graph_raw,
                                      settings.limits)
                if compile_cache is not None else compile_graph(v.graph_raw, settings.limits))
            for v in family.versions
        }
        self.ctx = Context(
            family=family, settings=settings, now=now,
            workflow=wf if wf is not None and not wf.meta.deleting else None,
            results=results, plans={p.meta.name: p for p in family.plans},
        )
        identity.resolve_versions(self.ctx)

    @property
    def decision(self) -> Decision:
        return self.ctx.decision

    def run(self) -> Decision:
        ctx = self.ctx
        if ctx.workflow is None:
            self._orphans()
            return self.decision
        wf = ctx.workflow
        if wf.spec_error is not None:
            # A spec that cannot be read says nothing about what should be live: hold what
            # is (never the defaults, which would deactivate) and report it.
            wf = ctx.workflow = replace(wf, spec=self._held_spec(wf))
        name_problem = workflow_name_problem(wf.meta.name)
        if name_problem is not None:
            self._unusable(wf, name_problem)
            return self.decision
        identity.adopt_versions(ctx)  # 1
        safety, tripped = self._safety(wf)

        wanted = wf.spec.publishedVersion
        live, live_plan = self._live()
        # 2. Fork on edit (an edit of the live version becomes a new draft; the live graph
        # stays), then reverts.
        if live is not None and live_plan is not None and live_plan.graph is not None:
            edits.fork_if_edited(ctx, live, live_plan)
        edits.reverts(ctx, live, live_plan)

        candidate = ctx.canonical.get(wanted) if wanted is not None else None
        choice = self._choose(wf, tripped, wanted, live, live_plan, candidate)
        target, target_plan = choice.version, choice.plan
        wired, service_conflict, slice_conflicted = self._wiring(wf, target, tripped)

        # 0. Unwiring goes first: nothing it does can make things less safe. Except when
        # the version that stays live while unwired (a safety pause, suspend) is live only
        # by the Service, a publish cut short before its statuses were written: unwiring
        # erases that record, so then it waits for the statuses (after 7).
        unwire = not wired and not service_conflict
        unwire_late = unwire and target is not None and target is live and (
            identity.live_by_status(ctx) is not target)
        if unwire and not unwire_late:
            self._unwire(first=True)

        # 3-4. Publish: Compiling, then the plan (before anything points at it).
        if target is not None and target is not live and not choice.repair:
            self._compiling(target)
        if target_plan is not None and target_plan.create is not None:
            ctx.write(target_plan.create)

        # 5. The data-plane switch, then the endpoints it routes to.
        if wired:
            ctx.write(service_write(ctx.family, ctx.settings, wf, target, target_plan))
            ctx.write(slice_write(ctx.family, ctx.settings, wf.meta.name, wired=True))

        # 6-7. Version statuses: everyone else first, the target last.
        phases = self._version_statuses(target, target_plan, candidate, choice.rejected)
        if unwire_late:
            self._unwire()

        # 8. The workflow.
        status.workflow_status(
            ctx, wf, target=target, target_plan=target_plan, wanted=wanted,
            candidate=candidate, outcome=choice.outcome, wired=wired, tripped=tripped,
            safety=safety, service_conflict=service_conflict, previous_live=live,
            slice_conflict=slice_conflicted,
        )

        # 9. Retention.
        retire(ctx, phases, live=live, target=target, wanted=wanted)
        return self.decision

    # ------------------------------------------------------------------ steps

    def _safety(self, wf: WorkflowObj) -> tuple[SafetyStatus | None, bool]:
        """The safety status after this pass, and whether it is tripped.

        A resume token clears the trip; nothing else does. A trip is stamped (and
        announced) once, when it is new since the last resume.
        """
        ctx = self.ctx
        safety = wf.status.safety.model_copy() if wf.status.safety else None
        resume_token = wf.meta.annotations.get(ANN_RESUME)
        if resume_token and (safety is None or safety.lastResumeToken != resume_token):
            safety = safety or SafetyStatus()
            if safety.tripped:
                safety.tripped = False
                safety.resumedAt = ctx.now
                ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", EVENT_RESUMED,
                          "resumed from safety pause; publishing is allowed again")
            safety.lastResumeToken = resume_token
        tripped = bool(safety and safety.tripped)
        tripped_at = parse_timestamp(safety.trippedAt) if safety else None
        resumed_at = parse_timestamp(safety.resumedAt) if safety else None
        fresh_trip = safety is not None and safety.tripped and (
            tripped_at is None or (resumed_at is not None and resumed_at > tripped_at))
        if safety is not None and fresh_trip:
            # Never stamped before the resume it follows: with a resumedAt ahead of our
            # clock (skew, or a hand edit), every pass would take the trip for a new one.
            now = parse_timestamp(ctx.now)
            safety.trippedAt = (safety.resumedAt if resumed_at is not None and now is not None
                                and resumed_at > now else ctx.now)
            ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning", EVENT_SAFETY_PAUSED,
                      f"safety pause: {safety.reason or 'tripped'}: {safety.message or ''}"
                      .rstrip(": "))
        return safety, tripped

    def _live(self) -> tuple[VersionObj | None, LivePlan | None]:
        """What serves now, and the plan it runs.

        A live version whose plan is gone and whose graph was edited since it was
        published (or no longer compiles) is not live: nothing can serve it. Its edit is
        kept as a draft; publishing the version again reports why.
        """
        ctx = self.ctx
        live = identity.live_now(ctx)
        if live is None:
            return None, None
        live_plan, lost = plans.live_plan(ctx, live)
        if lost:
            ctx.lost_plans[live.meta.name] = ""
        if live_plan is None:
            if live.meta.name in ctx.lost_plans:
                fork = edits.fork_edit(ctx, live)
                if fork is not None:
                    ctx.lost_plan_forks[live.meta.name] = fork
            return None, None
        return live, live_plan

    def _choose(self, wf: WorkflowObj, tripped: bool, wanted: int | None,
                live: VersionObj | None, live_plan: LivePlan | None,
                candidate: VersionObj | None) -> Target:
        """Where the live pointer should be: the facts for intent.choose_target, looked up
        only where it reads them, and what it decides that this pass must remember."""
        ctx = self.ctx
        intent = Intent(workflow=wf.meta.name, archived=wf.spec.archived, tripped=tripped,
                        wanted=wanted, live=live, live_plan=live_plan, candidate=candidate)
        if candidate is not None and not wf.spec.archived and not tripped:
            lost = (candidate.meta.name in ctx.lost_plans
                    or plans.plan_lost_to_edit(ctx, candidate))
            intent = replace(
                intent, candidate_result=ctx.results[candidate.meta.name],
                candidate_plan_lost=lost, status_active=wf.status.activeVersion,
                lost_plan_message=plans.lost_plan_message(ctx, candidate) if lost else "")
            if not lost and candidate is live:
                intent = replace(intent, settled=settled_outcome(wf, candidate))
            elif not lost:
                status_live = identity.live_by_status(ctx)
                candidate_plan, candidate_lost = (
                    plans.live_plan(ctx, candidate) if status_live is candidate
                    else (None, False))
                intent = replace(
                    intent, status_live=status_live, candidate_live_plan=candidate_plan,
                    candidate_live_plan_lost=candidate_lost,
                    candidate_new_plan=plans.new_plan(
                        ctx, candidate, ctx.results[candidate.meta.name]))
        choice = choose_target(intent)
        if candidate is not None and choice.lost_plan is not None:
            ctx.lost_plans[candidate.meta.name] = choice.lost_plan
        if choice.repair:
            assert candidate is not None
            ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", EVENT_TRIGGER_REPAIRED,
                      f"the trigger Service named v{live.number if live else '?'}; "
                      f"pointed back at v{candidate.number}, which is live")
        return choice

    def _wiring(self, wf: WorkflowObj, target: VersionObj | None, tripped: bool
                ) -> tuple[bool, bool, bool]:
        """Whether the trigger is wired after this pass, and whether the Service's or the
        EndpointSlice's name is held by an object that is not ours."""
        ctx = self.ctx
        service_conflict = (
            ctx.family.service is not None
            or (Kind.SERVICE.value, service_name(wf.meta.name)) in ctx.family.taken_names
        ) and not identity.service_is_ours(ctx)
        wired = target is not None and not (
            wf.spec.suspend or tripped or wf.spec.archived or service_conflict)
        slice_conflicted = wired and slice_conflict(ctx.family, ctx.settings, wf.meta.name)
        return wired, service_conflict, slice_conflicted

    def _unwire(self, *, first: bool = False) -> None:
        """The trigger Service loses its selector and annotations, its slice its endpoints
        (`first`: ahead of every write decided so far)."""
        ctx = self.ctx
        writes = ctx.decision.writes
        before = len(writes)
        ctx.write(service_write(ctx.family, ctx.settings, ctx.wf, None, None))
        ctx.write(slice_write(ctx.family, ctx.settings, ctx.wf.meta.name, wired=False))
        if first:
            unwiring = writes[before:]
            del writes[before:]
            writes[:0] = unwiring

    def _compiling(self, target: VersionObj) -> None:
        """The publish target goes Compiling (step 3), unless it is already."""
        if target.status.phase != VersionPhase.COMPILING:
            self.ctx.write(Patch(Kind.VERSION, target.meta.name,
                                 {"status": {"phase": VersionPhase.COMPILING.value}},
                                 target.meta.resource_version, status=True,
                                 why=f"publish v{target.number}: compiling"))

    def _version_statuses(self, target: VersionObj | None, target_plan: LivePlan | None,
                          candidate: VersionObj | None, rejected: VersionPhase | None
                          ) -> dict[str, VersionPhase]:
        """Steps 6-7: every other version's status, then the target's; their phases."""
        ctx = self.ctx
        phases: dict[str, VersionPhase] = {}
        for v in ctx.canonical.values():
            if v is target:
                phases[v.meta.name] = VersionPhase.ACTIVE
            elif v is candidate and rejected is not None:
                phases[v.meta.name] = rejected
            else:
                phases[v.meta.name] = status.resting_phase(ctx, v)
        for v in ctx.family.versions:
            if v.meta.deleting or v is target:
                continue
            phase = phases.get(v.meta.name, VersionPhase.DRAFT)
            plan_ref = (plans.lost_plan_ref(ctx, v) if v is candidate and rejected
                        and v.meta.name in ctx.lost_plans else plans.resting_plan_ref(ctx, v))
            status.version_status(ctx, v, phase, plan_ref)
        if target is not None and target_plan is not None:
            status.version_status(ctx, target, VersionPhase.ACTIVE, target_plan)
        return phases

    # ------------------------------------------------------------------ special cases

    def _held_spec(self, wf: WorkflowObj) -> WorkflowSpec:
        """The intent while the spec cannot be read: everything as it is now.

        What is live stays live (suspended or archived if it was), nothing is published,
        and no version is retired. Built without validation: the live number may be one
        the model would now refuse.
        """
        live = identity.live_now(self.ctx)
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
        ctx = self.ctx
        for v in ctx.family.versions:
            if not v.meta.deleting:
                status.version_status(ctx, v, status.resting_phase(ctx, v),
                                      plans.resting_plan_ref(ctx, v))
        message = (f"the workflow cannot be wired: its trigger Service name {problem}; "
                   "recreate the workflow under a name of at most 55 lowercase letters, "
                   "digits and '-'")
        wanted = wf.spec.publishedVersion
        outcome = (Outcome(wanted, PublishResult.REJECTED, REASON_INVALID_NAME, message)
                   if wanted is not None else None)
        status.workflow_status(
            ctx, wf, target=None, target_plan=None, wanted=wanted,
            candidate=ctx.canonical.get(wanted) if wanted is not None else None,
            outcome=outcome, wired=False, tripped=False, safety=wf.status.safety,
            service_conflict=False, previous_live=None,
            blocker=(REASON_INVALID_NAME, message),
        )

    def _orphans(self) -> None:
        """Versions whose Workflow does not exist (yet): validate them, nothing else."""
        ctx = self.ctx
        for v in ctx.family.versions:
            if v.meta.deleting:
                continue
            prev = v.status.phase
            phase = prev if prev in (VersionPhase.ACTIVE, VersionPhase.INACTIVE) else (
                status.resting_phase(ctx, v)
            )
            status.version_status(ctx, v, phase, plans.resting_plan_ref(ctx, v))
