"""Applying a decision: its writes in its order, each against the API server, stopping at
the first failure (the next pass resumes). decide() puts the writes that make things safer
first, so one never waits behind a write that may fail; the order is kept here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import ANN_PLAN_HASH
from flowplane.operator import faults, metrics
from flowplane.operator.expectations import Expectations, ObjKey, observed_versions
from flowplane.operator.kube import KubeClient
from flowplane.operator.queue import Retry
from flowplane.operator.refusals import refusal_of
from flowplane.reconcile.snapshot import ANN_FORKED_FROM, Family, FamilyKey
from flowplane.reconcile.writes import Create, Decision, Delete, Kind, Patch, Write, changed_entries

log = logging.getLogger("flowplane")


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


class Applier:
    """Performs a Decision's writes and Events, and expects to see its writes watched."""

    def __init__(self, client: KubeClient, expectations: Expectations,
                 may_write: Callable[[], bool] = lambda: True) -> None:
        self.client = client
        self.expectations = expectations
        self.may_write = may_write
        """The leader-election fence (operator/leadership.py): a standby writes nothing."""

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
        missing = changed_entries(want, have)
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
