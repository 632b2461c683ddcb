"""The status of versions and of the workflow: phases, pointers, and one small function
per condition, each from the in-memory facts to the condition as decided (Desired).

The condition functions are pure and total; the writers around them add what needs the
previous status (transition times, whether an event is due) and write only what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowplane.model import reasons as r
from flowplane.model.resources import (
    ANN_RESUME,
    ANN_REVERT,
    SAFETY_MESSAGE_MAX,
    GraphError,
    LastPublish,
    PlanRef,
    PublishResult,
    SafetyStatus,
    TriggerStatus,
    VersionPhase,
    WorkflowPhase,
    WorkflowStatus,
    WorkflowVersionStatus,
)
from flowplane.reconcile.conditions import Desired, merge_conditions, safe_message, safe_reason
from flowplane.reconcile.context import Context
from flowplane.reconcile.intent import Outcome, summarise
from flowplane.reconcile.objects import endpoint_slice_name, service_name, short_hash, trigger_url
from flowplane.reconcile.plans import LivePlan, plan_lost_to_edit, plan_of
from flowplane.reconcile.snapshot import VersionObj, WorkflowObj
from flowplane.reconcile.writes import Kind

MAX_STATUS_ERRORS = 50
"""A hostile graph can break thousands of rules; status keeps the first ones and a count."""


def node_count(raw: Any) -> int:
    if isinstance(raw, dict) and isinstance(raw.get("nodes"), list):
        return len(raw["nodes"])
    return 0


def nodes_phrase(n: int) -> str:
    """"1 node", "3 nodes": the count users read in conditions."""
    return f"{n} node" if n == 1 else f"{n} nodes"


def capped_errors(errors: Sequence[GraphError]) -> list[GraphError]:
    """At most MAX_STATUS_ERRORS, the last one saying how many more there are."""
    if len(errors) <= MAX_STATUS_ERRORS:
        return list(errors)
    hidden = len(errors) - MAX_STATUS_ERRORS + 1
    return [*errors[: MAX_STATUS_ERRORS - 1], GraphError(
        code=r.REASON_TOO_MANY_ERRORS, message=f"{hidden} more errors are not listed")]


# ------------------------------------------------------------------ version conditions


def workflow_found_condition(found: bool, workflow: str, namespace: str) -> Desired:
    if not found:
        return Desired.of(
            r.WORKFLOW_FOUND, False, r.REASON_WORKFLOW_NOT_FOUND,
            f"no Workflow {workflow!r} in namespace {namespace!r} "
            "(spec.workflowRef.name); this version cannot be published until it exists")
    return Desired.of(r.WORKFLOW_FOUND, True, r.REASON_WORKFLOW_FOUND,
                      f"workflow {workflow!r} exists")


def validated_condition(errors: Sequence[GraphError], family_error: GraphError | None,
                        invalid: bool, nodes: int) -> Desired:
    """`errors` as listed in status (the family's own first); `invalid`: a graph rule broke."""
    if not errors:
        return Desired.of(r.VALIDATED, True, r.REASON_VALID,
                          f"the graph is valid ({nodes_phrase(nodes)})")
    if family_error is not None:
        return Desired.of(r.VALIDATED, False, family_error.code, summarise(errors))
    return Desired.of(
        r.VALIDATED, False, r.REASON_GRAPH_INVALID if invalid else r.REASON_PLAN_LIMIT_EXCEEDED,
        summarise(errors),
    )


def compiled_condition(phase: VersionPhase, lost_plan: str | None,
                       errors: Sequence[GraphError], plan: PlanRef | None,
                       graph_hash: str | None) -> Desired:
    """`lost_plan`: what to say when the version's published plan is lost, else None."""
    if phase == VersionPhase.FAILED and lost_plan is not None:
        return Desired.of(r.COMPILED, False, r.REASON_LIVE_PLAN_LOST, lost_plan)
    if phase == VersionPhase.FAILED:
        return Desired.of(r.COMPILED, False, r.REASON_COMPILE_FAILED, summarise(errors))
    if plan is not None and plan.hash == graph_hash:
        return Desired.of(r.COMPILED, True, r.REASON_PLAN_READY,
                          f"plan {plan.configMap} ({plan.steps} steps)")
    if plan is not None:
        return Desired.of(r.COMPILED, False, r.REASON_PLAN_OUTDATED,
                          f"the graph changed after plan {plan.configMap} was compiled;"
                          " it is compiled again when published")
    return Desired.of(r.COMPILED, False, r.REASON_NOT_COMPILED, "compiled when published")


def active_condition(phase: VersionPhase, number: int) -> Desired:
    if phase == VersionPhase.ACTIVE:
        return Desired.of(r.ACTIVE, True, r.REASON_LIVE, f"v{number} receives the live events")
    if phase == VersionPhase.INACTIVE:
        return Desired.of(r.ACTIVE, False, r.REASON_RETIRED, "retired; publish it to roll back")
    return Desired.of(r.ACTIVE, False, r.REASON_NOT_LIVE, "only the active version is live")


# ------------------------------------------------------------------ workflow conditions


def published_condition(*, live: int | None, live_name: str | None, archived: bool,
                        wanted: int | None, candidate_found: bool, tripped: bool,
                        outcome: Outcome | None) -> Desired:
    """`live`: the version the pointer is at after this pass (and its object's name)."""
    if live is not None:
        return Desired.of(r.PUBLISHED, True, r.REASON_VERSION_ACTIVE,
                          f"v{live} ({live_name}) is the active version")
    if archived:
        return Desired.of(r.PUBLISHED, False, r.REASON_ARCHIVED, "the workflow is archived")
    if wanted is not None and not candidate_found and not tripped:
        return Desired.of(r.PUBLISHED, False, r.REASON_VERSION_NOT_FOUND,
                          outcome.message if outcome else "version not found")
    return Desired.of(r.PUBLISHED, False, r.REASON_NO_ACTIVE_VERSION,
                      "no version is live; set spec.publishedVersion to publish one")


def trigger_wired_condition(*, workflow: str, blocker: tuple[str, str] | None,
                            service_conflict: bool, slice_conflict: bool, wired: bool,
                            live: int | None, archived: bool, tripped: bool,
                            suspended: bool) -> Desired:
    """`blocker`: (reason, message) that keeps the workflow from being wired at all."""
    svc = service_name(workflow)
    if blocker is not None:
        return Desired.of(r.TRIGGER_WIRED, False, *blocker)
    if service_conflict:
        return Desired.of(r.TRIGGER_WIRED, False, r.REASON_SERVICE_CONFLICT,
                          f"Service {svc} exists and is not owned by this workflow")
    if slice_conflict:
        return Desired.of(r.TRIGGER_WIRED, False, r.REASON_ENDPOINT_SLICE_CONFLICT,
                          f"EndpointSlice {endpoint_slice_name(workflow)} exists and "
                          f"is not managed by this workflow, so {svc} cannot reach the "
                          "runtime; delete or rename it")
    if wired:
        return Desired.of(r.TRIGGER_WIRED, True, r.REASON_WIRED, f"{svc} routes to v{live}")
    why, text = (
        (r.REASON_ARCHIVED, "the workflow is archived") if archived else
        (r.REASON_SAFETY_PAUSED, "unwired by a safety pause") if tripped else
        (r.REASON_SUSPENDED, "unwired because spec.suspend is true") if suspended else
        (r.REASON_NO_ACTIVE_VERSION, "no version is live")
    )
    return Desired.of(r.TRIGGER_WIRED, False, why, f"{svc} has no selector: {text}")


def safety_paused_condition(tripped: bool, safety: SafetyStatus | None) -> Desired:
    if tripped and safety is not None:
        return Desired.of(r.SAFETY_PAUSED, True,
                          safe_reason(safety.reason or "", r.REASON_SAFETY_TRIPPED),
                          safe_message(safety.message or "a safety check tripped",
                                       SAFETY_MESSAGE_MAX))
    if safety is not None and safety.resumedAt:
        return Desired.of(r.SAFETY_PAUSED, False, r.REASON_RESUMED,
                          f"resumed at {safety.resumedAt}")
    return Desired.of(r.SAFETY_PAUSED, False, r.REASON_NOT_TRIPPED, "no safety check tripped")


def ready_condition(*, blocker: tuple[str, str] | None, spec_error: str | None,
                    fork_refused: str | None, service_conflict: bool, slice_conflict: bool,
                    trigger_message: str, tripped: bool, archived: bool, suspended: bool,
                    wanted: int | None, live: int | None, outcome: Outcome | None) -> Desired:
    """Whether what the user asked for is done; if not, why (the first reason that holds)."""
    if blocker is not None:
        return Desired.of(r.READY, False, *blocker)
    if spec_error is not None:
        held = f"v{live} stays live as it is" if live is not None else "nothing is live"
        return Desired.of(r.READY, False, r.REASON_INVALID_SPEC,
                          safe_message(f"the spec cannot be read ({spec_error}); "
                                       f"{held} until it is fixed", 4096))
    if fork_refused is not None:
        return Desired.of(r.READY, False, r.REASON_FORK_REFUSED, fork_refused)
    if service_conflict:
        return Desired.of(r.READY, False, r.REASON_SERVICE_CONFLICT, trigger_message)
    if slice_conflict:
        return Desired.of(r.READY, False, r.REASON_ENDPOINT_SLICE_CONFLICT, trigger_message)
    if tripped:
        return Desired.of(r.READY, False, r.REASON_SAFETY_PAUSED,
                          f"paused by a safety check; annotate {ANN_RESUME}=<token> to resume")
    if archived:
        # Archiving is the user's ask: done once nothing is live, even while
        # spec.publishedVersion still names a version (it is ignored, and said so).
        return Desired.of(
            r.READY, True, r.REASON_ARCHIVED,
            f"archived; nothing is live (spec.publishedVersion {wanted} is ignored while "
            "archived: remove it)" if wanted is not None else "archived; nothing is live")
    if wanted is None:
        return Desired.of(r.READY, True, r.REASON_NOTHING_PUBLISHED,
                          "no version is wanted live, and none is")
    if live == wanted:
        if suspended:
            return Desired.of(r.READY, True, r.REASON_SUSPENDED,
                              f"v{wanted} is active; trigger unwired while suspended")
        return Desired.of(r.READY, True, r.REASON_PUBLISHED, f"v{wanted} is live")
    return Desired.of(r.READY, False, outcome.reason if outcome else r.REASON_PUBLISHING,
                      outcome.message if outcome else f"publishing v{wanted}")


def workflow_phase(*, archived: bool, tripped: bool, suspended: bool, live: bool
                   ) -> WorkflowPhase:
    if archived:
        return WorkflowPhase.ARCHIVED
    if tripped:
        return WorkflowPhase.PAUSED_SAFETY
    if suspended:
        return WorkflowPhase.DISABLED
    return WorkflowPhase.PUBLISHED if live else WorkflowPhase.DRAFT


# ------------------------------------------------------------------ version status


def resting_phase(ctx: Context, v: VersionObj) -> VersionPhase:
    """The phase of a version that is neither being published nor live."""
    prev = v.status.phase
    current = ctx.results[v.meta.name].graph_hash
    plan = plan_of(ctx, v, current) if current else None
    was_live = v.status.activatedAt is not None
    if prev == VersionPhase.ACTIVE:
        return VersionPhase.INACTIVE if plan is not None else VersionPhase.DRAFT
    if prev in (VersionPhase.INACTIVE, VersionPhase.COMPILING):
        return VersionPhase.INACTIVE if plan is not None and was_live else VersionPhase.DRAFT
    if prev == VersionPhase.FAILED and plan_lost_to_edit(ctx, v):
        return VersionPhase.DRAFT  # no longer wanted live: an edited draft, as it is
    if prev in (VersionPhase.INVALID, VersionPhase.FAILED):
        return prev if current == v.status.graphHash else VersionPhase.DRAFT
    return VersionPhase.DRAFT


def version_status(ctx: Context, v: VersionObj, phase: VersionPhase, plan: LivePlan | None
                   ) -> None:
    """Write v's status as `phase` recording `plan` (and warn once its workflow is gone)."""
    result = ctx.results[v.meta.name]
    prev = v.status
    found = workflow_found_condition(ctx.family.workflow is not None, v.workflow_name,
                                     ctx.family.namespace)
    if ctx.family.workflow is None:
        before = next((c for c in prev.conditions if c.type == r.WORKFLOW_FOUND), None)
        if before is None or before.status != "False":
            ctx.event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning",
                      r.REASON_WORKFLOW_NOT_FOUND, found.message)
    family_error = ctx.family_errors.get(v.meta.name)
    errors = capped_errors(
        [*([family_error] if family_error is not None else []), *result.errors])
    graph_hash = result.graph_hash
    generation = v.meta.generation + (1 if v.meta.name in ctx.spec_patched else 0)
    activated_at = prev.activatedAt
    deactivated_at = prev.deactivatedAt
    if phase == VersionPhase.ACTIVE and prev.phase != VersionPhase.ACTIVE:
        activated_at = ctx.now
    if prev.phase == VersionPhase.ACTIVE and phase != VersionPhase.ACTIVE:
        deactivated_at = ctx.now
    plan_ref = (
        PlanRef(configMap=plan.name, hash=plan.hash, steps=plan.steps,
                compiledAt=plan.compiled_at or ctx.now)
        if plan is not None else None
    )
    nodes = node_count(v.graph_raw)
    validated = validated_condition(errors, family_error, result.invalid, nodes)
    compiled = compiled_condition(phase, ctx.lost_plans.get(v.meta.name), errors, plan_ref,
                                  graph_hash)
    active = active_condition(phase, v.number)
    status = WorkflowVersionStatus(
        phase=phase,
        observedGeneration=generation,
        graphHash=graph_hash,
        shortHash=short_hash(graph_hash),
        nodeCount=nodes,
        errors=errors,
        plan=plan_ref,
        forkedFrom=v.forked_from,
        activatedAt=activated_at,
        deactivatedAt=deactivated_at,
        lastRevertToken=v.meta.annotations.get(ANN_REVERT) or prev.lastRevertToken,
        conditions=merge_conditions(prev.conditions, [validated, compiled, active, found],
                                    now=ctx.now, generation=generation),
    )
    ctx.status_patch(Kind.VERSION, v.meta.name, v.meta.resource_version, v.status_raw,
                     status.model_dump(mode="json", exclude_none=True),
                     why=f"v{v.number} {phase.value}")


