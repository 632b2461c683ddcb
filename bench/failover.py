"""Failover of two leader-elected operators (issue 13.2) -> a section of BENCHMARKS.md.

    .venv/bin/python -m bench.failover [--workflows 20] [--out BENCHMARKS.md]

Two operator replicas hold one Lease with controller-runtime's timings (15/10/2 s, the
Deployment's). In one run, on a fresh local control plane:

1. warm burst (the floor): every workflow gets a new publishedVersion while the leader is
   healthy; time until every one is live;
2. failover burst: the same number of publishes, the leader SIGKILLed after half of them
   were sent; times from the kill to the standby's first API write and to every publish
   being live.

The takeover's floor is the lease itself: no correct replica may write before the dead
leader's lease expires (its last renewTime + leaseDurationSeconds). The catch-up's floor
is the warm burst. A watcher of every WorkflowVersion counts any moment at which one
workflow had two Active versions; at the end every workflow's Service annotation,
status.activeVersion, Active version and spec.publishedVersion must agree.

The section is written between FAILOVER markers inside the notes of BENCHMARKS.md, which
`python -m bench.run` keeps when it rewrites the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config

from bench.common import (
    ACTIVE_ANNOTATION,
    Json,
    create_namespace,
    create_objects,
    family_bodies,
    log,
    metric_sum,
    workflow_names,
)
from bench.observe import ConvergenceObserver, LiveObserver, ResourceWatch
from bench.report import NOTES_BEGIN, NOTES_END
from flowplane.model.resources import GROUP, VERSION, VERSION_PLURAL, WORKFLOW_PLURAL
from flowplane_devtools.cluster import LocalControlPlane, repo_root
from flowplane_devtools.kube import install_crds
from flowplane_devtools.operator_process import OperatorProcess

BEGIN = "<!-- failover:begin (written by python -m bench.failover) -->"
END = "<!-- failover:end -->"
LEASE = "flowplane-operator"
DEPLOYMENT_TIMINGS = (15.0, 10.0, 2.0)
"""Lease duration, renew deadline, retry period: controller-runtime's, the Deployment's."""


@dataclass
class FailoverResult:
    workflows: int
    timings: tuple[float, float, float] = DEPLOYMENT_TIMINGS
    warm_all_live: float = float("nan")
    kill_to_expiry: float = float("nan")
    kill_to_first_write: float = float("nan")
    first_write_to_all_live: float = float("nan")
    kill_to_all_live: float = float("nan")
    two_active_moments: int = 0
    disagreements: list[str] = field(default_factory=list)
    transitions: int = 0
    load: str = ""
    date: str = ""


class ActiveCounter:
    """Every moment at which one workflow had two Active versions, from the watch."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.phases: dict[str, tuple[str, str | None]] = {}
        self.violations = 0
        self._lock = threading.Lock()
        custom: Any = client.CustomObjectsApi(api)
        self.watch = ResourceWatch("versions", custom.list_namespaced_custom_object,
                                   (GROUP, VERSION, namespace, VERSION_PLURAL), self._on)

    def _on(self, _arrived: float, kind: str, obj: Json) -> None:
        name = str(obj["metadata"]["name"])
        with self._lock:
            if kind == "DELETED":
                self.phases.pop(name, None)
                return
            self.phases[name] = (str(obj["spec"]["workflowRef"]["name"]),
                                 (obj.get("status") or {}).get("phase"))
            active = [wf for wf, phase in self.phases.values() if phase == "Active"]
            if len(active) != len(set(active)):
                self.violations += 1


def _replica(kubeconfig: str, logs: Path, namespace: str, identity: str,
             timings: tuple[float, float, float]) -> OperatorProcess:
    duration, renew, retry = timings
    return OperatorProcess(kubeconfig, logs / f"failover-{identity}.log", extra_args=[
        "--namespace", namespace, "--leader-elect", "--lease-name", LEASE,
        "--lease-namespace", namespace, "--identity", identity,
        "--lease-duration", str(duration), "--renew-deadline", str(renew),
        "--retry-period", str(retry)])


