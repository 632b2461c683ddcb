"""The runtime (`flowplane-runtime`): events in, WorkflowRuns out; each figure against a floor.

Three measurements, each made twice in the same run, one right after the other:

1. **accept**: event -> `202` latency, sequential events to one live webhook workflow
   (webhook -> transform). Floor: the same number of direct `POST workflowruns` with the
   body the runtime writes (`flowplane.runtime.pinning.run_body`, the event as the
   runtime records it), sequential.
2. **throughput**: accepted events/s of one runtime replica with `concurrency` senders in
   flight. Floor: creates/s of the direct client with the same concurrency.
3. **e2e**: event -> the run's `status.phase: Succeeded` seen by a watch, for a 3-step plan
   (webhook -> transform -> http action to a local sink), sequential. Floor: a direct
   create + 2 status patches (Running, then the final status the runtime writes),
   observed by the same kind of watch.

Two diagnostics (not targets) follow the floor and the runtime in 1 and 2: the floor's
creates, each followed in the background by the status writes the runtime makes to
execute the run (`FLOOR_EXEC`), or by only a claim and a final status (`FLOOR_TWO`).
They show how much of the gap is the execution writes rather than the runtime's code, and
what merging those writes would buy. The runtime's own counters (runs created, executions
finished) show a run executed more than once.

Both the clients of the benchmark and the floor are asynchronous aiohttp clients with a
pooled keep-alive connection: the floor IS the runtime's own API client
(`flowplane.runtime.kubeapi.KubeApi`: aiohttp, `TCPConnector(limit=64)`, the same TLS and
bearer token), so the floor is as efficient as the runtime's path to the API server by
construction. The event sender is an aiohttp session with `limit=concurrency`.

The runtime runs as its own process (`RuntimeProcess`, `--namespace` on the benchmark's
namespace, `--max-runs-per-minute 1000000`). The operator is started only to make the
workflows live (trigger Service + plan) and stopped before anything is measured, so that
neither side shares the machine with it. The floor writes to another namespace that no
runtime or operator watches. Around every measurement the benchmark records the load
average, the CPU seconds of the runtime, the benchmark process and (when known) etcd +
kube-apiserver, and the kube-apiserver's own request counters and latency histograms for
`workflowruns`, which show how many API calls each side made per event and how long the
API server took for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes
from kubernetes import client

from bench.common import (
    ACTIVE_ANNOTATION,
    Json,
    Summary,
    apiserver_metrics,
    cpu_seconds,
    create_objects,
    log,
    metric_sum,
    parse_metrics,
)
from bench.profiling import PySpy
from flowplane.model.resources import API_VERSION
from flowplane.model.run import RUN_PLURAL, TriggerKind
from flowplane.model.timestamps import format_timestamp
from flowplane.runtime.kubeapi import ApiError, KubeApi, custom_path
from flowplane.runtime.pinning import (
    Pin,
    now_precise,
    pin_from_service,
    random_run_name,
    run_body,
)
from flowplane.runtime.worker import succeeded_condition
from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess
from flowplane_devtools.sink import Sink

ACCEPT_WF = "hook"
E2E_WF = "chain"
MAX_RUNS_PER_MINUTE = "1000000"
WARMUP = 10
FLOOR_EXECUTOR = "bench-floor"
FLOOR_EXEC = "floor + exec writes"
"""The diagnostic side: the floor's creates, each followed in the background by the status
writes the runtime makes to execute the run. Not a target: it shows how much of the gap
is those writes rather than the runtime's own code."""
FLOOR_TWO = "floor + claim & final writes"
"""The second diagnostic: the floor's creates, each followed in the background by only two
writes: the claim (which could carry the trigger's step) and the final status (which
carries every step). What the execution writes would cost if the runtime merged them."""
RUN_VERBS = ("POST", "PATCH", "GET", "DELETE")


# ----------------------------------------------------------------------------- workflows


