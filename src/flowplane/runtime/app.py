"""The runtime's state and loops: caches, acceptance, execution, schedules, replay, GC.

Reads come from list+watch caches; the pure rooms decide; the writes go through
`KubeApi`. Every loop is level-based and tolerant of other replicas doing the same
work: run names of schedules and replays are deterministic (AlreadyExists is success),
claims and replay records carry resourceVersion preconditions, deletes of pruned runs
treat 404 as done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from croniter import croniter

from flowplane.model.resources import API_VERSION, LABEL_COMPONENT, LABEL_WORKFLOW, WORKFLOW_PLURAL
from flowplane.model.run import (
    ANN_REPLAY,
    FINISHED_PHASES,
    RUN_PLURAL,
    RunPhase,
    TriggerKind,
    WorkflowRunStatus,
    token_record,
)
from flowplane.model.timestamps import format_timestamp, parse_timestamp
from flowplane.runtime import metrics, routing, safety
from flowplane.runtime.actions import DestinationGuard, GuardedResolver
from flowplane.runtime.connectors import load_connectors
from flowplane.runtime.executor import PlanGraph, plan_graph
from flowplane.runtime.informer import Informer, Key, Obj
from flowplane.runtime.kubeapi import ApiError, KubeApi, core_path, custom_path
from flowplane.runtime.pinning import (
    TRIGGER_SUFFIX,
    Pin,
    pin_from_service,
    random_run_name,
    replay_run_name,
    run_body,
    schedule_run_name,
    synthetic_event,
)
from flowplane.runtime.settings import RuntimeSettings
from flowplane.runtime.worker import Worker, claim_is_stale

log = logging.getLogger("flowplane.runtime")
UNCLAIMED_GRACE = 1.0
"""Seconds a new unclaimed run is left to the replica that created it before others claim it."""
SCAN_INTERVAL = 1.0
RETENTION_INTERVAL = 30.0
MAX_TICKS_PER_PASS = 5


def _status(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("status") or {}


def _run_status(obj: Mapping[str, Any]) -> WorkflowRunStatus:
    """A cached run's status as the model (an unreadable one reads as a new run)."""
    try:
        return WorkflowRunStatus.model_validate(_status(obj))
    except ValueError:
        return WorkflowRunStatus()


def _epoch(stamp: str | None) -> float:
    parsed = parse_timestamp(stamp)
    return parsed.timestamp() if parsed else 0.0


