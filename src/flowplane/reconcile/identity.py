"""Which object is which: the one version per number, the version that is live, and
whether the trigger Service is this workflow's.

A number can change hands (a live version deleted and a duplicate taking its number, or
recreated under the same name), so everything here names objects by uid, not number.
"""

from __future__ import annotations

from typing import Any

from flowplane.model.numbers import parse_decimal
from flowplane.model.reasons import REASON_DUPLICATE_VERSION, REASON_OWNER_MISMATCH
from flowplane.model.resources import (
    ANN_ACTIVE_VERSION,
    ANN_PLAN,
    LABEL_WORKFLOW,
    GraphError,
    VersionPhase,
)
from flowplane.reconcile.context import Context
from flowplane.reconcile.objects import WORKFLOW_OWNER_KIND, owner_ref, service_name
from flowplane.reconcile.snapshot import VersionObj
from flowplane.reconcile.writes import Kind, Patch


def service_is_ours(ctx: Context) -> bool:
    """Owned by this workflow, or by no one (adopted); never a name another kind holds."""
    svc, wf = ctx.family.service, ctx.workflow
    if wf is not None and (Kind.SERVICE.value, service_name(wf.meta.name)) in (
        ctx.family.taken_names
    ):
        return False
    if svc is None or wf is None:
        return False
    return any(r.uid == wf.meta.uid for r in svc.meta.owner_refs) or not svc.meta.owner_refs


def resolve_versions(ctx: Context) -> None:
    """Pick the one version object per number; the rest are reported, never adopted.

    The version that is live keeps its number, then one this workflow already adopted;
    only then does the oldest win. creationTimestamp has a resolution of one second, so
    ordering by age alone would let a duplicate made in the same second as the live
    version, with a name that sorts first, take over its number (and go live).
    """
    wf = ctx.workflow
    served: set[str] = set()
    svc = ctx.family.service
    if svc is not None and wf is not None and service_is_ours(ctx):
        plan = ctx.plans.get(svc.meta.annotations.get(ANN_PLAN, ""))
        served = {r.uid for r in plan.meta.owner_refs} if plan is not None else set()

    def adopted(v: VersionObj) -> bool:
        return wf is not None and any(r.uid == wf.meta.uid and r.controller
                                      for r in v.meta.owner_refs)

    ordered = sorted(
        (v for v in ctx.family.versions if not v.meta.deleting),
        key=lambda v: (v.meta.uid not in served, not adopted(v),
                       v.meta.creation_timestamp, v.meta.name),
    )
    for v in ordered:
        # Any controller other than this workflow blocks adoption: the API refuses a second
        # controller reference (422), and that write must not stand in the family's way.
        owner = next(
            (r for r in v.meta.owner_refs
             if r.controller and (wf is None or r.uid != wf.meta.uid)),
            None,
        )
        if wf is not None and owner is not None:
            kind = "Workflow" if owner.kind == WORKFLOW_OWNER_KIND else owner.kind
            ctx.family_errors[v.meta.name] = GraphError(
                code=REASON_OWNER_MISMATCH,
                message=f"controlled by another {kind} {owner.name!r} (uid {owner.uid}); "
                "not adopted by this one",
            )
        elif v.number in ctx.canonical:
            first = ctx.canonical[v.number]
            ctx.family_errors[v.meta.name] = GraphError(
                code=REASON_DUPLICATE_VERSION,
                path="spec.version",
                message=f"version {v.number} of workflow {v.workflow_name!r} already exists "
                f"as {first.meta.name!r}; this object is ignored; delete it "
                "(spec.version cannot be changed)",
            )
        else:
            ctx.canonical[v.number] = v


def adopt_versions(ctx: Context) -> None:
    """Step 1: label and own every version that is not reported (see resolve_versions)."""
    wf = ctx.wf
    for v in ctx.family.versions:
        if v.meta.deleting or v.meta.name in ctx.family_errors:
            continue
        meta: dict[str, Any] = {}
        if v.meta.labels.get(LABEL_WORKFLOW) != wf.meta.name:
            meta["labels"] = {LABEL_WORKFLOW: wf.meta.name}
        if not any(r.uid == wf.meta.uid for r in v.meta.owner_refs):
            refs = [r.to_api() for r in v.meta.owner_refs if r.kind != WORKFLOW_OWNER_KIND]
            meta["ownerReferences"] = [*refs, owner_ref(wf).to_api()]
        if meta:
            ctx.write(Patch(Kind.VERSION, v.meta.name, {"metadata": meta},
                            v.meta.resource_version, why="adopt version"))


def live_now(ctx: Context) -> VersionObj | None:
    """The version serving right now. The Service annotation is the authority.

    Pointers name a version by number, and a number can change hands (the live
    object is deleted and a duplicate takes its number, or it is recreated under
    the same name): a pointer counts only for the very object it was set for.
    """
    svc = ctx.family.service
    if svc is not None and service_is_ours(ctx):
        served_number = parse_decimal(svc.meta.annotations.get(ANN_ACTIVE_VERSION))
        if served_number is not None and served_number in ctx.canonical:
            v = ctx.canonical[served_number]
            if served_by(ctx, v, svc.meta.annotations.get(ANN_PLAN)):
                return v
    return live_by_status(ctx)


def live_by_status(ctx: Context) -> VersionObj | None:
    """What the statuses call live: what is left once the Service is unwired."""
    wf = ctx.workflow
    if wf is not None and wf.status.activeVersion in ctx.canonical:
        v = ctx.canonical[wf.status.activeVersion]
        if v.status.phase == VersionPhase.ACTIVE:
            return v
    actives = [v for v in ctx.canonical.values() if v.status.phase == VersionPhase.ACTIVE]
    actives.sort(key=lambda v: (v.status.activatedAt or "", v.number))
    return actives[-1] if actives else None


def served_by(ctx: Context, v: VersionObj, plan_name: str | None) -> bool:
    """Whether the Service's plan annotation was written for this object of version v."""
    plan = ctx.plans.get(plan_name) if plan_name else None
    if plan is not None:
        return any(r.uid == v.meta.uid for r in plan.meta.owner_refs)
    # The plan is gone (deleted by hand, or with its version): trust the version's own
    # record of being published with that plan.
    return v.status.phase in (VersionPhase.ACTIVE, VersionPhase.COMPILING) and (
        v.status.plan is None or v.status.plan.configMap == plan_name)
