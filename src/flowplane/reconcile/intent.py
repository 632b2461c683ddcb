"""The publish state machine: where the live pointer should be, and how the current
publish request (spec.publishedVersion) ends, as status.lastPublish records it.

`choose_target` is pure and takes every fact it needs already looked up, so it reads
(and is tested) as one table: archived, safety pause, nothing wanted, version missing,
plan lost to an edit, trigger Service tampered with, publish or reject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowplane.compiler import CompileResult
from flowplane.model.reasons import (
    REASON_ARCHIVED,
    REASON_COMPILE_FAILED,
    REASON_LIVE_PLAN_LOST,
    REASON_PUBLISHED,
    REASON_ROLLED_BACK,
    REASON_SAFETY_PAUSED,
    REASON_VALIDATION_FAILED,
    REASON_VERSION_NOT_FOUND,
)
from flowplane.model.resources import ANN_RESUME, GraphError, PublishResult, VersionPhase
from flowplane.reconcile.plans import LivePlan
from flowplane.reconcile.snapshot import VersionObj, WorkflowObj


@dataclass(frozen=True)
class Outcome:
    """The outcome of the current publish request, as recorded in status.lastPublish."""

    version: int
    result: PublishResult
    reason: str
    message: str


def summarise(errors: Sequence[GraphError], most: int = 3) -> str:
    """The first errors as one line (conditions and messages are read, not parsed)."""
    parts = [f"{e.code}: {e.message}" for e in errors[:most]]
    if len(errors) > most:
        parts.append(f"(+{len(errors) - most} more)")
    return "; ".join(parts) if parts else "no errors"


def settled_outcome(wf: WorkflowObj, live: VersionObj) -> Outcome | None:
    """lastPublish for a request that is live already, derived from the world.

    A crash between the Service switch and the workflow's status write leaves
    lastPublish describing the request before (and its Event unsent); the Service and
    the versions say how this one ended. None when lastPublish already says so.
    """
    last = wf.status.lastPublish
    if last is not None and (last.version, last.result) == (
            live.number, PublishResult.SUCCEEDED):
        return None
    was = wf.status.activeVersion
    if was == live.number:  # asked again for what stayed live: nothing moved
        return Outcome(live.number, PublishResult.SUCCEEDED, REASON_PUBLISHED,
                       f"v{live.number} is live")
    status = live.status  # live before? (its Active write may be the one that landed)
    rollback = status.deactivatedAt is not None or (
        status.activatedAt is not None and status.phase != VersionPhase.ACTIVE)
    return Outcome(live.number, PublishResult.SUCCEEDED,
                   REASON_ROLLED_BACK if rollback else REASON_PUBLISHED,
                   f"v{live.number} is live" + (f" (was v{was})" if was else ""))


@dataclass(frozen=True)
class Intent:
    """What the user asks for and what the world says, for choose_target.

    The candidate's facts (the version spec.publishedVersion names) are looked up by the
    caller; those a branch does not reach may be left at their defaults.
    """

    workflow: str
    archived: bool
    tripped: bool
    wanted: int | None
    live: VersionObj | None
    """What serves now (identity.live_now), None when nothing can."""
    live_plan: LivePlan | None
    candidate: VersionObj | None
    candidate_result: CompileResult | None = None
    candidate_new_plan: LivePlan | None = None
    """plans.new_plan of the candidate: what publishing it would run."""
    candidate_plan_lost: bool = False
    """The candidate was live, its plan is gone and its graph was edited since."""
    lost_plan_message: str = ""
    status_active: int | None = None
    """The workflow's status.activeVersion."""
    status_live: VersionObj | None = None
    """What the statuses call live (identity.live_by_status)."""
    candidate_live_plan: LivePlan | None = None
    candidate_live_plan_lost: bool = False
    """plans.live_plan of the candidate: the plan it runs, and whether that is lost."""
    settled: Outcome | None = None
    """settled_outcome of the candidate, when it is live."""