def _leads(proc: OperatorProcess) -> bool:
    return metric_sum(proc.metrics(), "flowplane_operator_leader") == 1.0


def _writes(proc: OperatorProcess) -> float:
    return metric_sum(proc.metrics(), "flowplane_api_writes_total")


def _until(check: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"{what} after {timeout}s")


def _publish(custom: Any, namespace: str, workflow: str, version: int) -> None:
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW_PLURAL, workflow,
                                          {"spec": {"publishedVersion": version}})


def _agreement(api: client.ApiClient, namespace: str, names: list[str]) -> list[str]:
    custom: Any = client.CustomObjectsApi(api)
    core: Any = client.CoreV1Api(api)
    versions = custom.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                    VERSION_PLURAL)["items"]
    problems = []
    for wf in names:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW_PLURAL, wf)
        wanted = obj["spec"].get("publishedVersion")
        status = (obj.get("status") or {}).get("activeVersion")
        svc = core.read_namespaced_service(f"{wf}-trigger", namespace)
        annotated = (svc.metadata.annotations or {}).get(ACTIVE_ANNOTATION)
        active = sorted(v["spec"]["version"] for v in versions
                        if v["spec"]["workflowRef"]["name"] == wf
                        and (v.get("status") or {}).get("phase") == "Active")
        if not (active == [wanted] and status == wanted and annotated == str(wanted)):
            problems.append(f"{wf}: wants {wanted}, status {status}, Service {annotated}, "
                            f"Active {active}")
    return problems


def measure_failover(api: client.ApiClient, kubeconfig: str, namespace: str, logs: Path,
                     workflows: int, timings: tuple[float, float, float] = DEPLOYMENT_TIMINGS,
                     ) -> FailoverResult:
    result = FailoverResult(workflows=workflows, timings=timings, load=" / ".join(
        f"{x:.2f}" for x in os.getloadavg()), date=datetime.now(UTC).strftime(
        "%Y-%m-%d %H:%M UTC"))
    custom: Any = client.CustomObjectsApi(api)
    coordination: Any = client.CoordinationV1Api(api)
    names = workflow_names(workflows, prefix="fo")
    create_objects(api, namespace, family_bodies(names, 3, lambda _i: 1))
    first = _replica(kubeconfig, logs, namespace, "replica-a", timings)
    second = _replica(kubeconfig, logs, namespace, "replica-b", timings)
    counter = ActiveCounter(api, namespace)
    counter.watch.start()
    try:
        first.start()
        _until(lambda: _leads(first), 60, "replica-a never led")
        second.start()
        with ConvergenceObserver(api, namespace, workflows) as converged:
            if converged.wait(300) is None:
                raise TimeoutError("the families never converged")
        assert _writes(second) == 0, "the standby wrote"

        with LiveObserver(api, namespace) as live:
            for wf in names:
                live.wait_state(wf, 1)
            # 1. the floor: a burst on a healthy leader
            started = time.monotonic()
            for wf in names:
                _publish(custom, namespace, wf, 2)
            done = max(max(live.wait_live(wf, 2, started, timeout=120)) for wf in names)
            result.warm_all_live = done - started

            # 2. the same burst, the leader killed half way
            held = coordination.read_namespaced_lease(LEASE, namespace).spec
            assert held.holder_identity == "replica-a", held.holder_identity
            half = len(names) // 2
            sent = time.monotonic()
            for wf in names[:half]:
                _publish(custom, namespace, wf, 3)
            killed = time.monotonic()
            killed_wall = time.time()
            first.kill()
            held = coordination.read_namespaced_lease(LEASE, namespace).spec  # its last renewal
            result.kill_to_expiry = (held.renew_time.timestamp() + held.lease_duration_seconds
                                     - killed_wall)
            for wf in names[half:]:
                _publish(custom, namespace, wf, 3)
            first_write = _until(lambda: _writes(second) > 0, 120, "the standby never wrote")
            result.kill_to_first_write = first_write - killed
            done = max(max(live.wait_live(wf, 3, sent, timeout=120)) for wf in names)
            result.first_write_to_all_live = done - first_write
            result.kill_to_all_live = done - killed
        result.transitions = int(
            coordination.read_namespaced_lease(LEASE, namespace).spec.lease_transitions or 0)
        time.sleep(1.0)  # the watcher's last events (the result is read, not waited on)
        result.disagreements = _agreement(api, namespace, names)
    finally:
        counter.watch.stop()
        for proc in (first, second):
            proc.stop()
    result.two_active_moments = counter.violations
    return result


