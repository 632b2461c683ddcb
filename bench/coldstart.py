"""Cold start at scale, and API writes at rest.

Cold start: N workflows x 3 versions exist (publishedVersion 1 or 2) before the operator
starts; we time from the operator process start until every Workflow is converged
(Ready=True, observedGeneration current, the wanted version active), seen by a watch.

Writes at rest: with everything converged, the kube-apiserver's own request counters
(`apiserver_request_total`) are read before and after an idle window in which the
benchmark writes nothing; the writes to flowplane's resources in that window are the
operator's. The operator's own `flowplane_api_writes_total` is the cross-check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.common import (
    TRIGGER_SELECTOR,
    Json,
    apiserver_metrics,
    cpu_seconds,
    create_objects,
    family_bodies,
    log,
    metric_sum,
    parse_metrics,
    peak_rss_bytes,
    rss_bytes,
    terminating_namespaces,
    workflow_names,
)
from bench.observe import ConvergenceObserver
from bench.profiling import PySpy
from flowplane_devtools.operator_process import OperatorProcess

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"})
FLOWPLANE_RESOURCES = frozenset(
    {"workflows", "workflowversions", "services", "configmaps", "events"})


@dataclass
class ColdStartResult:
    workflows: int
    objects: int
    create_seconds: float
    healthy_seconds: float = 0.0
    first_write_seconds: float | None = None  # operator start -> its first API write
    converged_seconds: float | None = None  # None: not converged within the timeout
    converged_count: int = 0
    floor_seconds: float | None = None  # the same first-reconcile writes, made directly
    floor_writes: int = 0
    services_wired: int = 0
    peak_rss_bytes: int | None = None
    rss_at_converged_bytes: int | None = None
    cpu_seconds_at_converged: float | None = None
    control_plane_cpu_seconds: float | None = None  # etcd + kube-apiserver, same interval
    operator: dict[str, float] = field(default_factory=dict)  # its counters at convergence
    profiles: list[str] = field(default_factory=list)
    idle: IdleWrites | None = None
    restart: Restart | None = None

    def to_json(self) -> Json:
        return asdict(self)


@dataclass
class Restart:
    """The operator restarted on converged workflows: time until each family was decided."""

    seconds: float | None  # None: not every family reconciled within the timeout
    first_reconcile_seconds: float | None
    reconciles: float
    writes: float


@dataclass
class IdleWrites:
    seconds: float
    apiserver_writes_total: float
    flowplane_writes: float  # on workflows, workflowversions, services, configmaps, events
    by_resource: dict[str, float] = field(default_factory=dict)
    operator_writes: float = 0.0  # the operator's flowplane_api_writes_total delta
    operator_reconciles: float = 0.0  # flowplane_reconcile_duration_seconds_count delta
    terminating_namespaces: list[str] = field(default_factory=list)


def _writes_by_resource(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for _, labels, value in parse_metrics(text, ["apiserver_request_total"]):
        if labels.get("verb") not in WRITE_VERBS:
            continue
        key = labels.get("resource", "?")
        if labels.get("subresource"):
            key += "/" + labels["subresource"]
        key = f"{labels.get('verb')} {key}"
        out[key] = out.get(key, 0.0) + value
    return out


OPERATOR_COUNTERS = {
    "writes": "flowplane_api_writes_total",
    "reconciles": "flowplane_reconcile_duration_seconds_count",
    "reconcile_seconds": "flowplane_reconcile_duration_seconds_sum",
    "decides": "flowplane_decide_duration_seconds_count",
    "decide_seconds": "flowplane_decide_duration_seconds_sum",
    "reconcile_errors": "flowplane_reconcile_errors_total",
}


def operator_stats(operator: OperatorProcess) -> dict[str, float]:
    """The operator's counters. `endpoint_slice_writes` is apart because the mirror of the
    runtime's endpoints lands after a family is live, so a snapshot at convergence holds
    any number of them; the cold floor makes none."""
    text = operator.metrics()
    stats = {key: metric_sum(text, name) for key, name in OPERATOR_COUNTERS.items()}
    stats["endpoint_slice_writes"] = metric_sum(text, OPERATOR_COUNTERS["writes"],
                                                kind="EndpointSlice")
    return stats


def wait_for_empty_queue(operator: OperatorProcess, timeout: float = 60.0) -> None:
    """Until no family is queued or being reconciled. A watch can show a write before
    the operator has counted it, so counters read right at convergence may be one short."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if metric_sum(operator.metrics(), "flowplane_queue_depth") == 0:
                return
        except OSError:  # a busy operator's metrics endpoint may time out; ask again
            pass
        time.sleep(0.05)


def _operator_counters(operator: OperatorProcess) -> tuple[float, float]:
    stats = operator_stats(operator)
    return stats["writes"], stats["reconciles"]


def measure_idle_writes(api: client.ApiClient, operator: OperatorProcess,
                        seconds: float) -> IdleWrites:
    """Count API writes while nothing but the operator could write."""
    before = _writes_by_resource(apiserver_metrics(api))
    op_writes0, op_reconciles0 = _operator_counters(operator)
    time.sleep(seconds)
    after = _writes_by_resource(apiserver_metrics(api))
    op_writes1, op_reconciles1 = _operator_counters(operator)
    delta = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
    flowplane = sum(v for k, v in delta.items()
                    if k.split(" ", 1)[1].split("/")[0] in FLOWPLANE_RESOURCES)
    return IdleWrites(
        seconds=seconds, apiserver_writes_total=sum(delta.values()), flowplane_writes=flowplane,
        by_resource=dict(sorted(delta.items())), operator_writes=op_writes1 - op_writes0,
        operator_reconciles=op_reconciles1 - op_reconciles0,
        terminating_namespaces=terminating_namespaces(api),
    )