def accept_graph() -> Json:
    """webhook -> transform: acceptance plus an execution that makes no outside call."""
    return {
        "nodes": [
            {"id": "in", "role": "trigger", "type": "webhook", "config": {"path": "/hook"}},
            {"id": "shape", "role": "system", "type": "transform",
             "config": {"output": {"email": "{{ nodes.in.output.body.email }}"}}},
        ],
        "edges": [{"from": "in", "to": "shape"}],
    }


def e2e_graph(sink_url: str) -> Json:
    """webhook -> transform -> http action (POST to the sink): the 3-step plan."""
    return {
        "nodes": [
            {"id": "in", "role": "trigger", "type": "webhook", "config": {"path": "/chain"}},
            {"id": "shape", "role": "system", "type": "transform",
             "config": {"output": {"email": "{{ nodes.in.output.body.email }}",
                                   "n": "{{ nodes.in.output.body.n }}"}}},
            {"id": "call", "role": "action", "app": "http", "operation": "request",
             "inputs": {"method": "POST", "url": f"{sink_url}/anything",
                        "body": {"email": "{{ nodes.shape.output.email }}"}}},
        ],
        "edges": [{"from": "in", "to": "shape"}, {"from": "shape", "to": "call"}],
    }


def _bodies(graphs: dict[str, Json], versions: bool, run_history: int | None = None
            ) -> list[Json]:
    out: list[Json] = []
    for name, graph in graphs.items():
        spec: Json = {"displayName": f"bench {name}"}
        if versions:
            spec["publishedVersion"] = 1
        if run_history is not None:
            spec["runHistory"] = {"succeeded": run_history, "failed": run_history}
        out.append({"apiVersion": API_VERSION, "kind": "Workflow", "metadata": {"name": name},
                    "spec": spec})
        if versions:
            out.append({"apiVersion": API_VERSION, "kind": "WorkflowVersion",
                        "metadata": {"name": f"{name}-v1"},
                        "spec": {"workflowRef": {"name": name}, "version": 1, "graph": graph}})
    return out


def payload(i: int) -> Json:
    return {"email": f"user{i}@example.com", "n": i}


# ----------------------------------------------------------------------------- results


@dataclass
class Phase:
    """One measurement of one side."""

    who: str  # "floor" | "runtime"
    test: str  # "accept" | "throughput" | "e2e"
    count: int
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, one per successful call
    accepted_at: list[float] = field(default_factory=list)  # e2e: send -> 202 / created
    statuses: dict[str, int] = field(default_factory=dict)  # answer -> count
    seconds: float = 0.0  # wall time of the measurement
    drain_seconds: float | None = None  # throughput: last 202 -> every run finished
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # at the start
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds during it
    api_calls: dict[str, float] = field(default_factory=dict)  # verb -> workflowruns calls
    api_ms: dict[str, float] = field(default_factory=dict)  # verb -> mean server-side ms
    runs_failed: float = 0.0
    runs_started: float = 0.0  # the runtime's counters over the measurement: runs it created
    runs_finished: float = 0.0  # ... and executions it finished (more: a run ran twice)
    settle_seconds: float = 0.0  # after it: until the runtime finished no run for 1.5 s
    settled: bool = True  # False: the runtime was still finishing executions at the timeout
    runs: list[str] = field(default_factory=list)  # the runs created (not in to_json)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else float("nan")

    def summary(self) -> Summary:
        return Summary.of(self.latencies)

    def to_json(self) -> Json:
        return {k: v for k, v in asdict(self).items() if k != "runs"} | {
            "ok": self.ok, "rate": self.rate}


@dataclass
class RuntimeResult:
    events: int
    burst: int
    concurrency: int
    e2e_events: int
    setup_seconds: float = 0.0
    seconds: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    control_plane_cpu: bool = False
    run_history: int | None = None  # the workflows' spec.runHistory (None: the default, 50)
    quiet: float = 1.5  # seconds without a finished execution that end a measurement

    def phase(self, who: str, test: str) -> Phase | None:
        return next((p for p in self.phases if p.who == who and p.test == test), None)

    def to_json(self) -> Json:
        return {"events": self.events, "burst": self.burst, "concurrency": self.concurrency,
                "e2e_events": self.e2e_events, "setup_seconds": self.setup_seconds,
                "run_history": self.run_history,
                "seconds": self.seconds, "profiles": self.profiles,
                "phases": [p.to_json() for p in self.phases]}


