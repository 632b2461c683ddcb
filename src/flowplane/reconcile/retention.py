"""Version retention (`spec.versionHistoryLimit`): which retired versions to delete (pure).

The newest `limit` Inactive versions (by version number) are kept; older Inactive ones
are deleted, except the ones that must never go:

* anything that is not `Inactive` (a Draft, the Active one, one being published, ...);
* the active version, the wanted version (`spec.publishedVersion`), and the version the
  trigger Service's `flowplane.dev/active-version` annotation names;
* a version that a non-finished WorkflowRun is pinned to;
* a version retired less than `grace_seconds` ago: the runtime pins new runs from the
  Service annotation, so a run may still be pinned to a version a moment after it was
  retired, and the operator would not have seen that run yet. A version whose retirement
  time is unknown (or unreadable) is kept while there is a grace.

Deleting a version deletes its plan ConfigMap too (the garbage collector follows the
plan's owner reference).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from flowplane.model.numbers import parse_decimal
from flowplane.model.reasons import EVENT_VERSION_DELETED
from flowplane.model.resources import ANN_ACTIVE_VERSION, ANN_PLAN, VersionPhase
from flowplane.model.timestamps import parse_timestamp
from flowplane.reconcile.context import Context
from flowplane.reconcile.snapshot import VersionObj
from flowplane.reconcile.writes import Delete, Kind

MIN_RECHECK_SECONDS = 1.0
"""Timestamps have a resolution of one second: never ask to look again sooner than that."""


@dataclass(frozen=True)
class _Verdict:
    version: VersionObj
    delete: bool
    wait: float | None = None  # seconds until the grace is over (only when that is all)


def retired_at(v: VersionObj) -> str | None:
    """When `v` stopped being live: status.deactivatedAt, else its Active=False transition."""
    if v.status.deactivatedAt:
        return v.status.deactivatedAt
    cond = next((c for c in v.status.conditions if c.type == "Active"), None)
    if cond is not None and cond.status == "False" and cond.reason == "Retired":
        return cond.lastTransitionTime
    return None


def _verdicts(
    versions: Iterable[VersionObj],
    limit: int | None,
    *,
    active: Collection[int],
    wanted: int | None,
    served: Collection[int],
    pinned: Collection[int],
    now: str,
    grace_seconds: float,
) -> Iterator[_Verdict]:
    if limit is None:
        return
    inactive = sorted((v for v in versions if v.status.phase == VersionPhase.INACTIVE),
                      key=lambda v: (v.number, v.meta.name), reverse=True)
    protected = {*active, *served, *pinned} | ({wanted} if wanted is not None else set())
    now_at = parse_timestamp(now)
    for v in inactive[limit:]:
        if v.number in protected:
            yield _Verdict(v, False)
            continue
        if grace_seconds > 0:
            retired = parse_timestamp(retired_at(v))
            if retired is None or now_at is None:
                yield _Verdict(v, False)
                continue
            age = (now_at - retired).total_seconds()
            if age < grace_seconds:
                yield _Verdict(v, False, wait=max(MIN_RECHECK_SECONDS, grace_seconds - age))
                continue
        yield _Verdict(v, True)


@dataclass(frozen=True)
class Retention:
    """What versionHistoryLimit asks for now, from one look at the versions."""

    delete: list[str]
    """Names of the versions the limit retires, oldest first."""
    recheck_after: float | None
    """Seconds until a version held back only by the grace may go; None if there is none.
    Nothing else will happen to the family when a grace runs out, so the operator must
    look again by itself (a run finishing, or a publish, is an event of its own)."""


def plan_retention(
    versions: Iterable[VersionObj],
    limit: int | None,
    *,
    active: Collection[int] = (),
    wanted: int | None = None,
    served: Collection[int] = (),
    pinned: Collection[int] = (),
    now: str,
    grace_seconds: float,
) -> Retention:
    """The versions `limit` retires and when to look again.

    `versions` are the workflow's versions (one object per number); `active` the version
    numbers that are or are becoming live, `wanted` spec.publishedVersion, `served` what
    the trigger Service names, `pinned` the versions non-finished runs are pinned to.
    `limit` None keeps everything; 0 keeps no Inactive version that may go.
    """
    found = list(_verdicts(versions, limit, active=active, wanted=wanted, served=served,
                           pinned=pinned, now=now, grace_seconds=grace_seconds))
    waits = [d.wait for d in found if d.wait is not None]
    return Retention(
        delete=[d.version.meta.name for d in sorted(found, key=lambda d: d.version.number)
                if d.delete],
        recheck_after=min(waits) if waits else None)


def retire(ctx: Context, phases: Mapping[str, VersionPhase], *, live: VersionObj | None,
           target: VersionObj | None, wanted: int | None) -> None:
    """Step 9: delete the retired versions beyond spec.versionHistoryLimit (never the ones
    in use).

    Only versions this workflow owns, that were Inactive in the snapshot and stay so in
    this decision, may go. Protected besides (plan_retention): the live version before
    and after this decision and the one status names, the wanted one, what the trigger
    Service names (even a Service that is not ours: the runtime pins runs from it) and
    the owner of the plan it names, and every version a non-finished run is pinned to.
    """
    wf = ctx.wf
    limit = wf.spec.versionHistoryLimit
    if limit is None:
        return
    owned = [
        v for v in ctx.canonical.values()
        if phases.get(v.meta.name) == VersionPhase.INACTIVE
        and any(r.uid == wf.meta.uid and r.controller for r in v.meta.owner_refs)
    ]
    active = {v.number for v in (live, target) if v is not None}
    if wf.status.activeVersion is not None:
        active.add(wf.status.activeVersion)
    served: set[int] = set()
    svc = ctx.family.service
    if svc is not None:
        served_number = parse_decimal(svc.meta.annotations.get(ANN_ACTIVE_VERSION))
        if served_number is not None:
            served.add(served_number)
        plan = ctx.plans.get(svc.meta.annotations.get(ANN_PLAN, ""))
        owners = {r.uid for r in plan.meta.owner_refs} if plan is not None else set()
        served |= {v.number for v in ctx.canonical.values() if v.meta.uid in owners}
    retention = plan_retention(
        owned, limit, active=active, wanted=wanted, served=served,
        pinned=ctx.family.pinned_versions, now=ctx.now,
        grace_seconds=ctx.settings.version_retention_grace_seconds)
    by_name = {v.meta.name: v for v in owned}
    for name in retention.delete:
        v = by_name[name]
        ctx.write(Delete(Kind.VERSION, v.meta.name, v.meta.uid,
                         why=f"retire v{v.number}: versionHistoryLimit {limit}"))
        ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", EVENT_VERSION_DELETED,
                  f"deleted retired v{v.number} ({v.meta.name}) and its plan: "
                  f"spec.versionHistoryLimit is {limit}")
    ctx.decision.requeue_after = retention.recheck_after