# ------------------------------------------------------------------ workflow status


def _publish_events(ctx: Context, wf: WorkflowObj, outcome: Outcome | None,
                    previous_live: VersionObj | None, target: VersionObj | None
                    ) -> LastPublish | None:
    """status.lastPublish after this pass, with an event for each outcome newly recorded
    and for a deactivation."""
    last = wf.status.lastPublish
    if outcome is not None:
        same = last is not None and (last.version, last.result, last.reason, last.message) == (
            outcome.version, outcome.result, outcome.reason, outcome.message)
        if not same:
            last = LastPublish(version=outcome.version, result=outcome.result,
                               reason=outcome.reason, message=outcome.message, time=ctx.now)
            if outcome.result == PublishResult.REJECTED:
                ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning",
                          r.EVENT_PUBLISH_REJECTED, outcome.message, detail=outcome.reason)
            elif outcome.result == PublishResult.SUCCEEDED:
                ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal",
                          outcome.reason, outcome.message)
            else:
                ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal",
                          r.EVENT_PUBLISH_PENDING, outcome.message)
    if previous_live is not None and target is None and not wf.spec.archived:
        ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", r.EVENT_DEACTIVATED,
                  f"v{previous_live.number} was deactivated; nothing is live")
    if previous_live is not None and target is None and wf.spec.archived:
        ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", r.EVENT_ARCHIVED,
                  f"archived; v{previous_live.number} was deactivated")
    return last