# ----------------------------------------------------------------------------- counters


@dataclass
class Snapshot:
    """What is counted before and after a measurement."""

    at: float
    load: tuple[float, float, float]
    cpu: dict[str, float]
    calls: dict[str, float]
    duration_sum: dict[str, float]
    duration_count: dict[str, float]
    runtime_finished: float = 0.0
    runtime_failed: float = 0.0
    runtime_started: float = 0.0

    @classmethod
    def take(cls, api: client.ApiClient, pids: dict[str, list[int]],
             runtime: RuntimeProcess | None) -> Snapshot:
        text = apiserver_metrics(api)
        calls: dict[str, float] = {}
        for _, labels, value in parse_metrics(text, ["apiserver_request_total"]):
            if labels.get("resource") == RUN_PLURAL and labels.get("verb") in RUN_VERBS:
                verb = labels["verb"]
                calls[verb] = calls.get(verb, 0.0) + value
                if not str(labels.get("code", "")).startswith("2"):
                    refused = f"{verb} {labels.get('code')}"
                    calls[refused] = calls.get(refused, 0.0) + value
        sums = {v: metric_sum(text, "apiserver_request_duration_seconds_sum", verb=v,
                              resource=RUN_PLURAL) for v in RUN_VERBS}
        counts = {v: metric_sum(text, "apiserver_request_duration_seconds_count", verb=v,
                                resource=RUN_PLURAL) for v in RUN_VERBS}
        cpu: dict[str, float] = {}
        for name, group in pids.items():
            values = [cpu_seconds(pid) for pid in group]
            if values and all(v is not None for v in values):
                cpu[name] = sum(v for v in values if v is not None)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu["benchmark"] = usage.ru_utime + usage.ru_stime
        finished = failed = started = 0.0
        if runtime is not None:
            mtext = runtime.metrics()
            finished = metric_sum(mtext, "flowplane_runtime_runs_finished_total")
            failed = metric_sum(mtext, "flowplane_runtime_runs_finished_total", phase="Failed")
            started = metric_sum(mtext, "flowplane_runtime_runs_started_total")
        return cls(time.monotonic(), os.getloadavg(), cpu, calls, sums, counts,
                   finished, failed, started)

    def into(self, phase: Phase, after: Snapshot) -> None:
        phase.load = self.load
        phase.cpu = {k: after.cpu[k] - v for k, v in self.cpu.items() if k in after.cpu}
        phase.api_calls = {v: after.calls.get(v, 0.0) - self.calls.get(v, 0.0)
                           for v in sorted(set(after.calls) | set(RUN_VERBS))}
        phase.api_ms = {}
        for v in RUN_VERBS:
            n = after.duration_count[v] - self.duration_count[v]
            if n > 0:
                phase.api_ms[v] = 1000.0 * (after.duration_sum[v] - self.duration_sum[v]) / n
        phase.runs_failed = after.runtime_failed - self.runtime_failed
        phase.runs_started = after.runtime_started - self.runtime_started
        phase.runs_finished = after.runtime_finished - self.runtime_finished


# ----------------------------------------------------------------------------- clients


Send = Callable[[int], Awaitable[tuple[str, str]]]
"""Sends event/create number i; returns (answer, run name); the answer "ok" counts."""


def kube_configuration(kubeconfig: str) -> kubernetes.client.Configuration:
    config = kubernetes.client.Configuration()
    loader: Any = kubernetes.config
    loader.load_kube_config(config_file=kubeconfig, client_configuration=config)
    return config


