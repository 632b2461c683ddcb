"""Watch-based observers: each API event is timestamped when it arrives (no polling)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bench.common import ACTIVE_ANNOTATION, TRIGGER_SELECTOR, Json
from flowplane.model.resources import GROUP, VERSION, WORKFLOW_PLURAL

OnEvent = Callable[[float, str, Json], None]


class ResourceWatch:
    """List, then watch one kind in one namespace from a thread; raw dicts, no models.

    `on_event(arrival_monotonic, type, object)` runs on the watch thread for the listed
    objects (as ADDED) and for every event after them. Reconnects after server timeouts
    and relists after 410 Gone.
    """

    def __init__(self, name: str, list_fn: Callable[..., Any], args: tuple[Any, ...],
                 on_event: OnEvent, label_selector: str | None = None) -> None:
        self.name = name
        self._list = list_fn
        self._args = args
        self._on_event = on_event
        self._selector = label_selector
        self._rv = ""
        self._stop = threading.Event()
        self._watch: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)
        self.error: BaseException | None = None
        self.events = 0

    def _kwargs(self) -> dict[str, Any]:
        return {"label_selector": self._selector} if self._selector else {}

    def prime(self) -> None:
        response = self._list(*self._args, _preload_content=False, **self._kwargs())
        body = json.loads(response.data)
        now = time.monotonic()
        for item in body.get("items") or []:
            self._on_event(now, "ADDED", item)
        self._rv = str(body["metadata"]["resourceVersion"])

    def start(self) -> None:
        self.prime()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in self._watch.stream(
                    self._list, *self._args, resource_version=self._rv, timeout_seconds=120,
                    allow_watch_bookmarks=True, deserialize=False, **self._kwargs(),
                ):
                    arrived = time.monotonic()
                    obj = event.get("raw_object") or event["object"]  # deserialize=False
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self._rv = str(rv)
                    if event["type"] == "BOOKMARK":
                        continue
                    self.events += 1
                    self._on_event(arrived, str(event["type"]), obj)
                    if self._stop.is_set():
                        break
            except Exception as exc:  # 410 Gone, a dropped connection, an ERROR event
                if self._stop.is_set():
                    return
                if not (isinstance(exc, ApiException) and exc.status == 410):
                    self.error = exc
                    time.sleep(0.5)
                try:
                    self.prime()  # relist: objects are reported again with their state now
                except Exception as relist_exc:
                    self.error = relist_exc


class LiveObserver:
    """Per workflow: the trigger Service's active-version annotation and the Workflow's
    status.activeVersion, each with the arrival time of the event that last changed it."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self._cond = threading.Condition()
        self.svc: dict[str, tuple[str | None, float]] = {}
        self.wf: dict[str, tuple[str | None, float]] = {}
        custom: Any = client.CustomObjectsApi(api)
        core: Any = client.CoreV1Api(api)
        self._watches = [
            ResourceWatch("services", core.list_namespaced_service, (namespace,),
                          self._on_service, label_selector=TRIGGER_SELECTOR),
            ResourceWatch("workflows", custom.list_namespaced_custom_object,
                          (GROUP, VERSION, namespace, WORKFLOW_PLURAL), self._on_workflow),
        ]

    def __enter__(self) -> LiveObserver:
        for w in self._watches:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._watches:
            w.stop()

    @staticmethod
    def _record(table: dict[str, tuple[str | None, float]], key: str, value: str | None,
                arrived: float) -> None:
        old = table.get(key)
        if old is None or old[0] != value:
            table[key] = (value, arrived)

    def _on_service(self, arrived: float, kind: str, obj: Json) -> None:
        meta = obj.get("metadata") or {}
        workflow = (meta.get("labels") or {}).get("flowplane.dev/workflow")
        if not workflow:
            return
        value = None if kind == "DELETED" else (meta.get("annotations") or {}).get(
            ACTIVE_ANNOTATION)
        with self._cond:
            self._record(self.svc, workflow, value, arrived)
            self._cond.notify_all()

    def _on_workflow(self, arrived: float, kind: str, obj: Json) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        active = (obj.get("status") or {}).get("activeVersion")
        value = None if kind == "DELETED" or active is None else str(active)
        with self._cond:
            self._record(self.wf, name, value, arrived)
            self._cond.notify_all()

    def wait_live(self, workflow: str, version: int, since: float,
                  timeout: float = 60.0) -> tuple[float, float]:
        """Arrival times of the Service and Workflow events that first showed `version`
        after `since` (both must show it). Raises TimeoutError."""
        want = str(version)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                svc, wf = self.svc.get(workflow), self.wf.get(workflow)
                if (svc and wf and svc[0] == want and wf[0] == want
                        and svc[1] >= since and wf[1] >= since):
                    return svc[1], wf[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    errors = [f"{w.name}: {w.error!r}" for w in self._watches if w.error]
                    raise TimeoutError(
                        f"{workflow} v{version} not live after {timeout}s "
                        f"(service {svc}, workflow {wf}, since {since}; {errors})")
                self._cond.wait(left)

    def wait_state(self, workflow: str, version: int, timeout: float = 60.0) -> None:
        """Wait until both show `version`, however long ago that happened."""
        self.wait_live(workflow, version, since=float("-inf"), timeout=timeout)


def workflow_converged(obj: Json) -> bool:
    """Ready=True, status.observedGeneration current, and the wanted version is active."""
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    return (ready and status.get("observedGeneration") == meta.get("generation")
            and status.get("activeVersion") == spec.get("publishedVersion"))


class ConvergenceObserver:
    """Counts converged Workflows in a namespace; records when all `expected` converged."""

    def __init__(self, api: client.ApiClient, namespace: str, expected: int) -> None:
        self.expected = expected
        self.converged: set[str] = set()
        self.first_change: float | None = None
        self.done_at: float | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        custom: Any = client.CustomObjectsApi(api)
        self._watch = ResourceWatch("workflows", custom.list_namespaced_custom_object,
                                    (GROUP, VERSION, namespace, WORKFLOW_PLURAL), self._on_event)
        self._primed = False

    def __enter__(self) -> ConvergenceObserver:
        self._watch.start()
        self._primed = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()

    def _on_event(self, arrived: float, kind: str, obj: Json) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        with self._lock:
            if self._primed and self.first_change is None:
                self.first_change = arrived
            if kind != "DELETED" and workflow_converged(obj):
                self.converged.add(name)
            else:
                self.converged.discard(name)
            if len(self.converged) >= self.expected and self.done_at is None:
                self.done_at = arrived
                self._done.set()

    def wait(self, timeout: float) -> float | None:
        """The arrival time of the event that completed convergence, or None on timeout."""
        self._done.wait(timeout)
        return self.done_at

    @property
    def error(self) -> BaseException | None:
        return self._watch.error