@dataclass(frozen=True)
class Target:
    """Where the live pointer goes, and what becomes of the publish request."""

    version: VersionObj | None
    plan: LivePlan | None
    outcome: Outcome | None = None
    """status.lastPublish to record (None: keep it as it is)."""
    rejected: VersionPhase | None = None
    """The candidate's phase when its publish is refused (Invalid, Failed)."""
    repair: bool = False
    """The Service is pointed back at the version published and recorded live: no
    Compiling, no lastPublish, and a TriggerRepaired event instead of Published."""
    lost_plan: str | None = None
    """The candidate's plan is lost: what to record for it (see Context.lost_plans)."""


def choose_target(i: Intent) -> Target:
    """The live pointer's target for this pass, by the first case that applies."""
    wanted, live, candidate = i.wanted, i.live, i.candidate
    if i.archived:
        outcome = (Outcome(wanted, PublishResult.REJECTED, REASON_ARCHIVED,
                           f"the workflow is archived, so v{wanted} is not published; "
                           "remove spec.publishedVersion (nothing is live)")
                   if wanted is not None else None)
        return Target(None, None, outcome)
    if i.tripped:
        if wanted is None:
            # Deactivating is the safest action there is (nothing live): allowed
            # while paused. The workflow stays PausedSafety until a resume.
            return Target(None, None)
        if wanted != (live.number if live else None):
            return Target(live, i.live_plan, Outcome(
                wanted, PublishResult.REJECTED, REASON_SAFETY_PAUSED,
                f"publishing v{wanted} is blocked by a safety pause; annotate the "
                f"workflow with {ANN_RESUME}=<token> to resume",
            ))
        return Target(live, i.live_plan)
    if wanted is None:
        return Target(None, None)
    if candidate is None:
        return Target(live, i.live_plan, Outcome(
            wanted, PublishResult.PENDING, REASON_VERSION_NOT_FOUND,
            f"waiting for a WorkflowVersion with spec.version {wanted} "
            f"for workflow {i.workflow!r}",
        ))
    if i.candidate_plan_lost:
        # Publishing it now would put an edit live that nobody published.
        return Target(live, i.live_plan,
                      Outcome(wanted, PublishResult.REJECTED, REASON_LIVE_PLAN_LOST,
                              i.lost_plan_message),
                      rejected=VersionPhase.FAILED, lost_plan=i.lost_plan_message)
    if candidate is live:
        return Target(live, i.live_plan, i.settled)
    lost_plan: str | None = None
    if live is not None and i.status_active == candidate.number and i.status_live is candidate:
        if i.candidate_live_plan is not None:
            # The Service names another version than the one published and recorded
            # live (edited by hand): point it back.
            return Target(candidate, i.candidate_live_plan, repair=True)
        if i.candidate_live_plan_lost:
            lost_plan = ""
    result = i.candidate_result
    new_plan = i.candidate_new_plan
    if result is not None and result.ok and new_plan is not None:
        rollback = candidate.status.activatedAt is not None
        was = f" (was v{live.number})" if live is not None else ""
        return Target(candidate, new_plan, Outcome(
            wanted, PublishResult.SUCCEEDED,
            REASON_ROLLED_BACK if rollback else REASON_PUBLISHED, f"v{wanted} is live{was}",
        ), lost_plan=lost_plan)
    invalid = result is not None and result.invalid
    errors = result.errors if result is not None else ()
    return Target(live, i.live_plan, Outcome(
        wanted, PublishResult.REJECTED,
        REASON_VALIDATION_FAILED if invalid else REASON_COMPILE_FAILED,
        f"v{wanted} was not published: {summarise(errors)}; "
        + (f"v{live.number} stays live" if live else "nothing is live"),
    ), rejected=VersionPhase.INVALID if invalid else VersionPhase.FAILED, lost_plan=lost_plan)
