"""The family worker: gather a snapshot from the indexes, decide, apply the writes in order."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import ANN_PLAN_HASH
from flowplane.operator import faults, metrics
from flowplane.operator.kube import KubeClient
from flowplane.operator.queue import FamilyQueue, Retry
from flowplane.operator.refusals import refusal_of
from flowplane.reconcile.compile_cache import CompileCache
from flowplane.reconcile.decide import decide, endpoint_slice_name, service_name
from flowplane.reconcile.settings import Settings, tenant_settings
from flowplane.reconcile.snapshot import (
    ANN_FORKED_FROM,
    EndpointSliceObj,
    Family,
    FamilyKey,
    PlanObj,
    RunObj,
    RuntimeEndpoints,
    ServiceObj,
    VersionObj,
    WorkflowObj,
)
from flowplane.reconcile.writes import Create, Decision, Delete, Event, Kind, Patch, Write

log = logging.getLogger("flowplane")
ObjKey = tuple[Kind, str]


class Index(Protocol):
    """What we use of a kopf.Index: family key -> the objects indexed under it."""

    def get(self, key: Any, default: Any = None) -> Iterable[Any] | None: ...

    def __iter__(self) -> Any: ...


@dataclass
class Indexes:
    workflows: Index
    versions: Index
    plans: Index
    services: Index
    runs: Index | None = None
    endpoint_slices: Index | None = None

    def gather(self, key: FamilyKey, runtime_endpoints: RuntimeEndpoints | None = None
               ) -> Family:
        # The index keeps compact forms (snapshot.StoredVersion); each pass decodes its own.
        workflows: list[WorkflowObj] = [w.load() for w in self.workflows.get(key) or ()]
        versions: list[VersionObj] = [v.load() for v in self.versions.get(key) or ()]
        plans: list[PlanObj] = [p.load() for p in self.plans.get(key) or ()]
        services: list[ServiceObj] = list(self.services.get(key) or ())
        runs: list[RunObj] = list(self.runs.get(key) or ()) if self.runs is not None else []
        slices: list[EndpointSliceObj] = (
            list(self.endpoint_slices.get(key) or ()) if self.endpoint_slices is not None else [])
        return Family(
            namespace=key[0],
            name=key[1],
            workflow=workflows[0] if workflows else None,
            versions=tuple(sorted(versions, key=lambda v: v.meta.name)),
            plans=tuple(plans),
            service=next((s for s in services if s.meta.name == service_name(key[1])), None),
            pinned_versions=frozenset(
                r.version for r in runs if not r.finished and r.version is not None),
            endpoint_slice=next(
                (s for s in slices if s.meta.name == endpoint_slice_name(key[1])), None),
            runtime_endpoints=runtime_endpoints,
        )

    def wired_families(self) -> list[FamilyKey]:
        """Families whose trigger Service has a selector, or that have a mirrored slice."""
        keys: set[FamilyKey] = set()
        for key in self.services:
            if any(s.selector for s in self.services.get(key) or ()):
                keys.add(key)
        if self.endpoint_slices is not None:
            keys.update(self.endpoint_slices)
        return sorted(keys)


def observed_versions(family: Family) -> dict[ObjKey, str]:
    seen: dict[ObjKey, str] = {}
    if family.workflow:
        seen[(Kind.WORKFLOW, family.workflow.meta.name)] = family.workflow.meta.resource_version
    for v in family.versions:
        seen[(Kind.VERSION, v.meta.name)] = v.meta.resource_version
    for p in family.plans:
        seen[(Kind.CONFIGMAP, p.meta.name)] = p.meta.resource_version
    if family.service:
        seen[(Kind.SERVICE, family.service.meta.name)] = family.service.meta.resource_version
    if family.endpoint_slice:
        seen[(Kind.ENDPOINT_SLICE, family.endpoint_slice.meta.name)] = (
            family.endpoint_slice.meta.resource_version)
    return seen


@dataclass
class _Expectation:
    created: bool
    stale_versions: set[str] = field(default_factory=set)
    deadline: float = 0.0


class Expectations:
    """Our own writes that the indexes have not shown yet.

    A decision made on a snapshot that predates our last writes would redo them
    (and fail with conflicts), so the worker waits until the watch has caught up.
    Resource versions are compared for equality only, never ordered.
    """

    def __init__(self, ttl: float = 15.0) -> None:
        self.ttl = ttl
        self._pending: dict[FamilyKey, dict[ObjKey, _Expectation]] = {}

    def created(self, key: FamilyKey, obj: ObjKey) -> None:
        self._pending.setdefault(key, {})[obj] = _Expectation(True, set(),
                                                              time.monotonic() + self.ttl)

    def patched(self, key: FamilyKey, obj: ObjKey, before: str | None) -> None:
        exp = self._pending.setdefault(key, {}).get(obj)
        if exp is None or exp.created:
            exp = _Expectation(False, set(), 0.0)
            self._pending[key][obj] = exp
        if before:
            exp.stale_versions.add(before)
        exp.deadline = time.monotonic() + self.ttl

    def deleted(self, key: FamilyKey, obj: ObjKey, before: str | None) -> None:
        """Like a patch: fresh once the watch no longer shows the object as it was."""
        self.patched(key, obj, before)

    def wait_for(self, family: Family) -> float:
        """Seconds to wait before this snapshot is fresh; 0 when it is."""
        pending = self._pending.get(family.key)
        if not pending:
            return 0.0
        seen = observed_versions(family)
        now = time.monotonic()
        for obj, exp in list(pending.items()):
            observed = seen.get(obj)
            fresh = observed is not None if exp.created else observed not in exp.stale_versions
            if fresh or exp.deadline < now:
                del pending[obj]
        if not pending:
            del self._pending[family.key]
            return 0.0
        return max(0.05, min(exp.deadline for exp in pending.values()) - now)


TAKEN_NAME_TTL = 300.0


LARGE_FAMILY = 32
"""Versions above which a family is decided in a thread, so the watches keep flowing while
its new versions compile (most passes are compile-cache hits and take microseconds)."""

TERMINATING_RETRY = 30.0
"""Seconds between attempts while a family's namespace is being deleted."""


