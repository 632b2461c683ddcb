"""The runtime's own endpoints: list + watch the EndpointSlices of its Service.

Each wired trigger Service gets a mirrored EndpointSlice with the runtime's ready
addresses (a Service selects pods in its own namespace only, and the runtime runs in
flowplane-system). Those addresses come from here: the EndpointSlices labelled
`kubernetes.io/service-name=NAME` in the runtime Service's namespace.

This is not a Kopf index because Kopf watches every resource in the same namespaces:
all of them, or the `--namespace` list. A namespaced operator (overlays/namespaced)
does not watch flowplane-system and must not (it may not read Workflows, ConfigMaps or
Services there), yet it needs this one Service's slices. So a daemon thread lists and
watches them with the official client, and hands every change of the ready addresses
(only those: a slice update that changes nothing else is not passed on) to the event
loop. Until the first listing the value is unknown (None), and decide() then leaves
wired slices as they are rather than emptying them on a guess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import LABEL_SERVICE_NAME
from flowplane.reconcile.snapshot import RuntimeEndpoints, runtime_endpoints_from_slices

log = logging.getLogger("flowplane")
Listener = Callable[[RuntimeEndpoints], None]


class SliceStore:
    """The runtime Service's slices by name, and the endpoints they add up to (pure)."""

    def __init__(self, port_name: str = "http") -> None:
        self.port_name = port_name
        self.slices: dict[str, Mapping[str, Any]] = {}
        self.resource_version = ""

    def replace(self, listing: Mapping[str, Any]) -> RuntimeEndpoints:
        self.slices = {_name(item): item for item in listing.get("items") or []}
        self.resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        return self.endpoints()

    def apply(self, event: Mapping[str, Any]) -> RuntimeEndpoints | None:
        """One watch event; returns the endpoints after it (None for a bookmark)."""
        kind, obj = event.get("type"), event.get("object") or {}
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind == "BOOKMARK":
            return None
        if kind == "DELETED":
            self.slices.pop(_name(obj), None)
        else:
            self.slices[_name(obj)] = obj
        return self.endpoints()

    def endpoints(self) -> RuntimeEndpoints:
        return runtime_endpoints_from_slices(self.slices.values(), self.port_name)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


class RuntimeEndpointsWatch:
    """Lists, then watches; relists after a 410 or an error (with a backoff)."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, name: str,
                 listener: Listener, *, timeout_seconds: int = 300) -> None:
        self.discovery: Any = kubernetes.client.DiscoveryV1Api(api)
        self.namespace = namespace
        self.name = name
        self.selector = f"{LABEL_SERVICE_NAME}={name}"
        self.listener = listener
        self.timeout_seconds = timeout_seconds
        self._stop = threading.Event()
        self._watch: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: RuntimeEndpoints | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"runtime-endpoints-{self.name}")
        self._thread.start()

    def stop(self) -> None:
        """The thread ends at its next event or timeout; it is a daemon, so nobody waits."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _deliver(self, endpoints: RuntimeEndpoints) -> None:
        if endpoints == self._last or self._loop is None or self._stop.is_set():
            return
        self._last = endpoints
        log.info("runtime %s/%s: %d ready endpoints %s (port %s)", self.namespace, self.name,
                 len(endpoints.addresses), ",".join(endpoints.addresses) or "-",
                 endpoints.port or "-")
        try:
            self._loop.call_soon_threadsafe(self.listener, endpoints)
        except RuntimeError:  # the loop is closed: the operator is stopping
            self._stop.set()

    def _run(self) -> None:
        store = SliceStore()
        backoff = 1.0
        while not self._stop.is_set():
            try:
                response = self.discovery.list_namespaced_endpoint_slice(
                    self.namespace, label_selector=self.selector, _preload_content=False,
                    _request_timeout=60)
                self._deliver(store.replace(json.loads(response.data)))
                backoff = 1.0
                while not self._stop.is_set():
                    watch_class: Any = kubernetes.watch.Watch
                    self._watch = watch_class()
                    for event in self._watch.stream(
                        self.discovery.list_namespaced_endpoint_slice, self.namespace,
                        label_selector=self.selector, resource_version=store.resource_version,
                        allow_watch_bookmarks=True, timeout_seconds=self.timeout_seconds,
                        _request_timeout=self.timeout_seconds + 30, deserialize=False,
                    ):
                        if event.get("type") == "ERROR":
                            raise ApiException(status=(event.get("object") or {}).get("code"))
                        endpoints = store.apply(event)
                        if endpoints is not None:
                            self._deliver(endpoints)
            except ApiException as exc:
                if self._stop.is_set():
                    return
                if exc.status != 410:  # 410: our resourceVersion expired; relist now
                    log.warning("watch of the runtime's EndpointSlices in %s failed: %s %s; "
                                "retrying in %.0fs", self.namespace, exc.status, exc.reason,
                                backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            except Exception as exc:  # connection errors and the like: relist, never die
                if self._stop.is_set():
                    return
                log.warning("watch of the runtime's EndpointSlices in %s broke (%s: %s); "
                            "retrying in %.0fs", self.namespace, type(exc).__name__, exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
