"""Plans: which immutable plan ConfigMap a version runs, or the one to create for it.

A plan is the compiled graph that was published; the live version keeps serving it even
when its spec is edited. When the plan is gone it can be rebuilt only from the very
graph that was published (an edit since was never published).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowplane.compiler import CompileResult
from flowplane.model.resources import ANN_ACTIVE_VERSION, ANN_PLAN, ANN_PLAN_HASH, VersionPhase
from flowplane.reconcile.context import Context
from flowplane.reconcile.objects import plan_body, plan_name
from flowplane.reconcile.snapshot import PlanObj, VersionObj
from flowplane.reconcile.writes import Create, Kind


@dataclass(frozen=True)
class LivePlan:
    """A plan as a version's status records it (status.plan) and the Service serves it."""

    name: str
    hash: str
    steps: int
    trigger_type: str | None
    graph: Mapping[str, Any] | None
    compiled_at: str | None
    create: Create | None = None  # set when the plan must still be written


def plan_of(ctx: Context, v: VersionObj, wanted_hash: str | None) -> PlanObj | None:
    """An existing plan ConfigMap of `v` holding `wanted_hash` (any, if None)."""
    preferred = v.status.plan.configMap if v.status.plan else None
    candidates = [
        p for p in ctx.plans.values()
        if any(r.uid == v.meta.uid for r in p.meta.owner_refs) or p.meta.name == preferred
    ]
    candidates.sort(key=lambda p: (p.meta.name != preferred, p.meta.name))
    return next((p for p in candidates if wanted_hash is None or p.hash == wanted_hash), None)


def live_plan(ctx: Context, live: VersionObj) -> tuple[LivePlan | None, bool]:
    """The plan the live version runs (named by the Service, else by its status), and
    whether it is lost: gone, with the graph edited since it was published."""
    name = None
    svc = ctx.family.service
    if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(live.number):
        name = svc.meta.annotations.get(ANN_PLAN)
    if name is None and live.status.plan is not None:
        name = live.status.plan.configMap
    plan = ctx.plans.get(name) if name else None
    if plan is None:
        plan = plan_of(ctx, live, None)
    if plan is not None and plan.hash:
        compiled_at = (
            live.status.plan.compiledAt
            if live.status.plan and live.status.plan.configMap == plan.meta.name
            else plan.meta.creation_timestamp or ctx.now
        )
        return LivePlan(
            plan.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph, compiled_at
        ), False
    # The plan is gone (deleted by hand): rebuild it from the version's graph, but only
    # from the graph that was published (an edit since then was never published).
    result = ctx.results[live.meta.name]
    recorded = recorded_hash(ctx, live)
    if recorded is not None and result.graph_hash != recorded:
        return None, True
    return new_plan(ctx, live, result), False


def recorded_hash(ctx: Context, v: VersionObj) -> str | None:
    """The hash of the graph v was published with, as its status or the Service says."""
    svc = ctx.family.service
    if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(v.number):
        named = svc.meta.annotations.get(ANN_PLAN_HASH)
        if named:
            return named
    return v.status.plan.hash if v.status.plan is not None else None


def lost_plan_ref(ctx: Context, v: VersionObj) -> LivePlan | None:
    """The record of the plan v was published with, kept while its loss is reported."""
    svc, ref = ctx.family.service, v.status.plan
    if svc is not None and svc.meta.annotations.get(ANN_ACTIVE_VERSION) == str(v.number):
        name, hash_ = svc.meta.annotations.get(ANN_PLAN), svc.meta.annotations.get(
            ANN_PLAN_HASH)
        if name and hash_:
            return LivePlan(name, hash_, ref.steps if ref else 0, None, None,
                            ref.compiledAt if ref else ctx.now)
    if ref is None:
        return None
    return LivePlan(ref.configMap, ref.hash, ref.steps, None, None, ref.compiledAt)


def lost_plan_message(ctx: Context, v: VersionObj) -> str:
    """What to tell the user about v's lost plan, naming the draft its edit is saved as."""
    ref = lost_plan_ref(ctx, v)
    edited = ctx.results[v.meta.name].graph_hash
    forks = sorted(f.number for f in ctx.family.versions if f.forked_from == v.number
                   and edited is not None and ctx.results[f.meta.name].graph_hash == edited)
    if v.meta.name in ctx.lost_plan_forks:  # made in this pass
        forks.append(ctx.lost_plan_forks[v.meta.name])
    saved = f"the edit is saved as draft v{max(forks)}; " if forks else ""
    return (f"the plan of v{v.number} ({ref.name if ref else 'unknown'}) was deleted and "
            f"v{v.number}'s graph was edited after it was published, so neither can serve: "
            f"{saved}nothing is live. Undo the edit of {v.meta.name} or publish another "
            "version to go live again")


def plan_lost_to_edit(ctx: Context, v: VersionObj) -> bool:
    """v was live, its plan is gone, and its graph was edited since it was published.

    The record is the version's own: `status.plan` still names the missing plan (kept so
    while v is the version wanted live), in phase Active (the first pass) or Failed.
    """
    ref = v.status.plan
    if ref is None or v.status.phase not in (VersionPhase.ACTIVE, VersionPhase.FAILED):
        return False
    if ref.configMap in ctx.plans or plan_of(ctx, v, ref.hash) is not None:
        return False
    return ctx.results[v.meta.name].graph_hash != ref.hash


def new_plan(ctx: Context, v: VersionObj, result: CompileResult) -> LivePlan | None:
    """The plan to publish v with: an existing one of the same graph, else one to create
    (None when the graph does not compile)."""
    if result.plan is None:
        return None
    plan = result.plan
    existing = plan_of(ctx, v, plan.hash)
    if existing is not None:
        compiled_at = (
            v.status.plan.compiledAt
            if v.status.plan and v.status.plan.configMap == existing.meta.name
            else existing.meta.creation_timestamp or ctx.now
        )
        return LivePlan(
            existing.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph,
            compiled_at,
        )
    name = plan_name(v, plan.hash, ctx.family, ctx.plans)
    body = plan_body(v, plan, name, ctx.family.namespace)
    return LivePlan(
        name, plan.hash, plan.steps, plan.trigger_type, plan.graph, ctx.now,
        create=Create(Kind.CONFIGMAP, name, body, why=f"plan of v{v.number}"),
    )


def resting_plan_ref(ctx: Context, v: VersionObj) -> LivePlan | None:
    """The plan a version neither published nor live records: its own, if it still exists."""
    ref = v.status.plan
    if ref is None or ref.configMap not in ctx.plans:
        current = ctx.results[v.meta.name].graph_hash
        plan = plan_of(ctx, v, current) if current else None
        if plan is None or not plan.hash:
            return None
        return LivePlan(plan.meta.name, plan.hash, plan.steps, plan.trigger_type, plan.graph,
                        plan.meta.creation_timestamp or ctx.now)
    plan = ctx.plans[ref.configMap]
    return LivePlan(ref.configMap, ref.hash, ref.steps, plan.trigger_type, plan.graph,
                    ref.compiledAt)