def _ratio(value: float, floor: float) -> str:
    return "n/a" if not floor or floor != floor or value != value else f"{value / floor:.2f}x"


def render(r: FailoverResult, command: str) -> str:
    lines = [
        BEGIN,
        "### Failover: two replicas, the leader SIGKILLed mid-burst",
        "",
        f"`{command}` ({r.date}; load average at start {r.load}; lease/renew/retry "
        f"{'/'.join(f'{t:g}' for t in r.timings)} s"
        f"{', as the Deployment runs it' if r.timings == DEPLOYMENT_TIMINGS else ''}; "
        f"{r.workflows} workflows, each published once more in the burst).",
        "",
        "| measure | seconds | floor (same run) | ratio |",
        "|---|---:|---|---:|",
        f"| kill -> standby's first API write | {r.kill_to_first_write:.2f} | "
        f"the lease's expiry: {r.kill_to_expiry:.2f} s after the kill | "
        f"{_ratio(r.kill_to_first_write, r.kill_to_expiry)} |",
        f"| first write -> every publish live | {r.first_write_to_all_live:.2f} | "
        f"the same burst on a healthy leader: {r.warm_all_live:.2f} s | "
        f"{_ratio(r.first_write_to_all_live, r.warm_all_live)} |",
        f"| kill -> every publish live | {r.kill_to_all_live:.2f} | expiry + warm burst: "
        f"{r.kill_to_expiry + r.warm_all_live:.2f} s | "
        f"{_ratio(r.kill_to_all_live, r.kill_to_expiry + r.warm_all_live)} |",
        "",
        f"Invariants: {r.two_active_moments} moments with two Active versions of one "
        f"workflow seen by a watcher of every WorkflowVersion; "
        f"{len(r.disagreements)} workflows whose Service, status and Active version "
        f"disagree at the end; lease transitions {r.transitions}.",
    ]
    lines += [f"- {d}" for d in r.disagreements[:10]]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the failover section, inside the notes bench.run keeps; add it if missing."""
    text = path.read_text() if path.exists() else f"{NOTES_BEGIN}\n{NOTES_END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    elif NOTES_BEGIN in text:
        head, rest = text.split(NOTES_BEGIN, 1)
        text = head + NOTES_BEGIN + "\n" + section + "\n" + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workflows", type=int, default=20)
    p.add_argument("--out", type=Path, default=repo_root() / "BENCHMARKS.md")
    p.add_argument("--workdir", type=Path, default=repo_root() / ".cache" / "bench-failover")
    args = p.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    cp = LocalControlPlane(state_dir=workdir / "cluster")
    log(f"starting a local control plane in {workdir / 'cluster'}")
    cp.start()
    try:
        api: Any = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(cp.kubeconfig_path))
        install_crds(api, repo_root() / "crds")
        create_namespace(api, "bench-failover")
        log(f"failover: {args.workflows} workflows, two replicas")
        result = measure_failover(api, str(cp.kubeconfig_path), "bench-failover",
                                  workdir / "logs", args.workflows)
        api.close()
    finally:
        cp.stop(remove_data=True)
    command = " ".join([".venv/bin/python", "-m", "bench.failover",
                        *(sys.argv[1:] if argv is None else argv)])
    section = render(result, command)
    write_section(args.out, section)
    print(section)
    ok = result.two_active_moments == 0 and not result.disagreements
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
