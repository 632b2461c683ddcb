"""The family worker: a family's pass gathers its snapshot, decides, and applies the writes.

Around the pass: the settings a tenant gets, the families an event touches, and what is
said (once per change) when a pass cannot finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from kubernetes.client.exceptions import ApiException

from flowplane.model.timestamps import format_timestamp
from flowplane.operator import metrics
from flowplane.operator.applier import Applier, NameTaken, WriteRefused
from flowplane.operator.expectations import Expectations, ObjKey
from flowplane.operator.indexes import Index, Indexes
from flowplane.operator.kube import KubeClient
from flowplane.operator.queue import FamilyQueue, Retry
from flowplane.reconcile.compile_cache import CompileCache
from flowplane.reconcile.decide import decide
from flowplane.reconcile.settings import Settings, tenant_settings
from flowplane.reconcile.snapshot import Family, FamilyKey, RuntimeEndpoints
from flowplane.reconcile.writes import Decision, Event, Kind

log = logging.getLogger("flowplane")

TAKEN_NAME_TTL = 300.0
"""Seconds decide() is told a name is taken by someone else, before we look again."""

LARGE_FAMILY = 32
"""Versions above which a family is decided in a thread, so the watches keep flowing while
its new versions compile (most passes are compile-cache hits and take microseconds)."""

TERMINATING_RETRY = 30.0
"""Seconds between attempts while a family's namespace is being deleted."""