class EventSender:
    """Events to the runtime as a trigger Service delivers them: `Host` routes them."""

    def __init__(self, url: str, host: str, path: str, limit: int) -> None:
        self.url = url + path
        self.headers = {"Host": host}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            timeout=aiohttp.ClientTimeout(total=60))

    async def send(self, i: int) -> tuple[str, str]:
        async with self.session.post(self.url, json=payload(i), headers=self.headers) as r:
            data: Any = await r.json(content_type=None)
            if r.status != 202:
                return str(r.status), ""
            return "ok", str(data.get("run") or "")

    async def close(self) -> None:
        await self.session.close()


class FloorClient:
    """The runtime's API calls, made directly with the runtime's own aiohttp API client."""

    def __init__(self, api: KubeApi, namespace: str, pin: Pin, workflow_uid: str,
                 event: Json, final_status: Json | None = None) -> None:
        self.api = api
        self.ns = namespace
        self.pin = pin
        self.uid = workflow_uid
        self.event = event
        self.final_status = final_status or {}
        self.background: set[asyncio.Task[None]] = set()
        self.created_at = 0.0  # perf_counter() when the last create was answered

    def body(self, i: int) -> Json:
        event = {**self.event, "body": payload(i), "receivedAt": format_timestamp()}
        return run_body(name=random_run_name(self.pin.workflow), pin=self.pin,
                        trigger=TriggerKind.WEBHOOK, event=event, workflow_uid=self.uid)

    async def _create(self, i: int) -> tuple[str, Json]:
        body = self.body(i)
        try:
            obj = await self.api.create(custom_path(RUN_PLURAL, self.ns), body)
        except ApiError as exc:
            return str(exc.status), {}
        finally:
            self.created_at = time.perf_counter()
        return "ok", obj

    async def create(self, i: int) -> tuple[str, str]:
        answer, obj = await self._create(i)
        return answer, str((obj.get("metadata") or {}).get("name") or "")

    def _executor(self) -> Json:
        return {"id": FLOOR_EXECUTOR, "heartbeatAt": format_timestamp(), "leaseSeconds": 15}

    def _final(self, started: str) -> Json:
        end = now_precise()
        final = {**self.final_status, "startedAt": started, "finishedAt": end,
                 "executor": self._executor()}
        if final.get("conditions"):
            final["conditions"] = [{**c, "lastTransitionTime": end} for c in final["conditions"]]
        return final

    def _claim(self, now: str) -> Json:
        return {"phase": "Running", "startedAt": now,
                "conditions": [succeeded_condition("Unknown", "Running", "", now)],
                "executor": self._executor()}

    async def create_then_execute(self, i: int) -> tuple[str, str]:
        """Diagnostic: a create, answered at once; then, in the background, the status
        writes the runtime makes to execute the run: the claim, one per step, the final
        status (each guarded by the previous resourceVersion)."""
        return await self._create_in_background(i, step_writes=True)

    async def create_then_claim_and_finish(self, i: int) -> tuple[str, str]:
        """Diagnostic: as `create_then_execute`, with only the claim and the final status."""
        return await self._create_in_background(i, step_writes=False)

    async def _create_in_background(self, i: int, step_writes: bool) -> tuple[str, str]:
        answer, obj = await self._create(i)
        if answer == "ok":
            task = asyncio.create_task(self._execute(obj, step_writes))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return answer, str((obj.get("metadata") or {}).get("name") or "")

    async def _execute(self, obj: Json, step_writes: bool = True) -> None:
        path = custom_path(RUN_PLURAL, self.ns, str(obj["metadata"]["name"]), "status")
        version = str(obj["metadata"]["resourceVersion"])
        started = now_precise()
        steps = list(self.final_status.get("steps") or [])
        writes = [self._claim(started)]
        if step_writes:
            for n in range(1, len(steps)):  # a step write after each step but the last ...
                writes.append({"steps": steps[:n] + [{"node": s.get("node"),
                                                      "phase": "Pending"} for s in steps[n:]],
                               "executor": self._executor()})
            writes.append({"steps": steps, "executor": self._executor()})  # ... and the last
        for status in writes:
            done = await self.api.merge_patch(path, {"metadata": {"resourceVersion": version},
                                                     "status": status})
            version = str(done["metadata"]["resourceVersion"])
        await self.api.merge_patch(path, {"metadata": {"resourceVersion": version},
                                          "status": self._final(started)})

    async def drain(self) -> None:
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)

    async def create_and_finish(self, i: int) -> tuple[str, str]:
        """create; status Running (the claim); the final status: as the runtime, guarded
        by the resourceVersion of the previous write."""
        answer, obj = await self._create(i)
        if answer != "ok":
            return answer, ""
        name = str(obj["metadata"]["name"])
        path = custom_path(RUN_PLURAL, self.ns, name, "status")
        now = now_precise()
        try:
            running = await self.api.merge_patch(path, {
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "status": self._claim(now)})
            await self.api.merge_patch(path, {
                "metadata": {"resourceVersion": running["metadata"]["resourceVersion"]},
                "status": self._final(now)})
        except ApiError as exc:
            return f"patch {exc.status}", name
        return "ok", name