class WriteRefused(ApiException):
    """The API server refused one of a decision's writes; says which, and why."""

    def __init__(self, write: Write, exc: ApiException) -> None:
        super().__init__(status=exc.status, reason=exc.reason)
        self.body = exc.body
        self.headers = exc.headers
        self.write = write
        self.refusal = refusal_of(exc)

    def __str__(self) -> str:
        verb = ("create" if isinstance(self.write, Create) else
                "delete" if isinstance(self.write, Delete) else
                "patch status of" if self.write.status else "patch")
        return self.refusal.describe(verb, self.write.kind.value, self.write.name)


class NameTaken(Exception):
    """An object we meant to create exists and belongs to someone else."""

    def __init__(self, kind: Kind, name: str) -> None:
        super().__init__(f"{kind.value} {name} exists and is not ours")
        self.kind = kind
        self.name = name


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runtime:
    """Owns the queue, the indexes' references, and the write applier."""

    def __init__(self, client: KubeClient, settings: Settings, workers: int = 4,
                 held: bool = False) -> None:
        self.client = client
        self.settings = settings
        self.indexes: Indexes | None = None
        self.expectations = Expectations()
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
        self.may_write: Callable[[], bool] = lambda: True
        """The leader-election fence (operator/leadership.py): a standby writes nothing."""
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
            settings, now = self.settings_for(key[0]), utc_now()
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

    async def _check_existing(self, key: FamilyKey, write: Create) -> None:
        """AlreadyExists is success only if the object is the one we meant to create.

        A plan or Service of the same name made by someone else (and so invisible to our
        label-selected watches) must never be mistaken for ours: the trigger would be
        wired to a plan we did not write. Nor may a fork's name taken by another version
        (of another workflow, or made a moment ago): the live version's graph would then
        be restored and the user's edit, which exists only in the fork, lost.
        """
        if write.kind not in (Kind.CONFIGMAP, Kind.SERVICE, Kind.VERSION, Kind.ENDPOINT_SLICE):
            return
        namespace = key[0]
        existing = await self.client.read(write.kind, namespace, write.name)
        meta = existing.get("metadata") or {}
        ours_meta = write.body.get("metadata") or {}
        if write.kind == Kind.CONFIGMAP:  # the same plan only if it holds the same graph
            want = (ours_meta.get("annotations") or {}).get(ANN_PLAN_HASH)
            same = (meta.get("annotations") or {}).get(ANN_PLAN_HASH) == want and (
                existing.get("data") == write.body.get("data"))
        elif write.kind == Kind.VERSION:  # our fork, made by an earlier attempt?
            want = (ours_meta.get("annotations") or {}).get(ANN_FORKED_FROM)
            same = (meta.get("annotations") or {}).get(ANN_FORKED_FROM) == want and (
                existing.get("spec") or {}) == write.body.get("spec")
        else:  # a Service owned by our Workflow; a slice owned by our Service
            owner = {r.get("uid") for r in ours_meta.get("ownerReferences") or []}
            same = any(r.get("uid") in owner for r in meta.get("ownerReferences") or [])
        if not same:
            metrics.RECONCILE_ERRORS.labels("name-taken").inc()
            log.warning("%s: %s %s exists and is not ours; deciding again without it",
                        namespace, write.kind.value, write.name)
            raise NameTaken(write.kind, write.name)
        await self._restore_labels(key, write, existing)

    async def _restore_labels(self, key: FamilyKey, write: Create,
                              existing: Mapping[str, Any]) -> None:
        """Put back the labels our watches select on, on an object that is ours.

        Our watches select children by label, so an owned Service whose labels someone
        removed is invisible: decide() thinks it missing and the create meets it. Counting
        that as done would report whatever it now routes to as what we meant (a safety
        unwire included), so restore the labels and decide again once the watch shows it.
        """
        want = (write.body.get("metadata") or {}).get("labels") or {}
        have = (existing.get("metadata") or {}).get("labels") or {}
        missing = {k: v for k, v in want.items() if have.get(k) != v}
        if not missing:
            return
        namespace = key[0]
        version = str((existing.get("metadata") or {}).get("resourceVersion", ""))
        await self.client.patch(write.kind, namespace, write.name,
                                {"metadata": {"labels": missing, "resourceVersion": version}},
                                status=False)
        metrics.WRITES.labels(write.kind.value, "patch").inc()
        metrics.RECONCILE_ERRORS.labels("labels-restored").inc()
        self.expectations.created(key, (write.kind, write.name))  # decide once it is seen
        log.warning("%s: %s %s is ours but had lost its labels %s; restored them",
                    namespace, write.kind.value, write.name, sorted(missing),
                    extra={"namespace": namespace, "kind": write.kind.value,
                           "object": write.name, "reason": "LabelsRestored"})
        raise Retry(delay=0.05, why=f"restored the labels of {write.kind.value} {write.name}")

    async def apply(self, family: Family, decision: Decision) -> None:
        """Perform the writes in order; stop at the first failure (the next pass resumes)."""
        if not self.may_write():
            return  # not the leader: the new leader touches every family when it gains
        latest: dict[ObjKey, str] = {}
        seen = observed_versions(family)
        for write in decision.writes:
            try:
                await self._write(family, write, latest, seen)
            except ApiException as exc:
                raise WriteRefused(write, exc) from exc

        for event in decision.events:
            if event.reason in ("Published", "RolledBack"):
                metrics.PUBLISHES.labels("Succeeded", event.reason).inc()
            elif event.reason == "PublishRejected":
                metrics.PUBLISHES.labels("Rejected", event.detail or "Unknown").inc()
            await self.client.emit(family.namespace, event)

    async def _write(self, family: Family, write: Write, latest: dict[ObjKey, str],
                     seen: Mapping[ObjKey, str]) -> None:
        """One write; `latest` holds the resourceVersions our earlier writes returned."""
        ns, key = family.namespace, family.key
        obj: ObjKey = (write.kind, write.name)
        if isinstance(write, Create):
            try:
                created = await self.client.create(write.kind, ns, write.body)
                latest[obj] = str(created.get("metadata", {}).get("resourceVersion", ""))
                metrics.WRITES.labels(write.kind.value, "create").inc()
                faults.after_write(write)  # test-only kill point (faults.py); off by default
            except ApiException as exc:
                if exc.status != 409:
                    metrics.WRITE_ERRORS.labels(write.kind.value, "create",
                                                str(exc.status)).inc()
                    raise
                await self._check_existing(key, write)
            self.expectations.created(key, obj)
            log.info("%s/%s: created %s %s (%s)", ns, family.name, write.kind.value,
                     write.name, write.why)
        elif isinstance(write, Patch):
            precondition = latest.get(obj, write.resource_version)
            body = copy.deepcopy(write.patch)
            if precondition:
                body.setdefault("metadata", {})["resourceVersion"] = precondition
            verb = "patch-status" if write.status else "patch"
            try:
                patched = await self.client.patch(write.kind, ns, write.name, body,
                                                  status=write.status)
            except ApiException as exc:
                metrics.WRITE_ERRORS.labels(write.kind.value, verb, str(exc.status)).inc()
                raise
            metrics.WRITES.labels(write.kind.value, verb).inc()
            faults.after_write(write)  # test-only kill point (faults.py); off by default
            latest[obj] = str(patched.get("metadata", {}).get("resourceVersion", ""))
            self.expectations.patched(key, obj, precondition)
            log.info("%s/%s: patched %s %s%s (%s)", ns, family.name, write.kind.value,
                     write.name, "/status" if write.status else "", write.why)
        else:
            try:
                await self.client.delete(write.kind, ns, write.name, uid=write.uid)
            except ApiException as exc:
                if exc.status != 404:  # gone already: done
                    metrics.WRITE_ERRORS.labels(write.kind.value, "delete",
                                                str(exc.status)).inc()
                    raise
            else:
                metrics.WRITES.labels(write.kind.value, "delete").inc()
                faults.after_write(write)  # test-only kill point (faults.py); off by default
            self.expectations.deleted(key, obj, latest.get(obj, seen.get(obj)))
            log.info("%s/%s: deleted %s %s (%s)", ns, family.name, write.kind.value,
                     write.name, write.why)