class FamilyReconciler:
    """Owns the queue, the indexes' references, and the write applier."""

    def __init__(self, client: KubeClient, settings: Settings, workers: int = 4,
                 held: bool = False) -> None:
        self.client = client
        self.settings = settings
        self.indexes: Indexes | None = None
        self.expectations = Expectations()
        self.may_write: Callable[[], bool] = lambda: True
        """The leader-election fence (operator/leadership.py): a standby writes nothing."""
        self.applier = Applier(client, self.expectations, may_write=lambda: self.may_write())
        self._limit_problems: dict[str, tuple[str, ...]] = {}
        """The tenant-limit problems last logged per namespace (logged once per change)."""
        self._refused: dict[FamilyKey, str] = {}
        """The last refused write logged per family (logged once per change)."""
        self.queue: FamilyQueue[FamilyKey] = FamilyQueue(self.reconcile, workers=workers,
                                                         held=held)
        """Held until every index has its initial listing (kopf_fixes.lean_initial_listing):
        no family is decided on half of it."""
        self.phases: dict[FamilyKey, str] = {}
        self.namespace_limits: Index | None = None
        self.taken: dict[FamilyKey, dict[ObjKey, float]] = {}
        self.runtime_endpoints: RuntimeEndpoints | None = None
        """The runtime's ready endpoints (operator/endpoints.py); None until listed."""
        self.compile_cache = CompileCache()

    def set_runtime_endpoints(self, endpoints: RuntimeEndpoints) -> None:
        """The runtime's endpoints changed: every wired family's slice must follow.

        With N wired families that is N decisions and up to N slice patches per change of
        the runtime's ready addresses (a rolling update of the runtime makes a few). The
        queue coalesces: a family still queued from the last change is decided once.
        """
        if endpoints == self.runtime_endpoints:
            return
        self.runtime_endpoints = endpoints
        if self.indexes is None:
            return  # no handler ran yet: every family's first decision sees these
        for key in self.indexes.wired_families():
            self.touch(key)

    def bind(self, indexes: Mapping[str, Index]) -> None:
        if self.namespace_limits is None and "flowplane_namespace_limits" in indexes:
            self.namespace_limits = indexes["flowplane_namespace_limits"]
        if self.indexes is None:
            self.indexes = Indexes(
                workflows=indexes["flowplane_workflows"],
                versions=indexes["flowplane_versions"],
                plans=indexes["flowplane_plans"],
                services=indexes["flowplane_services"],
                runs=indexes.get("flowplane_runs"),
                endpoint_slices=indexes.get("flowplane_endpoint_slices"),
            )

    def settings_for(self, namespace: str) -> Settings:
        """The defaults, overridden by the tenant's Namespace annotations (plan limits)."""
        annotations: Mapping[str, str] = {}
        if self.namespace_limits is not None:
            found = list(self.namespace_limits.get(namespace) or ())
            annotations = found[0] if found else {}
        if not annotations:
            self._limit_problems.pop(namespace, None)
            return self.settings
        settings, problems = tenant_settings(self.settings, annotations)
        said = tuple(problems)
        if self._limit_problems.get(namespace, ()) != said:
            # Once per change of the annotations, not once per reconcile.
            for problem in problems:
                log.warning("namespace %s: %s", namespace, problem,
                            extra={"namespace": namespace, "reason": "InvalidTenantLimit"})
            self._limit_problems[namespace] = said
        return settings

    def retains_versions(self, key: FamilyKey) -> bool:
        """Whether the family's workflow sets spec.versionHistoryLimit (runs matter then)."""
        if self.indexes is None:
            return False
        return any(wf.spec.versionHistoryLimit is not None
                   for wf in self.indexes.workflows.get(key) or ())

    def families_in(self, namespace: str) -> list[FamilyKey]:
        if self.indexes is None:
            return []
        keys: Iterable[Any] = self.indexes.workflows
        return [k for k in keys if k[0] == namespace]

    def touch(self, key: FamilyKey) -> None:
        self.queue.add(key)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    async def reconcile(self, key: FamilyKey) -> None:
        if self.indexes is None:
            return
        started = time.perf_counter()
        family = replace(self.indexes.gather(key, self.runtime_endpoints),
                         taken_names=self._taken_for(key))
        wait = self.expectations.wait_for(family)
        if wait:
            raise Retry(delay=wait, why="waiting for the watch to show our last writes")
        t0 = time.perf_counter()
        try:
            settings, now = self.settings_for(key[0]), format_timestamp()
            if len(family.versions) > LARGE_FAMILY:  # compiling may take a while: off the loop
                decision = await asyncio.to_thread(decide, family, settings, now,
                                                   self.compile_cache)
            else:
                decision = decide(family, settings, now, self.compile_cache)
        except Exception as exc:  # decide() is total by design; if it is not, say so
            metrics.RECONCILE_ERRORS.labels("decide-error").inc()
            await self._say_unreconcilable(family, exc)
            raise Retry(why=f"decide() failed: {exc!r}") from exc
        metrics.DECIDE_SECONDS.observe(time.perf_counter() - t0)
        if decision:
            try:
                await self.apply(family, decision)
            except NameTaken as taken:
                self.taken.setdefault(key, {})[(taken.kind, taken.name)] = (
                    time.monotonic() + TAKEN_NAME_TTL)
                raise Retry(delay=0.05, why=str(taken)) from taken
            except ApiException as exc:
                reason = "conflict" if exc.status == 409 else f"http{exc.status}"
                metrics.RECONCILE_ERRORS.labels(reason).inc()
                if exc.status in (409, 404):
                    # Someone else wrote first (or deleted); the watch event brings it back
                    # (and if it does not, the backoff does, jittered).
                    raise Retry(why=reason) from exc
                self._say_refused(key, exc)
                if isinstance(exc, WriteRefused) and exc.refusal.terminating:
                    # The namespace is going away with everything in it: nothing to fix.
                    raise Retry(delay=TERMINATING_RETRY, why="namespace terminating") from exc
                raise Retry(why=reason) from exc
        self._refused.pop(key, None)
        if decision.requeue_after is not None:
            self.queue.add(key, delay=decision.requeue_after)
        self._track_phase(key, family)
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    async def apply(self, family: Family, decision: Decision) -> None:
        """The decision's writes and Events, in order, through the applier (applier.py)."""
        await self.applier.apply(family, decision)

    async def _say_unreconcilable(self, family: Family, exc: Exception) -> None:
        """A family the operator cannot decide: logged with its traceback and told to the
        user as a Warning Event on the Workflow, once per distinct error."""
        said = f"decide: {exc!r}"
        if self._refused.get(family.key) == said:
            return
        self._refused[family.key] = said
        log.exception("%s/%s: cannot be reconciled (retrying with backoff): %r",
                      *family.key, exc, extra={"namespace": family.namespace,
                                               "workflow": family.name,
                                               "reason": "ReconcileFailed"})
        wf = family.workflow
        if wf is None or not self.may_write():
            return
        message = (f"the operator cannot reconcile this workflow ({type(exc).__name__}: "
                   f"{exc}); it retries with backoff, and nothing is changed meanwhile. "
                   "This is a bug: please report it with the operator's log")
        await self.client.emit(family.namespace, Event(  # best effort, never raises
            Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Warning", "ReconcileFailed", message))

    def _say_refused(self, key: FamilyKey, exc: ApiException) -> None:
        """Log a refused write once per distinct refusal, with the object and the fields."""
        said = str(exc) if isinstance(exc, WriteRefused) else f"{exc.status} {exc.reason}"
        if self._refused.get(key) == said:
            return
        self._refused[key] = said
        extra: dict[str, Any] = {"namespace": key[0], "workflow": key[1],
                                 "status": exc.status}
        if isinstance(exc, WriteRefused):
            extra |= {"kind": exc.write.kind.value, "object": exc.write.name,
                      "reason": exc.refusal.reason, "fields": list(exc.refusal.fields)}
            if exc.refusal.terminating:
                log.info("%s/%s: namespace is terminating; %s", *key, said, extra=extra)
                return
        log.warning("%s/%s: the API server refused a write: %s", *key, said, extra=extra)

    def _track_phase(self, key: FamilyKey, family: Family) -> None:
        wf = family.workflow
        if wf is None:
            self.phases.pop(key, None)
        else:
            self.phases[key] = str(wf.status_raw.get("phase") or "Draft")
        counts = Tally(self.phases.values())
        for phase in ("Draft", "Published", "Disabled", "Archived", "PausedSafety"):
            metrics.WORKFLOWS_BY_PHASE.labels(phase).set(counts.get(phase, 0))

    def _taken_for(self, key: FamilyKey) -> frozenset[tuple[str, str]]:
        now = time.monotonic()
        taken = self.taken.get(key, {})
        for obj in [o for o, until in taken.items() if until < now]:
            del taken[obj]  # look again now and then: the other object may be gone
        return frozenset((kind.value, name) for kind, name in taken)