class RunWatch:
    """A watch on the runs of a namespace: when each run was first seen finished."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.api = api
        self.path = custom_path(RUN_PLURAL, namespace)
        self.finished: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.events = 0

    async def start(self) -> None:
        listing = await self.api.get(self.path, limit="1")
        version = str(listing["metadata"]["resourceVersion"])
        self._task = asyncio.create_task(self._run(version))

    async def _run(self, version: str) -> None:
        while True:
            try:
                async for event in self.api.watch(self.path, version):
                    arrived = time.perf_counter()
                    obj = event.get("object") or {}
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") not in ("ADDED", "MODIFIED"):
                        continue
                    self.events += 1
                    phase = (obj.get("status") or {}).get("phase")
                    name = str(obj["metadata"]["name"])
                    if phase in ("Succeeded", "Failed") and name not in self.finished:
                        self.finished[name] = (arrived, str(phase))
                        waiter = self._waiters.pop(name, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(self.finished[name])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped stream: resume from the last version
                log(f"run watch {self.path}: {type(exc).__name__}: {exc}; resuming")
                await asyncio.sleep(0.2)

    async def wait(self, name: str, timeout: float = 60.0) -> tuple[float, str]:
        if name in self.finished:
            return self.finished[name]
        waiter = self._waiters.setdefault(name, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# ----------------------------------------------------------------------------- loops


async def sequential(send: Send, phase: Phase) -> None:
    answers: Counter[str] = Counter()
    started = time.perf_counter()
    for i in range(phase.count):
        t0 = time.perf_counter()
        answer, name = await send(i)
        if answer == "ok":
            phase.latencies.append(time.perf_counter() - t0)
            phase.runs.append(name)
        answers[answer] += 1
    phase.seconds = time.perf_counter() - started
    phase.statuses = dict(answers)


async def concurrent(send: Send, phase: Phase) -> float:
    """`phase.concurrency` senders draw from one counter; returns when the last answered."""
    answers: Counter[str] = Counter()
    numbers = iter(range(phase.count))
    last = 0.0

    async def worker() -> None:
        nonlocal last
        for i in numbers:
            t0 = time.perf_counter()
            answer, name = await send(i)
            last = time.perf_counter()
            if answer == "ok":
                phase.latencies.append(last - t0)
                phase.runs.append(name)
            answers[answer] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(phase.concurrency)))
    phase.seconds = last - started
    phase.statuses = dict(answers)
    return last


async def to_finished(send: Send, watch: RunWatch, phase: Phase,
                      answered: Callable[[], float] | None = None) -> None:
    """Sequential: send, then wait for the watch to show the run finished. The time to the
    answer of the create (the `202`, or `answered()`) goes to `phase.accepted_at`."""
    answers: Counter[str] = Counter()
    started = time.perf_counter()
    for i in range(phase.count):
        t0 = time.perf_counter()
        answer, name = await send(i)
        t_answer = answered() if answered is not None else time.perf_counter()
        if answer == "ok":
            arrived, final = await watch.wait(name)
            phase.runs.append(name)
            if final == "Succeeded":
                phase.latencies.append(arrived - t0)
                phase.accepted_at.append(t_answer - t0)
            else:
                answer = f"run {final}"
        answers[answer] += 1
    phase.seconds = time.perf_counter() - started
    phase.statuses = dict(answers)


async def wait_finished(watch: RunWatch, names: Sequence[str], timeout: float = 180.0) -> float:
    """Until the watch saw every run in `names` finished; returns the latest arrival
    (`time.perf_counter()`)."""
    deadline = time.perf_counter() + timeout
    last = 0.0
    for name in names:
        arrived, _ = await watch.wait(name, max(0.1, deadline - time.perf_counter()))
        last = max(last, arrived)
    return last


async def wait_quiet(runtime: RuntimeProcess, quiet: float = 1.5,
                     timeout: float = 60.0) -> bool:
    """Until the runtime finished no execution for `quiet` seconds (its counter), so that
    what it does after a measurement does not land in the next one. False on timeout."""
    started = time.perf_counter()
    last_value, since = -1.0, started
    while time.perf_counter() - started < timeout:
        text = await asyncio.to_thread(runtime.metrics)
        value = metric_sum(text, "flowplane_runtime_runs_finished_total")
        now = time.perf_counter()
        if value != last_value:
            last_value, since = value, now
        elif now - since >= quiet:
            return True
        await asyncio.sleep(0.2)
    return False


# ----------------------------------------------------------------------------- setup


def _wait_live(api: client.ApiClient, namespace: str, workflows: Sequence[str],
               timeout: float = 60.0) -> dict[str, Pin]:
    core: Any = client.CoreV1Api(api)
    pins: dict[str, Pin] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for wf in workflows:
            if wf in pins:
                continue
            try:
                svc = core.read_namespaced_service(f"{wf}-trigger", namespace)
            except client.exceptions.ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            ann = svc.metadata.annotations or {}
            pin = pin_from_service(f"{wf}-trigger", ann)
            if ann.get(ACTIVE_ANNOTATION) == "1" and pin is not None:
                pins[wf] = pin
        if len(pins) == len(workflows):
            return pins
        time.sleep(0.2)
    raise TimeoutError(f"workflows not live after {timeout}s: {set(workflows) - set(pins)}")


def _host(workflow: str, namespace: str) -> str:
    return f"{workflow}-trigger.{namespace}.svc"


@dataclass(frozen=True)
class Setup:
    namespace: str
    floor_namespace: str
    pins: dict[str, Pin]
    floor_uids: dict[str, str]


def measure_runtime(
    api: client.ApiClient,
    kubeconfig: str,
    namespace: str,
    floor_namespace: str,
    log_dir: Path,
    *,
    events: int = 200,
    burst: int = 400,
    concurrency: int = 16,
    e2e_events: int = 50,
    start_operator: bool = True,
    control_plane_pids: Sequence[int] = (),
    profile: Callable[[int, str], PySpy] | None = None,
    runtime_args: Sequence[str] = (),
    diagnostic: bool = True,
    run_history: int | None = None,
    quiet: float = 1.5,
) -> RuntimeResult:
    """Both namespaces must exist and be empty. With `start_operator`, an operator is run on
    `namespace` until the workflows are live; otherwise one must already watch it. Nothing
    may execute runs in `floor_namespace`. `run_history` sets the workflows'
    `spec.runHistory` (default: the CRD's, 50 of each outcome). After each measurement the
    benchmark waits until the runtime finished no execution for `quiet` seconds."""
    result = RuntimeResult(events, burst, concurrency, e2e_events,
                           control_plane_cpu=bool(control_plane_pids), run_history=run_history,
                           quiet=quiet)
    started = time.monotonic()
    sink = Sink().start()
    runtime: RuntimeProcess | None = None
    try:
        if start_operator:
            operator = OperatorProcess(kubeconfig, log_dir / "operator-runtime.log",
                                       extra_args=["--namespace", namespace])
            operator.start()
        try:
            create_objects(api, namespace, _bodies(
                {ACCEPT_WF: accept_graph(), E2E_WF: e2e_graph(sink.url)}, versions=True,
                run_history=run_history))
            pins = _wait_live(api, namespace, (ACCEPT_WF, E2E_WF))
        finally:
            if start_operator:
                operator.stop()
        _, floor_objs = create_objects(api, floor_namespace, _bodies(
            {ACCEPT_WF: {}, E2E_WF: {}}, versions=False))
        floor_uids = {name.split("/", 1)[1]: str(obj["metadata"]["uid"])
                      for name, obj in floor_objs.items()}
        runtime = RuntimeProcess(kubeconfig, log_dir / "runtime.log", extra_args=[
            "--namespace", namespace, "--max-runs-per-minute", MAX_RUNS_PER_MINUTE,
            "--executor-id", "bench-runtime", *runtime_args])
        runtime.start()
        assert runtime.proc is not None
        pids = {"runtime": [runtime.proc.pid]}
        if control_plane_pids:
            pids["etcd + kube-apiserver"] = list(control_plane_pids)
        result.setup_seconds = time.monotonic() - started
        log(f"runtime: workflows live and the runtime ready after {result.setup_seconds:.1f}s")
        setup = Setup(namespace, floor_namespace, pins, floor_uids)
        asyncio.run(_measure(api, kubeconfig, runtime, setup, result, pids, profile,
                             diagnostic, quiet))
    finally:
        if runtime is not None:
            runtime.stop()
        sink.stop()
    result.seconds = time.monotonic() - started
    return result


async def _measure(api: client.ApiClient, kubeconfig: str, runtime: RuntimeProcess,
                   setup: Setup, result: RuntimeResult, pids: dict[str, list[int]],
                   profile: Callable[[int, str], PySpy] | None, diagnostic: bool,
                   quiet: float) -> None:
    ns, floor_ns = setup.namespace, setup.floor_namespace
    config = kube_configuration(kubeconfig)
    floor_api, watch_api = KubeApi(config), KubeApi(config)
    sequential_sender = EventSender(runtime.url, _host(ACCEPT_WF, ns), "/hook", 1)
    burst_sender = EventSender(runtime.url, _host(ACCEPT_WF, ns), "/hook", result.concurrency)
    e2e_sender = EventSender(runtime.url, _host(E2E_WF, ns), "/chain", 1)
    runtime_watch, floor_watch = RunWatch(watch_api, ns), RunWatch(watch_api, floor_ns)
    assert runtime.proc is not None
    runtime_pid = runtime.proc.pid
    try:
        await runtime_watch.start()
        await floor_watch.start()

        # Warm-up (not measured): connections, caches; and the shapes the floor copies:
        # the event as the runtime records it, and the final status of a 3-step run.
        names = [name for _ in range(WARMUP) for answer, name in
                 [await sequential_sender.send(0)] if answer == "ok"]
        e2e_names = [name for _ in range(WARMUP) for answer, name in
                     [await e2e_sender.send(0)] if answer == "ok"]
        if not names or not e2e_names:
            raise RuntimeError(f"the runtime accepted no warm-up event:\n{runtime.tail()}")
        final = await runtime_watch.wait(e2e_names[-1])
        if final[1] != "Succeeded":
            raise RuntimeError(f"warm-up run {e2e_names[-1]} {final[1]}:\n{runtime.tail()}")
        await wait_finished(runtime_watch, names + e2e_names)
        await wait_quiet(runtime, quiet)
        run_path = custom_path(RUN_PLURAL, ns)

        async def floor_client(workflow: str, run: str) -> FloorClient:
            obj = await floor_api.get(f"{run_path}/{run}")
            status = {k: v for k, v in (obj.get("status") or {}).items() if k != "executor"}
            return FloorClient(floor_api, floor_ns, setup.pins[workflow],
                               setup.floor_uids[workflow], dict(obj["spec"]["event"]), status)

        accept_floor = await floor_client(ACCEPT_WF, names[-1])
        e2e_floor = await floor_client(E2E_WF, e2e_names[-1])
        for i in range(WARMUP):
            await accept_floor.create(i)
            await accept_floor.create_then_execute(i)
            await e2e_floor.create_and_finish(i)
        await accept_floor.drain()

        async def measured(who: str, test: str, count: int, conc: int,
                           body: Callable[[Phase], Awaitable[None]]) -> Phase:
            phase = Phase(who, test, count, conc)
            spy = profile(runtime_pid, f"runtime-{test}") if (
                profile is not None and who == "runtime") else None
            if spy is not None:
                spy.__enter__()
                await asyncio.sleep(1.0)  # let py-spy attach
            try:
                before = await asyncio.to_thread(Snapshot.take, api, pids, runtime)
                await body(phase)
                if who == "runtime":
                    await wait_finished(runtime_watch, phase.runs)
                await accept_floor.drain()
                settling = time.perf_counter()
                phase.settled = await wait_quiet(runtime, quiet)
                phase.settle_seconds = time.perf_counter() - settling
                after = await asyncio.to_thread(Snapshot.take, api, pids, runtime)
            finally:
                if spy is not None:
                    spy.__exit__(None, None, None)
                    result.profiles.append(str(spy.path))
            before.into(phase, after)
            result.phases.append(phase)
            s = phase.summary()
            log(f"runtime bench: {who} {test}: {phase.ok}/{count} ok, p50 {s.p50 * 1000:.1f} "
                f"ms, p95 {s.p95 * 1000:.1f} ms, {phase.rate:.0f}/s, load {phase.load[0]:.2f}")
            return phase

        async def runtime_drained(phase: Phase) -> float:
            return await wait_finished(runtime_watch, phase.runs)

        async def floor_drained(phase: Phase) -> float:
            await accept_floor.drain()
            return time.perf_counter()

        # 1. event -> 202, sequential
        await measured("floor", "accept", result.events, 1,
                       lambda p: sequential(accept_floor.create, p))
        await measured("runtime", "accept", result.events, 1,
                       lambda p: sequential(sequential_sender.send, p))
        if diagnostic:
            await measured(FLOOR_EXEC, "accept", result.events, 1,
                           lambda p: sequential(accept_floor.create_then_execute, p))
            await measured(FLOOR_TWO, "accept", result.events, 1,
                           lambda p: sequential(accept_floor.create_then_claim_and_finish, p))

        # 2. accepted events/s with `concurrency` in flight
        await measured("floor", "throughput", result.burst, result.concurrency,
                       lambda p: _throughput(accept_floor.create, p, None))
        await measured("runtime", "throughput", result.burst, result.concurrency,
                       lambda p: _throughput(burst_sender.send, p, runtime_drained))
        if diagnostic:
            await measured(FLOOR_EXEC, "throughput", result.burst, result.concurrency,
                           lambda p: _throughput(accept_floor.create_then_execute, p,
                                                 floor_drained))
            await measured(FLOOR_TWO, "throughput", result.burst, result.concurrency,
                           lambda p: _throughput(accept_floor.create_then_claim_and_finish, p,
                                                 floor_drained))

        # 3. event -> run Succeeded, 3-step plan, sequential
        await measured("floor", "e2e", result.e2e_events, 1,
                       lambda p: to_finished(e2e_floor.create_and_finish, floor_watch, p,
                                             lambda: e2e_floor.created_at))
        await measured("runtime", "e2e", result.e2e_events, 1,
                       lambda p: to_finished(e2e_sender.send, runtime_watch, p))
    finally:
        await runtime_watch.stop()
        await floor_watch.stop()
        for sender in (sequential_sender, burst_sender, e2e_sender):
            await sender.close()
        await floor_api.close()
        await watch_api.close()


async def _throughput(send: Send, phase: Phase,
                      drained: Callable[[Phase], Awaitable[float]] | None) -> None:
    last = await concurrent(send, phase)
    if drained is not None:
        phase.drain_seconds = max(0.0, await drained(phase) - last)