def wait_quiet(operator: OperatorProcess, quiet: float = 3.0, timeout: float = 60.0) -> float:
    """Wait until the operator made no write for `quiet` seconds; returns seconds waited."""
    started = time.monotonic()
    last, since = _operator_counters(operator)[0], time.monotonic()
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = _operator_counters(operator)[0]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return time.monotonic() - started


def _cpu(pids: Sequence[int]) -> float | None:
    values = [cpu_seconds(pid) for pid in pids]
    return None if not values or any(v is None for v in values) else sum(
        v for v in values if v is not None)


def _poll_first_write(operator: OperatorProcess) -> bool:
    try:
        return _operator_counters(operator)[0] > 0
    except OSError:
        return False


def measure_restart(operator: OperatorProcess, families: int,
                    timeout: float = 300.0) -> Restart:
    """Restart the operator on converged families; wait until each was reconciled once."""
    operator.stop()
    started = time.monotonic()
    operator.start(timeout=120)
    first: float | None = None
    stats: dict[str, float] = {}
    done: float | None = None
    while time.monotonic() - started < timeout:
        try:
            stats = operator_stats(operator)
        except OSError:  # (TimeoutError too) busy with the initial listing: ask again
            time.sleep(0.25)
            continue
        if first is None and stats["reconciles"] > 0:
            first = time.monotonic() - started
        if stats["reconciles"] >= families:
            done = time.monotonic() - started
            break
        time.sleep(0.25)
    return Restart(seconds=done, first_reconcile_seconds=first,
                   reconciles=stats.get("reconciles", 0.0), writes=stats.get("writes", 0.0))


def measure_cold_start(
    api: client.ApiClient,
    kubeconfig: str,
    namespace: str,
    workflows: int,
    log_dir: Path,
    *,
    versions: int = 3,
    timeout: float = 600.0,
    idle_seconds: float | None = None,
    restart: bool = False,
    control_plane_pids: Sequence[int] = (),
    profile: Callable[[int, str], PySpy] | None = None,
    operator_args: Sequence[str] = (),
    operator_env: dict[str, str] | None = None,
) -> ColdStartResult:
    """Create the objects, then start an operator watching `namespace` and time it.

    `profile(pid, label)`, when given, makes profilers run from the operator's start to
    its first write ("startup"), and from there to convergence ("writes").
    """
    names = workflow_names(workflows)
    bodies = family_bodies(names, versions, lambda i: 1 + i % 2)
    create_seconds, _ = create_objects(api, namespace, bodies)
    result = ColdStartResult(workflows, len(bodies), create_seconds)
    log(f"cold start {workflows}: created {len(bodies)} objects in {create_seconds:.1f}s")
    operator = OperatorProcess(kubeconfig, log_dir / f"operator-coldstart-{workflows}.log",
                               extra_args=["--namespace", namespace, *operator_args],
                               env=operator_env)
    observer = ConvergenceObserver(api, namespace, workflows)
    with observer:
        cp_cpu0 = _cpu(control_plane_pids)
        started = time.monotonic()
        operator.start(timeout=120)
        result.healthy_seconds = time.monotonic() - started
        assert operator.proc is not None
        pid = operator.proc.pid
        try:
            prof = profile(pid, f"coldstart-{workflows}-startup") if profile else None
            if prof is not None:
                prof.__enter__()
            deadline = started + timeout
            while time.monotonic() < deadline and observer.done_at is None:
                if result.first_write_seconds is None and _poll_first_write(operator):
                    result.first_write_seconds = time.monotonic() - started
                    if prof is not None and profile is not None:
                        prof.__exit__(None, None, None)
                        result.profiles.append(str(prof.path))
                        prof = profile(pid, f"coldstart-{workflows}-writes")
                        prof.__enter__()
                observer.wait(0.25)
            done = observer.done_at
            cp_cpu1 = _cpu(control_plane_pids)
            if prof is not None:
                prof.__exit__(None, None, None)
                result.profiles.append(str(prof.path))
            result.converged_count = len(observer.converged)
            if done is not None:
                result.converged_seconds = done - started
            if cp_cpu0 is not None and cp_cpu1 is not None:
                result.control_plane_cpu_seconds = cp_cpu1 - cp_cpu0
            result.rss_at_converged_bytes = rss_bytes(pid)
            result.cpu_seconds_at_converged = cpu_seconds(pid)
            wait_for_empty_queue(operator)
            result.operator = operator_stats(operator)
            log(f"cold start {workflows}: first write after {result.first_write_seconds}s, "
                + (f"converged in {result.converged_seconds:.1f}s"
                   if result.converged_seconds is not None
                   else f"NOT converged ({result.converged_count}/{workflows}) "
                        f"after {timeout:.0f}s; watch error {observer.error!r}"))
            core: Any = client.CoreV1Api(api)
            services = core.list_namespaced_service(namespace, label_selector=TRIGGER_SELECTOR)
            result.services_wired = sum(
                1 for s in services.items
                if (s.metadata.annotations or {}).get("flowplane.dev/active-version")
                and s.spec.selector)
            if idle_seconds:
                waited = wait_quiet(operator)
                log(f"idle: operator quiet after {waited:.1f}s; measuring {idle_seconds:.0f}s")
                result.idle = measure_idle_writes(api, operator, idle_seconds)
                log(f"idle: {result.idle.flowplane_writes:.0f} writes to flowplane resources, "
                    f"{result.idle.apiserver_writes_total:.0f} in all")
            result.peak_rss_bytes = peak_rss_bytes(pid)
            if restart:
                result.restart = measure_restart(operator, workflows)
                log(f"restart on {workflows} converged workflows: {result.restart}")
        finally:
            operator.stop()
    return result
