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

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from flowplane.model.resources import VersionPhase
from flowplane.reconcile.snapshot import VersionObj

MIN_RECHECK_SECONDS = 1.0
"""Timestamps have a resolution of one second: never ask to look again sooner than that."""


@dataclass(frozen=True)
class _Verdict:
    version: VersionObj
    delete: bool
    wait: float | None = None  # seconds until the grace is over (only when that is all)


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


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
    now_at = _parse(now)
    for v in inactive[limit:]:
        if v.number in protected:
            yield _Verdict(v, False)
            continue
        if grace_seconds > 0:
            retired = _parse(retired_at(v))
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
