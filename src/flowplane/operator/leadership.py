"""Leader election on a coordination.k8s.io/v1 Lease, so the operator can run 2 replicas.

The rules follow client-go / controller-runtime: a lease is taken over only once it has
not changed for its whole duration *as seen by this replica's clock* (never by comparing
the server's renewTime with our clock), a leader that cannot renew within the renew
deadline steps down, and every update is guarded by resourceVersion (409 = lost the race).
`decide_lease` is the whole policy, pure; `LeaderElector` is the thin I/O loop around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from prometheus_client import Gauge

from flowplane.operator.kube import FIELD_MANAGER

log = logging.getLogger("flowplane")

LEADER = Gauge("flowplane_operator_leader",
               "1 while this replica holds the operator Lease and may write, else 0.")


@dataclass(frozen=True)
class Timings:
    """controller-runtime's defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    """"" when the lease was released."""
    lease_duration_seconds: int
    transitions: int
    resource_version: str


class Action(enum.Enum):
    ACQUIRE = "acquire"
    """Create the lease, or take it over (transitions + 1)."""
    RENEW = "renew"
    WAIT = "wait"
    LOST = "lost"
    """We were leading and may no longer: stop writing now."""


def decide_lease(lease: LeaseRecord | None, observed_at: float, now: float, me: str,
                 timings: Timings, last_renewed: float | None) -> Action:
    """What to do with the lease as last read.

    `observed_at`: when (our monotonic clock) this record's resourceVersion was first
    seen; `last_renewed`: when our last successful acquire/renew was sent, None if we do
    not lead.
    """
    leading = last_renewed is not None
    if last_renewed is not None and now - last_renewed > timings.renew_deadline:
        return Action.LOST
    if lease is None or not lease.holder:
        return Action.ACQUIRE
    if lease.holder == me:
        return Action.RENEW
    duration = lease.lease_duration_seconds or timings.lease_duration
    if now - observed_at >= duration:
        return Action.ACQUIRE
    return Action.LOST if leading else Action.WAIT


def default_identity() -> str:
    import os
    import socket
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(body: dict[str, Any]) -> LeaseRecord:
    spec = body.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
    )


class LeaderElector:
    """Holds `namespace/name` while it can; `may_write()` is the fence the applier checks."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, name: str,
                 identity: str, timings: Timings | None = None,
                 on_started_leading: Callable[[], None] | None = None) -> None:
        self.coordination: Any = kubernetes.client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings or Timings()
        self.on_started_leading = on_started_leading
        self.last_renewed: float | None = None
        self._seen: tuple[LeaseRecord | None, float] = (None, 0.0)
        self._task: asyncio.Task[None] | None = None

    def may_write(self) -> bool:
        """True only while our last renewal is younger than the renew deadline."""
        return (self.last_renewed is not None
                and time.monotonic() - self.last_renewed <= self.timings.renew_deadline)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-election")

    async def stop(self, release: bool = True) -> None:
        """Stop the loop; with `release`, hand the lease over at once (rolling updates)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release and self.may_write():
            self._step_down("shutting down")
            try:
                await asyncio.to_thread(self._release)
            except Exception as exc:  # best effort: the lease expires anyway
                log.warning("could not release the operator lease: %s", exc)
        self._step_down("stopped")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep electing; decide_lease fences
                log.warning("leader election: %s", exc)
            await asyncio.sleep(self.timings.retry_period)

    async def tick(self) -> Action:
        """One round: read the lease, decide, write (create/take over/renew) if needed."""
        sent = time.monotonic()
        body = await asyncio.to_thread(self._read)
        lease = _record(body) if body is not None else None
        previous, observed_at = self._seen
        if lease is None or previous is None or lease.resource_version != (
                previous.resource_version):
            observed_at = sent
        self._seen = (lease, observed_at)
        action = decide_lease(lease, observed_at, time.monotonic(), self.identity,
                              self.timings, self.last_renewed)
        if action == Action.LOST:
            self._step_down(f"lease held by {lease.holder if lease else '?'} or not renewed")
        elif action in (Action.ACQUIRE, Action.RENEW):
            try:
                await asyncio.to_thread(self._write, body, lease, action)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                log.info("leader election: lost the race for the lease (409)")
                if self.last_renewed is not None and lease is not None and (
                        lease.holder != self.identity):
                    self._step_down("another replica took the lease")
                return Action.WAIT
            gained = self.last_renewed is None
            self.last_renewed = sent
            LEADER.set(1)
            if gained:
                log.info("leader election: %s now leads (lease %s/%s)", self.identity,
                         self.namespace, self.name)
                if self.on_started_leading is not None:
                    self.on_started_leading()
        return action

    def _step_down(self, why: str) -> None:
        if self.last_renewed is not None:
            log.warning("leader election: %s stops writing: %s", self.identity, why)
        self.last_renewed = None
        LEADER.set(0)

    def _timeout(self) -> float:
        return max(1.0, self.timings.renew_deadline / 2)

    def _read(self) -> dict[str, Any] | None:
        try:
            lease = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout())
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        plain: dict[str, Any] = self.coordination.api_client.sanitize_for_serialization(lease)
        return plain

    def _write(self, body: dict[str, Any] | None, lease: LeaseRecord | None,
               action: Action) -> None:
        now = _micro_time()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timings.lease_duration),
            "renewTime": now,
        }
        if body is None:
            self.coordination.create_namespaced_lease(self.namespace, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {**spec, "acquireTime": now, "leaseTransitions": 0},
            }, field_manager=FIELD_MANAGER, _request_timeout=self._timeout())
            return
        assert lease is not None
        old = body.get("spec") or {}
        takeover = lease.holder != self.identity
        new_spec = {**old, **spec}
        if takeover:
            new_spec["acquireTime"] = now
            new_spec["leaseTransitions"] = lease.transitions + 1
        updated = {**body, "spec": new_spec}  # metadata.resourceVersion guards the update
        self.coordination.replace_namespaced_lease(
            self.name, self.namespace, updated, field_manager=FIELD_MANAGER,
            _request_timeout=self._timeout())

    def _release(self) -> None:
        body = self._read()
        if body is None or _record(body).holder != self.identity:
            return
        spec = {**(body.get("spec") or {}), "holderIdentity": "", "leaseDurationSeconds": 1,
                "renewTime": _micro_time()}
        self.coordination.replace_namespaced_lease(
            self.name, self.namespace, {**body, "spec": spec}, field_manager=FIELD_MANAGER,
            _request_timeout=self._timeout())