class Runtime:
    def __init__(self, settings: RuntimeSettings, api: KubeApi) -> None:
        self.settings = settings
        self.api = api
        ns = settings.namespaces

        def paths(core: bool, plural: str) -> list[str]:
            make = core_path if core else custom_path
            return [make(plural, n) for n in ns] if ns else [make(plural, None)]

        self.services = Informer(api, paths(True, "services"), what="trigger Services",
                                 label_selector=f"{LABEL_WORKFLOW},{LABEL_COMPONENT}=trigger")
        self.plans = Informer(api, paths(True, "configmaps"), what="plans",
                              label_selector=f"{LABEL_WORKFLOW},{LABEL_COMPONENT}=plan")
        self.runs = Informer(api, paths(False, RUN_PLURAL), what="runs")
        self.workflows = Informer(api, paths(False, WORKFLOW_PLURAL), what="workflows")
        self.namespaces = Informer(api, [core_path("namespaces")], what="namespaces")
        self.informers = (self.services, self.plans, self.runs, self.workflows, self.namespaces)
        self.window = safety.RateWindow()
        self.guard = DestinationGuard(settings.http_deny_cidrs)
        self._backoff: dict[Key, tuple[int, float]] = {}
        self._deleting: set[Key] = set()
        """Runs this replica asked to delete and the cache still shows."""
        self._pruning: dict[tuple[str, str], bool] = {}
        """Workflows being pruned now -> whether another pass was asked for meanwhile."""
        self._plan_cache: dict[tuple[str, str, str], PlanGraph] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._handles: dict[Key, Any] = {}
        self._unclaimed_since: dict[Key, float] = {}
        self._replaying: set[tuple[str, str, str]] = set()
        self._tripping: dict[tuple[str, str], tuple[float, str]] = {}
        self._schedule_marks: dict[tuple[str, str], datetime] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.stopping = False
        self.worker = Worker(
            api=api, executor_id=settings.executor_id, lease_seconds=settings.lease_seconds,
            load_plan=self.load_plan, connectors=load_connectors(settings.connectors),
            session=self.session, ai=settings.ai, action_timeout=settings.action_timeout,
            action_retries=settings.action_retries, retry_backoff=settings.retry_backoff,
            max_loop_items=settings.max_loop_items, guard=self.guard)
        self._resumes: dict[tuple[str, str], tuple[str, float]] = {}
        self.runs.on_change(self._on_run)
        self.workflows.on_change(self._on_workflow)

    # ------------------------------------------------------------------ lifecycle

    def session(self) -> aiohttp.ClientSession:
        """Outbound calls of actions and connectors, resolved through the destination guard."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self.guard)))
        return self._session

    @property
    def ready(self) -> bool:
        return all(i.ready.is_set() for i in self.informers)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(i.run(), name=f"informer {i.what}")
                       for i in self.informers]
        await asyncio.gather(*(i.ready.wait() for i in self.informers))
        self._tasks += [asyncio.create_task(self._scan_loop(), name="claims"),
                        asyncio.create_task(self._schedule_loop(), name="schedules"),
                        asyncio.create_task(self._retention_loop(), name="retention")]
        log.info("runtime %s ready: %d trigger Services, %d runs cached",
                 self.settings.executor_id, len(self.services.store), len(self.runs.store))

    async def stop(self) -> None:
        """Stop executing; hand every claimed run to another replica at once."""
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        handles = list(self._handles.values())
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await asyncio.gather(*(self.worker.release(h) for h in handles), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self.api.close()

    # ------------------------------------------------------------------ plans

    def plan_cached(self, namespace: str, name: str, plan_hash: str) -> PlanGraph | None:
        key = (namespace, name, plan_hash)
        plan = self._plan_cache.get(key)
        if plan is None:
            obj = self.plans.get(namespace, name)
            if obj is not None:
                plan = plan_graph(name, obj.get("data"))
                if plan is not None and plan.hash == plan_hash:
                    self._plan_cache[key] = plan  # plans are immutable: cache forever
                else:
                    plan = None
        return plan

    async def load_plan(self, namespace: str, name: str, plan_hash: str) -> PlanGraph | None:
        plan = self.plan_cached(namespace, name, plan_hash)
        if plan is not None:
            return plan
        try:
            obj = await self.api.get(core_path("configmaps", namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        plan = plan_graph(name, obj.get("data"))
        if plan is None or plan.hash != plan_hash:
            return None
        self._plan_cache[(namespace, name, plan_hash)] = plan
        return plan

    def pin_of(self, namespace: str, workflow: str) -> Pin | None:
        svc = self.services.get(namespace, workflow + TRIGGER_SUFFIX)
        if svc is None:
            return None
        return pin_from_service(workflow + TRIGGER_SUFFIX,
                                (svc.get("metadata") or {}).get("annotations"))

    # ------------------------------------------------------------------ accepting

    def _on_workflow(self, kind: str, obj: Obj) -> None:
        """Note when a resume is first seen: only runs accepted after it count."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if kind == "DELETED":
            self._resumes.pop(key, None)
            return
        resumed = str((_status(obj).get("safety") or {}).get("resumedAt") or "")
        if resumed and self._resumes.get(key, ("", 0.0))[0] != resumed:
            # resumedAt has one-second resolution; a run accepted in that second before
            # the resume must not count, so the first sighting is the bound (a replica
            # that starts later uses the second after resumedAt).
            seen = time.time() if key in self._resumes or self.workflows.ready.is_set() \
                else _epoch(resumed) + 1.0
            self._resumes[key] = (resumed, seen)

    def _counting_since(self, namespace: str, workflow: str) -> tuple[str, float]:
        return self._resumes.get((namespace, workflow), ("", 0.0))

    def paused_reason(self, namespace: str, workflow: str) -> str | None:
        obj = self.workflows.get(namespace, workflow)
        safety_status = _status(obj).get("safety") or {}
        if safety_status.get("tripped"):
            return str(safety_status.get("reason") or "SafetyPaused")
        return None

    async def accept(self, namespace: str, pin: Pin, event: Mapping[str, Any],
                     trigger: TriggerKind, name: str | None = None) -> routing.Refusal | str:
        """Store a run for `event` pinned to `pin` (before anyone is told it was accepted)."""
        key = (namespace, pin.workflow)
        paused = self.paused_reason(namespace, pin.workflow)
        if paused:
            return routing.Refusal(404, routing.NOT_LIVE, f"{pin.workflow} is paused by a "
                                                          f"safety check ({paused})")
        limit = safety.rate_limit_for(self.settings.max_runs_per_minute, self._ns_annotations(
            namespace))
        now = time.time()
        since = self._counting_since(namespace, pin.workflow)[1]
        if self.window.over(key, limit, now, since):
            await self.trip(namespace, pin.workflow, safety.RUN_RATE_EXCEEDED,
                            f"over {limit} runs per minute")
            return routing.Refusal(429, routing.RATE_EXCEEDED,
                                   f"{pin.workflow} is over its limit of {limit} runs per minute; "
                                   "its safety pause is tripped")
        workflow = self.workflows.get(namespace, pin.workflow)
        uid = str(((workflow or {}).get("metadata") or {}).get("uid") or "") or None
        for _ in range(3):
            run_name = name or random_run_name(pin.workflow)
            body = run_body(name=run_name, pin=pin, trigger=trigger, event=event,
                            workflow_uid=uid)
            try:
                obj = await self.api.create(custom_path(RUN_PLURAL, namespace), body)
            except ApiError as exc:
                if exc.status == 409 and name is None:
                    continue  # a random name clashed: draw another
                if exc.status == 409:
                    return routing.Refusal(409, "AlreadyExists", f"run {run_name} exists")
                log.warning("could not store a run of %s/%s: %s", namespace, pin.workflow, exc)
                return routing.Refusal(503, routing.NOT_STORED,
                                       f"the run could not be stored: {exc.reason}",
                                       {"Retry-After": "5"})
            self.window.record(key, run_name, now)
            metrics.RUNS_STARTED.labels(trigger.value).inc()
            self.start_run(obj)
            return run_name
        return routing.Refusal(503, routing.NOT_STORED, "no free run name", {"Retry-After": "1"})

    def _ns_annotations(self, namespace: str) -> Mapping[str, str]:
        obj = self.namespaces.get("", namespace)
        return ((obj or {}).get("metadata") or {}).get("annotations") or {}

    # ------------------------------------------------------------------ executing

    def start_run(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if self.stopping or key in self._running:
            return
        failures, not_before = self._backoff.get(key, (0, 0.0))
        if failures and time.monotonic() < not_before:
            return
        # A cache entry seen after this execution ends may be stale; it must wait out the
        # grace again rather than be claimed at once (the claim would only meet a 409).
        self._unclaimed_since.pop(key, None)
        self._running[key] = asyncio.create_task(self._execute(key, obj), name=f"run {key}")

    async def _execute(self, key: Key, obj: Obj) -> None:
        try:
            previous = (_status(obj).get("executor") or {}).get("id")
            handle = await self.worker.claim(obj)
            if handle is None:
                return
            if previous and previous != self.settings.executor_id:
                metrics.RUNS_TAKEN_OVER.inc()
            self._handles[key] = handle
            phase = await self.worker.execute(handle)
            self._backoff.pop(key, None)
            if phase is not None:
                metrics.RUNS_FINISHED.labels(phase.value).inc()
                await self._after_finish(key[0], handle.spec.workflowRef.name, handle.name,
                                         handle.uid, phase,
                                         handle.status.finishedAt or format_timestamp())
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._backoff.get(key, (0, 0.0))[0] + 1
            delay = min(60.0, 0.5 * 2**failures)
            self._backoff[key] = (failures, time.monotonic() + delay)
            log.exception("run %s/%s: executor error #%d; retrying in %.0fs", *key, failures,
                          delay)
        finally:
            self._running.pop(key, None)
            self._handles.pop(key, None)

    def _on_run(self, kind: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if kind == "DELETED":
            self._unclaimed_since.pop(key, None)
            self._backoff.pop(key, None)
            self._deleting.discard(key)
            return
        workflow = ((obj.get("spec") or {}).get("workflowRef") or {}).get("name")
        if workflow:
            self.window.record((key[0], str(workflow)), key[1],
                               _epoch(meta.get("creationTimestamp")) or time.time())
        token = (meta.get("annotations") or {}).get(ANN_REPLAY)
        status = _status(obj)
        if token and status.get("phase") in FINISHED_PHASES \
                and (status.get("lastReplay") or {}).get("token") != token_record(str(token)):
            marker = (key[0], key[1], str(token))
            if marker not in self._replaying:
                self._replaying.add(marker)
                task = asyncio.create_task(self._replay(obj, str(token)))
                task.add_done_callback(lambda _t: self._replaying.discard(marker))

    async def _scan_loop(self) -> None:
        """Claim runs nobody executes: new unclaimed ones (after a grace) and stale claims."""
        while True:
            await asyncio.sleep(SCAN_INTERVAL)
            now = datetime.now(UTC)
            for key, obj in list(self.runs.store.items()):
                if key in self._running:
                    continue
                status = _status(obj)
                if status.get("phase") in FINISHED_PHASES:
                    self._unclaimed_since.pop(key, None)
                    continue
                if not status.get("executor"):
                    first = self._unclaimed_since.setdefault(key, time.monotonic())
                    if time.monotonic() - first >= UNCLAIMED_GRACE:
                        self.start_run(obj)
                    continue
                self._unclaimed_since.pop(key, None)
                if claim_is_stale(_run_status(obj), now):
                    self.start_run(obj)

    # ------------------------------------------------------------------ safety

    async def trip(self, namespace: str, workflow: str, reason: str, message: str) -> None:
        """Patch the Workflow's status.safety once; the operator unwires the trigger."""
        key = (namespace, workflow)
        resume = self._counting_since(namespace, workflow)[0]
        last = self._tripping.get(key)
        if self.paused_reason(namespace, workflow) or (
                last is not None and last[1] == resume and time.monotonic() - last[0] < 5.0):
            return  # tripped already (our cache may not show our own write yet)
        self._tripping[key] = (time.monotonic(), resume)
        patch = {"status": {"safety": {"tripped": True, "reason": reason,
                                       "message": message[:1024], "trippedAt": format_timestamp()}}}
        try:
            obj = await self.api.merge_patch(
                custom_path(WORKFLOW_PLURAL, namespace, workflow, "status"), patch)
        except ApiError as exc:
            log.error("could not trip the safety pause of %s/%s (%s): %s", namespace, workflow,
                      reason, exc)
            self._tripping.pop(key, None)
            return
        metrics.SAFETY_TRIPS.labels(reason).inc()
        log.warning("tripped the safety pause of %s/%s: %s: %s", namespace, workflow, reason,
                    message)
        await self.event(namespace, "Workflow", workflow, str(obj["metadata"].get("uid") or ""),
                         "Warning", "SafetyTripped", f"{reason}: {message}")

    async def _after_finish(self, namespace: str, workflow: str, run: str, uid: str,
                            phase: RunPhase, finished_at: str) -> None:
        if phase == RunPhase.FAILED:
            finished = {name: (str(_status(o).get("finishedAt") or ""),
                               str(_status(o).get("phase")))
                        for (ns, name), o in self.runs.store.items()
                        if ns == namespace and _workflow_of(o) == workflow
                        and _status(o).get("phase") in FINISHED_PHASES}
            finished[run] = (finished_at, RunPhase.FAILED.value)
            since = str((_status(self.workflows.get(namespace, workflow)).get("safety") or {})
                        .get("resumedAt") or "")
            failures = safety.trailing_failures(finished.values(), since)
            if failures >= self.settings.max_consecutive_failures:
                await self.trip(namespace, workflow, safety.CONSECUTIVE_FAILURES,
                                f"the last {failures} runs failed")
        await self.prune(namespace, workflow, finished=(run, phase.value, finished_at, uid))

    # ------------------------------------------------------------------ replay

    async def _replay(self, source: Obj, token: str) -> None:
        meta = source["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        spec = source.get("spec") or {}
        workflow = str((spec.get("workflowRef") or {}).get("name") or "")
        pin = self.pin_of(namespace, workflow)
        paused = self.paused_reason(namespace, workflow)
        record: dict[str, Any] = {"token": token_record(token), "time": format_timestamp()}
        if paused or pin is None:
            record.update(result="Rejected", reason="SafetyPaused" if paused else "NotLive",
                          message=(f"{workflow} is paused by a safety check ({paused}); resume "
                                   "it first" if paused else f"{workflow} has no live version"))
        else:
            new_name = replay_run_name(name, token)
            wf = self.workflows.get(namespace, workflow)
            body = run_body(name=new_name, pin=pin, trigger=TriggerKind.REPLAY,
                            event=spec.get("event") or synthetic_event(),
                            workflow_uid=str(((wf or {}).get("metadata") or {}).get("uid") or "")
                            or None, replay_of=name)
            try:
                created = await self.api.create(custom_path(RUN_PLURAL, namespace), body)
                metrics.RUNS_STARTED.labels(TriggerKind.REPLAY.value).inc()
                self.start_run(created)
            except ApiError as exc:
                if exc.status != 409:
                    log.warning("replay of %s/%s not stored: %s", namespace, name, exc)
                    return  # the next event on the run tries again
            record.update(result="Started", run=new_name, reason="", message=f"pinned to "
                                                                            f"v{pin.version}")
        try:
            await self.api.merge_patch(custom_path(RUN_PLURAL, namespace, name, "status"), {
                "metadata": {"resourceVersion": meta.get("resourceVersion")},
                "status": {"lastReplay": record}})
        except ApiError as exc:
            if exc.status != 409:  # 409: another replica recorded it first
                log.warning("could not record the replay of %s/%s: %s", namespace, name, exc)
            return
        if record["result"] == "Rejected":
            await self.event(namespace, "WorkflowRun", name, str(meta.get("uid") or ""),
                             "Warning", "ReplayRejected", f"{record['reason']}: "
                                                          f"{record['message']}")
        else:
            await self.event(namespace, "WorkflowRun", name, str(meta.get("uid") or ""),
                             "Normal", "Replayed", f"replayed as {record['run']} "
                                                   f"({record['message']})")

    # ------------------------------------------------------------------ schedules

    async def _schedule_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.schedule_interval)
            try:
                await self.fire_schedules(datetime.now(UTC))
            except Exception:
                log.exception("schedule pass failed")

    async def fire_schedules(self, now: datetime) -> None:
        live: set[tuple[str, str]] = set()
        for (namespace, svc_name), svc in list(self.services.store.items()):
            pin = pin_from_service(svc_name, (svc.get("metadata") or {}).get("annotations"))
            if pin is None or pin.trigger_type != "schedule":
                continue
            plan = await self.load_plan(namespace, pin.plan, pin.plan_hash)
            cron = plan.trigger_config().get("cron") if plan else None
            if not isinstance(cron, str):
                continue
            key = (namespace, pin.workflow)
            live.add(key)
            last = self._schedule_marks.get(key)
            self._schedule_marks[key] = now
            if last is None:
                continue  # ticks before this replica first saw the workflow are not run
            try:
                ticks = croniter(cron, last)
                tick: datetime = ticks.get_next(datetime)
            except Exception:
                continue
            for _ in range(MAX_TICKS_PER_PASS):
                if tick > now:
                    break
                await self._fire(namespace, pin, tick)
                tick = ticks.get_next(datetime)
        for key in set(self._schedule_marks) - live:
            del self._schedule_marks[key]

    async def _fire(self, namespace: str, pin: Pin, tick: datetime) -> None:
        stamp = format_timestamp(tick)
        event = synthetic_event(body={"scheduledAt": stamp}, received_at=stamp, path="/")
        result = await self.accept(namespace, pin, event, TriggerKind.SCHEDULE,
                                   name=schedule_run_name(pin.workflow, tick))
        if isinstance(result, routing.Refusal) and result.status not in (409, 404):
            log.warning("tick %s of %s/%s not run: %s", stamp, namespace, pin.workflow,
                        result.message)

    # ------------------------------------------------------------------ retention

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_INTERVAL)
            for namespace, workflow in list(self.workflows.store):
                try:
                    await self.prune(namespace, workflow)
                except Exception:
                    log.exception("pruning runs of %s/%s failed", namespace, workflow)

    async def prune(self, namespace: str, workflow: str,
                    finished: tuple[str, str, str, str] | None = None) -> None:
        """Delete the oldest finished runs beyond the workflow's spec.runHistory.

        `finished` is (name, phase, finishedAt, uid) of a run this replica just finished:
        the run cache may not show it (or its last write) yet, and it must count.
        """
        key = (namespace, workflow)
        if key in self._pruning:  # one pass per workflow at a time; ask for one more
            self._pruning[key] = True
            return
        self._pruning[key] = False
        try:
            while True:
                await self._prune_once(namespace, workflow, finished)
                if not self._pruning[key]:
                    return
                self._pruning[key] = False
                finished = None
        finally:
            self._pruning.pop(key, None)

    async def _prune_once(self, namespace: str, workflow: str,
                          finished: tuple[str, str, str, str] | None) -> None:
        wf = self.workflows.get(namespace, workflow)
        if wf is None:
            return
        history = ((wf.get("spec") or {}).get("runHistory") or {})
        keep = {RunPhase.SUCCEEDED.value: int(history.get("succeeded", 50)),
                RunPhase.FAILED.value: int(history.get("failed", 50))}
        by_phase: dict[str, list[tuple[str, str, str]]] = {p: [] for p in keep}
        for (ns, name), obj in list(self.runs.store.items()):
            phase = _status(obj).get("phase")
            finished_at = str(_status(obj).get("finishedAt") or "")
            if finished is not None and name == finished[0] and ns == namespace:
                phase, finished_at = finished[1], finished[2]
            if ns == namespace and _workflow_of(obj) == workflow and phase in keep:
                by_phase[str(phase)].append((finished_at, name,
                                             str(obj["metadata"].get("uid") or "")))
        if finished is not None and finished[1] in keep and not any(
                entry[1] == finished[0] for entry in by_phase[finished[1]]):
            by_phase[finished[1]].append((finished[2], finished[0], finished[3]))
        for phase, runs in by_phase.items():
            runs.sort(reverse=True)
            for _, name, uid in runs[keep[phase]:]:
                if (namespace, name) in self._deleting:
                    continue  # asked already; the watch has not shown it gone yet
                self._deleting.add((namespace, name))
                try:
                    await self.api.delete(custom_path(RUN_PLURAL, namespace, name), uid=uid)
                except ApiError:
                    self._deleting.discard((namespace, name))
                    raise

    # ------------------------------------------------------------------ events

    async def event(self, namespace: str, kind: str, name: str, uid: str, type_: str,
                    reason: str, message: str) -> None:
        now = format_timestamp()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{name[:200]}.", "namespace": namespace},
            "involvedObject": {"apiVersion": API_VERSION, "kind": kind, "name": name,
                               "namespace": namespace, "uid": uid},
            "reason": reason, "message": message[:1024], "type": type_,
            "source": {"component": "flowplane-runtime"},
            "reportingComponent": "flowplane-runtime",
            "reportingInstance": self.settings.executor_id[:128],
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            await self.api.create(core_path("events", namespace), body)
        except ApiError as exc:
            log.info("event %s on %s/%s not recorded: %s", reason, namespace, name, exc)


def _workflow_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("spec") or {}).get("workflowRef") or {}).get("name") or "")