def workflow_status(
    ctx: Context,
    wf: WorkflowObj,
    *,
    target: VersionObj | None,
    target_plan: LivePlan | None,
    wanted: int | None,
    candidate: VersionObj | None,
    outcome: Outcome | None,
    wired: bool,
    tripped: bool,
    safety: SafetyStatus | None,
    service_conflict: bool,
    previous_live: VersionObj | None,
    blocker: tuple[str, str] | None = None,
    slice_conflict: bool = False,
) -> None:
    """Write the workflow's status: pointer, phase, conditions, lastPublish (step 8)."""
    spec = wf.spec
    svc = service_name(wf.meta.name)
    phase = workflow_phase(archived=spec.archived, tripped=tripped, suspended=spec.suspend,
                           live=target is not None)
    last = _publish_events(ctx, wf, outcome, previous_live, target)
    live_n = target.number if target is not None else None
    published = published_condition(
        live=live_n, live_name=target.meta.name if target is not None else None,
        archived=spec.archived, wanted=wanted, candidate_found=candidate is not None,
        tripped=tripped, outcome=outcome)
    trig = trigger_wired_condition(
        workflow=wf.meta.name, blocker=blocker, service_conflict=service_conflict,
        slice_conflict=slice_conflict, wired=wired, live=live_n, archived=spec.archived,
        tripped=tripped, suspended=spec.suspend)
    paused = safety_paused_condition(tripped, safety)
    ready = ready_condition(
        blocker=blocker, spec_error=wf.spec_error, fork_refused=ctx.fork_refused,
        service_conflict=service_conflict, slice_conflict=slice_conflict,
        trigger_message=trig.message, tripped=tripped, archived=spec.archived,
        suspended=spec.suspend, wanted=wanted, live=live_n, outcome=outcome)
    if blocker is None and (wf.spec_error is not None or ctx.fork_refused is not None):
        # Warn once per reason and message (an unreadable spec's as written: cut to bounds).
        before = next((c for c in wf.status.conditions if c.type == r.READY), None)
        said = ((safe_reason(ready.reason), safe_message(ready.message))
                if wf.spec_error is not None else (ready.reason, ready.message))
        if before is None or (before.reason, before.message) != said:
            ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning", ready.reason,
                      ready.message)

    versions = [v.number for v in ctx.canonical.values()]
    status = WorkflowStatus(
        phase=phase,
        activeVersion=live_n,
        activeVersionName=target.meta.name if target is not None else None,
        latestVersion=max(versions) if versions else None,
        observedGeneration=wf.meta.generation,
        trigger=TriggerStatus(
            service=svc, enabled=wired,
            url=trigger_url(svc, ctx.family.namespace,
                            target_plan.graph if target_plan else None),
            type=target_plan.trigger_type if wired and target_plan else None,
        ),
        lastPublish=last,
        safety=safety,
        conditions=merge_conditions(wf.status.conditions, [ready, published, trig, paused],
                                    now=ctx.now, generation=wf.meta.generation),
    )
    ctx.status_patch(Kind.WORKFLOW, wf.meta.name, wf.meta.resource_version, wf.status_raw,
                     status.model_dump(mode="json", exclude_none=True),
                     why=f"workflow {phase.value}")
