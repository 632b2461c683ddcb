"""Execute one run durably: claim it, run its steps, record each before the next.

Protocol (RUNTIME.md "Durability and recovery"):
- A replica *claims* a run by writing `status.executor` {id, heartbeatAt} with a
  resourceVersion precondition; of two replicas claiming at once, one gets 409 and
  backs off. A claim whose heartbeat is older than its lease may be taken over.
- Every write carries the resourceVersion of the previous one. A 409 means someone
  else wrote: if the claim is no longer ours the run is abandoned at once (the new
  owner resumes it from what was recorded), otherwise the write is retried.
- A step's outcome is written before the next step starts, so a resumed run starts at
  its first unfinished step. The step in flight when a replica died runs again
  (at-least-once); a finished one never does. A delay records when it ends before it
  waits, so a restart does not restart the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import ValidationError

from flowplane.compiler.durations import parse_duration
from flowplane.model.run import (
    FINISHED_PHASES,
    RUN_OUTPUT_LIMIT,
    RUN_PLURAL,
    RunPhase,
    StepError,
    StepPhase,
    StepStatus,
    WorkflowRunSpec,
    WorkflowRunStatus,
)
from flowplane.model.timestamps import format_timestamp, parse_timestamp
from flowplane.runtime import actions, executor
from flowplane.runtime.connectors import Connector
from flowplane.runtime.executor import Outcome, PlanGraph, RunInfo, Scope
from flowplane.runtime.kubeapi import ApiError, KubeApi, custom_path
from flowplane.runtime.metrics import STEP_DURATION
from flowplane.runtime.pinning import now_precise

log = logging.getLogger(__name__)
NO_RETRY_CODES = frozenset({actions.APP_NOT_AVAILABLE, actions.INVALID_INPUT,
                            actions.DESTINATION_DENIED,
                            actions.AI_NOT_CONFIGURED, "TemplateError", "AppNotConfigured"})


INVALID_RUN = "InvalidRun"


class ClaimLost(Exception):
    """Another replica owns the run now; stop without writing."""


def claim_is_stale(status: WorkflowRunStatus, now: datetime) -> bool:
    if status.executor is None:
        return True
    beat = parse_timestamp(status.executor.heartbeatAt)
    return beat is None or (now - beat).total_seconds() > status.executor.leaseSeconds


def _duration(start: str | None, end: str) -> str | None:
    a, b = parse_timestamp(start), parse_timestamp(end)
    if a is None or b is None:
        return None
    seconds = max(0.0, (b - a).total_seconds())
    if seconds < 10:
        return f"{seconds:.2f}s"
    return f"{seconds:.0f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60)}s"


def succeeded_condition(status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": "Succeeded", "status": status, "reason": reason,
            "message": message[:32768], "lastTransitionTime": now}


class RunHandle:
    """One claimed run: its last known resourceVersion and the write lock."""

    def __init__(self, api: KubeApi, obj: Mapping[str, Any], executor_id: str,
                 lease_seconds: int) -> None:
        meta = obj["metadata"]
        self.api = api
        self.namespace = str(meta["namespace"])
        self.name = str(meta["name"])
        self.uid = str(meta.get("uid") or "")
        self.resource_version = str(meta.get("resourceVersion") or "")
        self.spec = WorkflowRunSpec.model_validate(obj.get("spec") or {})
        self.status = WorkflowRunStatus.model_validate(obj.get("status") or {})
        self.executor_id = executor_id
        self.lease_seconds = lease_seconds
        self._lock = asyncio.Lock()

    @property
    def path(self) -> str:
        return custom_path(RUN_PLURAL, self.namespace, self.name, "status")

    def _executor(self) -> dict[str, Any]:
        return {"id": self.executor_id, "heartbeatAt": format_timestamp(),
                "leaseSeconds": self.lease_seconds}

    async def write(self, status: dict[str, Any], *, retry_conflicts: bool = True) -> None:
        """Merge `status` (with a fresh heartbeat) guarded by the last resourceVersion.

        A claim is made on what was read and is never retried on a conflict: the run may
        have finished or been claimed since (`retry_conflicts=False`). Later writes retry
        while the run is still ours and unfinished.
        """
        async with self._lock:
            body = {"metadata": {"resourceVersion": self.resource_version},
                    "status": {**status, "executor": self._executor()}}
            for _ in range(5):
                try:
                    result = await self.api.merge_patch(self.path, body)
                except ApiError as exc:
                    if exc.status == 404:
                        raise ClaimLost(f"{self.namespace}/{self.name} was deleted") from exc
                    if exc.status != 409:
                        raise
                    if not retry_conflicts:
                        raise ClaimLost(f"{self.namespace}/{self.name} changed since it was "
                                        "read") from exc
                    current = await self.api.get(custom_path(RUN_PLURAL, self.namespace,
                                                             self.name))
                    fresh = current.get("status") or {}
                    owner = (fresh.get("executor") or {}).get("id")
                    if owner != self.executor_id:
                        raise ClaimLost(f"{self.namespace}/{self.name} is run by {owner}") \
                            from exc
                    if fresh.get("phase") in FINISHED_PHASES:
                        raise ClaimLost(f"{self.namespace}/{self.name} is finished") from exc
                    self.resource_version = str(current["metadata"]["resourceVersion"])
                    body["metadata"]["resourceVersion"] = self.resource_version
                    continue
                self.resource_version = str(result["metadata"]["resourceVersion"])
                self.status = WorkflowRunStatus.model_validate(result.get("status") or {})
                return
            raise ApiError(409, "Conflict", "the run kept changing under its executor")

    async def heartbeat(self) -> None:
        await self.write({})


PlanLoader = Callable[[str, str, str], Awaitable[PlanGraph | None]]


class Worker:
    """Runs claimed runs to the end; the effects it needs are injected."""

    def __init__(self, *, api: KubeApi, executor_id: str, lease_seconds: int,
                 load_plan: PlanLoader, connectors: Mapping[str, Connector],
                 session: Callable[[], aiohttp.ClientSession], ai: actions.AISettings,
                 action_timeout: float, action_retries: int, retry_backoff: float,
                 max_loop_items: int, guard: actions.DestinationGuard | None = None) -> None:
        self.api = api
        self.executor_id = executor_id
        self.lease_seconds = lease_seconds
        self.load_plan = load_plan
        self.connectors = connectors
        self.session = session
        self.ai = ai
        self.action_timeout = action_timeout
        self.action_retries = action_retries
        self.retry_backoff = retry_backoff
        self.max_loop_items = max_loop_items
        self.guard = guard

    # ------------------------------------------------------------------ claiming

    async def claim(self, obj: Mapping[str, Any]) -> RunHandle | None:
        """Take the run if it is unfinished and unclaimed (or its claim went stale)."""
        try:
            handle = RunHandle(self.api, obj, self.executor_id, self.lease_seconds)
        except ValidationError as exc:
            await self._fail_unreadable(obj, exc)
            return None
        status = handle.status
        if status.phase in FINISHED_PHASES:
            return None
        if status.executor is not None and status.executor.id != self.executor_id \
                and not claim_is_stale(status, datetime.now(UTC)):
            return None
        now = now_precise()
        patch: dict[str, Any] = {"phase": RunPhase.RUNNING.value,
                                 "startedAt": status.startedAt or now}
        if status.phase != RunPhase.RUNNING:
            patch["conditions"] = [succeeded_condition("Unknown", "Running", "", now)]
        if not status.steps:
            # A new run: its trigger step (the event, no side effect) is recorded with the
            # claim, so it is written before the next step starts without a write of its own.
            plan = await self.load_plan(handle.namespace, handle.spec.plan.configMap,
                                        handle.spec.plan.hash)
            if plan is not None:
                steps = executor.steps_by_node(plan, [])
                steps[plan.trigger] = self._record(
                    steps[plan.trigger],
                    Outcome(True, _event_output(handle.spec.event.model_dump(mode="json"))),
                    format_timestamp(), RUN_OUTPUT_LIMIT)
                patch["steps"] = _dump(executor.ordered(plan, steps))
        try:
            await handle.write(patch, retry_conflicts=False)
        except (ApiError, ClaimLost) as exc:
            log.debug("claim of %s/%s lost: %s", handle.namespace, handle.name, exc)
            return None
        if status.executor is not None and status.executor.id != self.executor_id:
            log.info("took over run %s/%s from %s (heartbeat %s)", handle.namespace,
                     handle.name, status.executor.id, status.executor.heartbeatAt)
        return handle

    async def _fail_unreadable(self, obj: Mapping[str, Any], exc: ValidationError) -> None:
        """A run made by hand that the runtime cannot read fails once, with the reason."""
        meta = obj.get("metadata") or {}
        if ((obj.get("status") or {}).get("phase")) in FINISHED_PHASES:
            return
        now = now_precise()
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        try:
            await self.api.merge_patch(
                custom_path(RUN_PLURAL, str(meta.get("namespace")), str(meta.get("name")),
                            "status"),
                {"metadata": {"resourceVersion": meta.get("resourceVersion")},
                 "status": {"phase": RunPhase.FAILED.value, "finishedAt": now,
                            "error": {"code": INVALID_RUN, "message": detail[:4096]},
                            "conditions": [succeeded_condition("False", INVALID_RUN,
                                                               detail, now)]}})
        except ApiError as api_exc:
            log.info("could not fail unreadable run %s: %s", meta.get("name"), api_exc)

    async def release(self, handle: RunHandle) -> None:
        """On shutdown: age our claim so another replica resumes the run at once."""
        try:
            async with handle._lock:
                await self.api.merge_patch(handle.path, {
                    "metadata": {"resourceVersion": handle.resource_version},
                    "status": {"executor": {"id": self.executor_id,
                                            "heartbeatAt": "1970-01-01T00:00:00Z",
                                            "leaseSeconds": self.lease_seconds}}})
        except ApiError:
            pass

    # ------------------------------------------------------------------ running

    async def execute(self, handle: RunHandle) -> RunPhase | None:
        """Run to the end; returns the final phase, or None when the claim was lost."""
        beat = asyncio.create_task(self._heartbeats(handle))
        try:
            return await self._execute(handle)
        except ClaimLost as exc:
            log.info("stopped executing %s/%s: %s", handle.namespace, handle.name, exc)
            return None
        finally:
            beat.cancel()

    async def _heartbeats(self, handle: RunHandle) -> None:
        interval = max(1.0, handle.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await handle.heartbeat()
            except ClaimLost:
                return
            except ApiError as exc:
                log.warning("heartbeat of %s/%s failed: %s", handle.namespace, handle.name, exc)

    async def _execute(self, handle: RunHandle) -> RunPhase:
        spec = handle.spec
        plan = await self.load_plan(handle.namespace, spec.plan.configMap, spec.plan.hash)
        if plan is None:
            await self._finish(handle, None, [], executor.PLAN_NOT_FOUND, None,
                               f"plan {spec.plan.configMap} ({spec.plan.hash}) of "
                               f"v{spec.version} is gone or does not match its hash")
            return RunPhase.FAILED
        steps = executor.steps_by_node(plan, handle.status.steps)
        info = RunInfo(handle.name, handle.namespace, spec.workflowRef.name, spec.version)
        while True:
            nxt = executor.advance(plan, steps)
            if nxt.node is None:
                failed = steps[nxt.failed] if nxt.failed else None
                error = failed.error if failed is not None else None
                await self._finish(handle, plan, executor.ordered(plan, steps),
                                   executor.STEP_FAILED if failed else None, nxt.failed,
                                   f"{error.code}: {error.message}" if error else "")
                return RunPhase.FAILED if failed else RunPhase.SUCCEEDED
            node = nxt.node
            started = steps[node].startedAt or format_timestamp()
            began = time.monotonic()
            if node == plan.trigger:
                outcome = Outcome(True, _event_output(spec.event.model_dump(mode="json")))
            elif plan.node_type(node) == "delay":
                outcome = await self._delay(handle, plan, node, steps, started)
            else:
                scope = Scope(info, executor.outputs_of(steps))
                outcome = await self._perform(plan, node, steps, scope, frozenset())
            STEP_DURATION.labels(plan.node_type(node) or "unknown").observe(
                time.monotonic() - began)
            steps[node] = self._record(steps[node], outcome, started,
                                       executor.run_budget_left(steps.values()))
            # Record the outcome (and the skips it decides) before the next step starts;
            # when no step follows, it is written with the run's final status instead.
            if executor.advance(plan, steps).node is not None:
                await handle.write({"steps": _dump(executor.ordered(plan, steps))})

    def _record(self, step: StepStatus, outcome: Outcome, started: str, budget: int) -> StepStatus:
        output, truncated = executor.cap_output(outcome.output, budget)
        return step.model_copy(update={
            "phase": StepPhase.SUCCEEDED if outcome.ok else StepPhase.FAILED,
            "startedAt": started, "finishedAt": format_timestamp(), "resumeAt": None,
            "output": output, "truncated": True if truncated else None,
            "error": None if outcome.ok else StepError(code=outcome.code,
                                                       message=outcome.message[:4096]),
        })

    async def _finish(self, handle: RunHandle, plan: PlanGraph | None, steps: list[StepStatus],
                      code: str | None, node: str | None, message: str) -> None:
        now = now_precise()
        if plan is not None:
            by_node = {s.node: s for s in steps}
            executor.skip_rest(plan, by_node)
            steps = executor.ordered(plan, by_node)
        ok = code is None
        status: dict[str, Any] = {
            "phase": (RunPhase.SUCCEEDED if ok else RunPhase.FAILED).value,
            "finishedAt": now,
            "duration": _duration(handle.status.startedAt, now),
            "error": None if ok else {"code": code, "node": node, "message": message[:4096]},
            "conditions": [succeeded_condition(
                "True" if ok else "False", "Succeeded" if ok else str(code),
                "all steps finished" if ok else message, now)],
        }
        if steps:
            status["steps"] = _dump(steps)
        await handle.write(status)

    # ------------------------------------------------------------------ nodes

    async def _delay(self, handle: RunHandle, plan: PlanGraph, node: str,
                     steps: dict[str, StepStatus], started: str) -> Outcome:
        seconds = parse_duration(executor.node_config(plan, node).get("duration"))
        if seconds is None:
            return Outcome.fail(executor.INVALID_DURATION, "config.duration is not a duration")
        resume_at = executor_resume(steps[node].resumeAt, started, seconds)
        if steps[node].resumeAt is None:
            steps[node] = steps[node].model_copy(update={
                "phase": StepPhase.RUNNING, "startedAt": started, "resumeAt": resume_at})
            await handle.write({"steps": _dump(executor.ordered(plan, steps))})
        wake = parse_timestamp(resume_at) or datetime.now(UTC)
        await asyncio.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
        return Outcome(True, {})

    async def _perform(self, plan: PlanGraph, node: str, steps: dict[str, StepStatus],
                       scope: Scope, active: frozenset[str]) -> Outcome:
        kind = plan.node_type(node)
        raw = plan.nodes.get(node) or {}
        if raw.get("role") == "action":
            inputs = executor.render_inputs(plan, node, "inputs", scope)
            if isinstance(inputs, Outcome):
                return inputs
            return await self._with_retries(lambda: actions.run_action(
                str(raw.get("app") or ""), str(raw.get("operation") or ""), inputs,
                self.connectors, self.session(), self.action_timeout, self.guard))
        if kind == "branch":
            return executor.evaluate_branch(plan, node, scope)
        if kind == "transform":
            return executor.evaluate_transform(plan, node, scope)
        if kind == "ai":
            config = executor.render_inputs(plan, node, "config", scope)
            if isinstance(config, Outcome):
                return config
            return await self._with_retries(lambda: actions.run_ai(
                config, self.ai, self.session(), self.action_timeout))
        if kind == "loop":
            return await self._loop(plan, node, steps, scope, active)
        if kind == "delay":  # inside a loop body: a plain wait
            seconds = parse_duration(executor.node_config(plan, node).get("duration")) or 0.0
            await asyncio.sleep(seconds)
            return Outcome(True, {})
        return Outcome.fail("UnknownNodeType", f"node {node!r} has type {kind!r}")

    async def _with_retries(self, attempt: Callable[[], Awaitable[Outcome]]) -> Outcome:
        outcome = await attempt()
        for n in range(self.action_retries):
            if outcome.ok or outcome.code in NO_RETRY_CODES:
                break
            await asyncio.sleep(self.retry_backoff * (2**n))
            outcome = await attempt()
        return outcome

    async def _loop(self, plan: PlanGraph, node: str, steps: dict[str, StepStatus],
                    scope: Scope, active: frozenset[str]) -> Outcome:
        items = executor.loop_items(plan, node, scope, self.max_loop_items)
        if isinstance(items, Outcome):
            return items
        inside = active | {node}
        body = plan.bodies.get(node, ())
        results: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            local = dict(steps)
            local[node] = local[node].model_copy(update={"phase": StepPhase.SUCCEEDED,
                                                         "output": {}})
            for member in body:
                if not executor.should_run(plan, member, local, inside):
                    local[member] = local[member].model_copy(update={"phase": StepPhase.SKIPPED})
                    continue
                inner = Scope(scope.run, executor.outputs_of(local),
                              loop={"item": item, "index": index})
                started = format_timestamp()
                outcome = await self._perform(plan, member, local, inner, inside)
                local[member] = self._record(local[member], outcome, started,
                                             executor.run_budget_left(local.values()))
                if not outcome.ok:
                    steps.update({m: local[m] for m in body})
                    return Outcome.fail(outcome.code, f"item {index}, node {member}: "
                                                      f"{outcome.message}")
            results.append({m: local[m].output for m in body
                            if local[m].phase == StepPhase.SUCCEEDED})
            steps.update({m: local[m] for m in body})
        if not items:
            for member in body:
                steps[member] = steps[member].model_copy(update={"phase": StepPhase.SKIPPED})
        return Outcome(True, {"items": results})


def executor_resume(recorded: str | None, started: str, seconds: float) -> str:
    """When a delay ends: as recorded, else `seconds` after it started."""
    if recorded:
        return recorded
    start = parse_timestamp(started) or datetime.now(UTC)
    return format_timestamp(start + timedelta(seconds=seconds))


def _event_output(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: event.get(k) for k in ("method", "path", "query", "headers", "body")}


def _dump(steps: list[StepStatus]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json", exclude_none=True) for s in steps]
