"""Reliability on a real API server: crashes at exact write boundaries, an API server
outage, and users fighting over the same workflow.

* Crash storm: 50 workflows x 3 versions; a seeded storm of publishes, rollbacks and
  deactivations; more than 20 rounds in which the operator dies after exactly N writes
  (the test-only hook FLOWPLANE_FAULT_EXIT_AFTER_WRITES, see flowplane/operator/faults.py)
  or is SIGKILLed after a random delay; the invariants are checked after every round
  and, after a final normal start, the whole namespace must converge to the intents.
* API server outage: kube-apiserver is stopped for 30 s under a running operator.
* Conflicting intents: two writers flip spec.publishedVersion as fast as they can.

Every random choice comes from random.Random(SEED), so a failing round can be replayed;
the round log is printed (pytest -s) and included in failure messages.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from flowplane.model.resources import GROUP, VERSION, VERSION_PLURAL
from flowplane.operator.faults import ENV_EXIT_AFTER_WRITES, EXIT_STATUS
from flowplane_devtools.cluster import LocalControlPlane
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.sentinel import passes_answered, writes_total

SEED = 1234
ACTIVE = "flowplane.dev/active-version"
PLAN = "flowplane.dev/plan"
FORKED_FROM = "flowplane.dev/forked-from"


# ------------------------------------------------------------------------ shared helpers


def graph(text: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
            {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage",
             "inputs": {"channel": "#forms", "text": text}},
        ],
        "edges": [{"from": "form", "to": "notify"}],
    }


def workflow_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workflow",
            "metadata": {"name": name}, "spec": spec}


def version_body(workflow: str, n: int, g: dict[str, Any] | None = None,
                 name: str | None = None) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkflowVersion",
            "metadata": {"name": name or f"{workflow}-v{n}"},
            "spec": {"workflowRef": {"name": workflow}, "version": n, "label": f"v{n}",
                     "graph": g if g is not None else graph(f"{workflow} v{n}")}}


def publish(kube: Kube, workflow: str, n: int | None) -> dict[str, Any]:
    result: dict[str, Any] = kube.patch("Workflow", workflow, {"spec": {"publishedVersion": n}})
    return result


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions", [])
                 if c["type"] == type_), {})


@dataclass
class Snapshot:
    """Everything a reader of one namespace can see, listed once."""

    workflows: dict[str, dict[str, Any]]
    versions: list[dict[str, Any]]
    services: dict[str, Any]
    plans: dict[str, Any]
    slices: dict[str, Any]

    @classmethod
    def take(cls, kube: Kube) -> Snapshot:
        return cls(
            workflows={w["metadata"]["name"]: w for w in kube.items("Workflow")},
            versions=kube.items("WorkflowVersion"),
            services={s.metadata.name: s
                      for s in kube.core.list_namespaced_service(kube.ns).items},
            plans={c.metadata.name: c for c in kube.core.list_namespaced_config_map(
                kube.ns, label_selector="app.kubernetes.io/component=plan").items},
            slices={e.metadata.name: e for e in client.DiscoveryV1Api(kube.api)
                    .list_namespaced_endpoint_slice(kube.ns, label_selector=(
                        "endpointslice.kubernetes.io/managed-by=operator.flowplane.dev")).items},
        )

    def versions_of(self, workflow: str) -> list[dict[str, Any]]:
        return [v for v in self.versions if v["spec"]["workflowRef"]["name"] == workflow]

    def actives(self, workflow: str) -> list[int]:
        return sorted(v["spec"]["version"] for v in self.versions_of(workflow)
                      if (v.get("status") or {}).get("phase") == "Active")

    def identities(self) -> set[tuple[str, str, int]]:
        return {(v["spec"]["workflowRef"]["name"], v["metadata"]["name"], v["spec"]["version"])
                for v in self.versions}

    def forks(self) -> set[tuple[str, str, int]]:
        return {(v["spec"]["workflowRef"]["name"], v["metadata"]["name"], v["spec"]["version"])
                for v in self.versions
                if FORKED_FROM in (v["metadata"].get("annotations") or {})}

    def problems_at_any_moment(self, workflows: list[str]) -> list[str]:
        """Invariants that hold at every moment, even right after a crash."""
        out = []
        for wf in workflows:
            if len(self.actives(wf)) > 1:
                out.append(f"{wf}: two Active versions {self.actives(wf)}")
            svc = self.services.get(f"{wf}-trigger")
            ann = (svc.metadata.annotations or {}) if svc is not None else {}
            if PLAN in ann and ann[PLAN] not in self.plans:
                out.append(f"{wf}: the Service names plan {ann[PLAN]}, which does not exist")
        return out

    def problems_at_rest(self, wf: str) -> list[str]:
        """The contract's invariants after convergence, and the user's intent."""
        out = self.problems_at_any_moment([wf])
        w = self.workflows[wf]
        status = w.get("status") or {}
        wanted = w["spec"].get("publishedVersion")
        actives = self.actives(wf)
        active = actives[0] if actives else None
        svc = self.services.get(f"{wf}-trigger")
        ann = (svc.metadata.annotations or {}) if svc is not None else {}
        live_ann = int(ann[ACTIVE]) if ACTIVE in ann else None
        if status.get("observedGeneration") != w["metadata"]["generation"]:
            out.append(f"{wf}: observedGeneration {status.get('observedGeneration')} "
                       f"!= generation {w['metadata']['generation']}")
        if not (live_ann == status.get("activeVersion") == active == wanted):
            out.append(f"{wf}: wanted {wanted}, Service {live_ann}, "
                       f"status.activeVersion {status.get('activeVersion')}, Active {actives}")
        if (svc is None or bool(svc.spec.selector)) != (wanted is not None):
            out.append(f"{wf}: Service selector {svc and svc.spec.selector} with wanted {wanted}")
        # The mirrored EndpointSlice: there, owned by the Service, while wired; empty if not.
        mirrored = self.slices.get(f"{wf}-trigger-runtime")
        if wanted is not None and svc is not None and (
                mirrored is None
                or mirrored.metadata.labels.get("kubernetes.io/service-name") != f"{wf}-trigger"
                or [r.uid for r in mirrored.metadata.owner_references or []]
                != [svc.metadata.uid]):
            out.append(f"{wf}: wired, but its EndpointSlice is {mirrored and mirrored.metadata}")
        if wanted is None and mirrored is not None and mirrored.endpoints:
            out.append(f"{wf}: unwired, but its EndpointSlice routes to {mirrored.endpoints}")
        if condition(w, "Ready").get("status") != "True":
            out.append(f"{wf}: Ready is {condition(w, 'Ready')}")
        # The whole status, not only the pointer: lastPublish tells how the last request
        # ended even when the operator died between the Service switch and this status.
        last = status.get("lastPublish") or {}
        if wanted is not None and not (
                last.get("version") == wanted and last.get("result") == "Succeeded"
                and last.get("reason") in ("Published", "RolledBack")
                and str(last.get("message", "")).startswith(f"v{wanted} is live")):
            out.append(f"{wf}: wanted {wanted} is live, but lastPublish says {last}")
        expected_phase = "Published" if wanted is not None else "Draft"
        if status.get("phase") != expected_phase:
            out.append(f"{wf}: phase {status.get('phase')}, expected {expected_phase}")
        for v in self.versions_of(wf):
            phase = (v.get("status") or {}).get("phase")
            if phase == "Compiling":
                out.append(f"{wf}: {v['metadata']['name']} left Compiling")
            if (v.get("status") or {}).get("observedGeneration") != v["metadata"]["generation"]:
                out.append(f"{wf}: {v['metadata']['name']} status is stale")
        return out


def create_family(kube: Kube, wf: str, versions: int = 3, **spec: Any) -> None:
    kube.create(workflow_body(wf, **spec))
    for n in range(1, versions + 1):
        kube.create(version_body(wf, n))


def wait_live(kube: Kube, wf: str, n: int | None, timeout: float = 60) -> Snapshot:
    """Until the namespace shows workflow `wf` at rest with version n live (None: nothing)."""
    def check() -> Snapshot | None:
        snap = Snapshot.take(kube)
        if snap.workflows[wf]["spec"].get("publishedVersion") != n:
            raise AssertionError(f"{wf} wants {snap.workflows[wf]['spec']}, not {n}")
        return None if snap.problems_at_rest(wf) else snap
    try:
        return wait_for(check, timeout, f"{wf} at rest with v{n} live", interval=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{Snapshot.take(kube).problems_at_rest(wf)}") from None


@pytest.fixture
def own_operator(operator: OperatorProcess) -> Iterator[None]:
    """The session operator is stopped for the test (the test runs its own) and restarted."""
    operator.stop()
    try:
        yield
    finally:
        operator.start()


# ------------------------------------------------------------------------ 1. crash storm

WORKFLOWS = 50
ROUNDS = 24
SIGKILL_EVERY = 4  # every 4th round is a plain SIGKILL after a random delay
MAX_FAULT_WRITES = 40


@dataclass
class Round:
    number: int
    kind: str  # "exit-after-N" | "sigkill"
    intents: int
    n: int | None = None
    delay: float | None = None
    outcome: str = ""
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = (f"exit after {self.n} writes" if self.kind == "exit-after-N"
                else f"SIGKILL after {self.delay:.2f}s")
        return f"round {self.number:2d}: {self.intents:2d} intents, {what}: {self.outcome}"


class Storm:
    """The seeded user side of the storm: who wants what."""

    def __init__(self, kube: Kube, workflows: list[str], rng: random.Random) -> None:
        self.kube = kube
        self.workflows = workflows
        self.rng = rng
        self.intents = 0

    def burst(self, count: int) -> None:
        for _ in range(count):
            wf = self.rng.choice(self.workflows)
            publish(self.kube, wf, self.rng.choice([1, 2, 3, None]))
            self.intents += 1


def _start_expecting_death(proc: OperatorProcess) -> None:
    """start() that tolerates the operator dying (by the fault hook) before it is healthy."""
    try:
        proc.start()
    except RuntimeError:
        if proc.proc is None or proc.proc.returncode != EXIT_STATUS:
            raise


def _end(proc: OperatorProcess, timeout: float) -> str:
    """Wait up to `timeout` for the operator to die by the hook; SIGKILL it otherwise."""
    assert proc.proc is not None
    try:
        code = proc.proc.wait(timeout)
    except subprocess.TimeoutExpired:  # still running: out of work before its N-th write
        proc.kill()
        return "idle before the N-th write; SIGKILLed"
    proc.stop()  # closes the log
    return f"exited {code} at the kill point" if code == EXIT_STATUS else f"exited {code}"


def test_crash_storm_converges(kube: Kube, kubeconfig: str, api_client: client.ApiClient,
                               own_operator: None, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    names = [f"wf-{i:02d}" for i in range(WORKFLOWS)]
    for wf in names:
        create_family(kube, wf, publishedVersion=rng.choice([1, 2, 3, None]))
    created = Snapshot.take(kube).identities()
    log = tmp_path / "operator.log"
    proc = OperatorProcess(kubeconfig, log, extra_args=["--namespace", kube.ns])
    rounds: list[Round] = []
    watcher: ActiveWatcher | None = None

    def report() -> str:
        return "\n".join(str(r) for r in rounds) + f"\noperator log: {log}"

    try:
        # A settled start: every family exists in full before the storm.
        proc.start()
        for wf in names:
            wait_live(kube, wf, kube.workflow(wf)["spec"].get("publishedVersion"))
        proc.stop()

        # A watcher sees every intermediate state, across every crash.
        watcher = ActiveWatcher(api_client, kube.ns)
        storm = Storm(kube, names, rng)
        for number in range(1, ROUNDS + 1):
            before = storm.intents
            storm.burst(rng.randint(8, 25))
            if number % SIGKILL_EVERY == 0:
                r = Round(number, "sigkill", 0, delay=rng.uniform(0.3, 3.0))
                proc.env = {}
                proc.extra_args = ["--namespace", kube.ns]
                proc.start()
                storm.burst(rng.randint(0, 10))  # users keep going while it works
                time.sleep(r.delay or 0)
                proc.kill()
                r.outcome = "SIGKILLed"
            else:
                r = Round(number, "exit-after-N", 0, n=rng.randint(1, MAX_FAULT_WRITES))
                proc.env = {ENV_EXIT_AFTER_WRITES: str(r.n)}
                # One worker: the order of writes follows the watch, so kill points repeat.
                proc.extra_args = ["--namespace", kube.ns, "--workers", "1"]
                _start_expecting_death(proc)
                if proc.proc is not None and proc.proc.poll() is None:
                    storm.burst(rng.randint(0, 5))
                    r.outcome = _end(proc, timeout=6.0)
                else:
                    proc.stop()
                    r.outcome = f"exited {EXIT_STATUS} at the kill point (before healthy)"
            r.intents = storm.intents - before
            rounds.append(r)
            snap = Snapshot.take(kube)
            r.problems = snap.problems_at_any_moment(names)
            missing = created - snap.identities()
            extra = snap.identities() - created - snap.forks()
            if missing:
                r.problems.append(f"versions lost or renumbered: {sorted(missing)}")
            if extra:
                r.problems.append(f"versions the user did not make: {sorted(extra)}")
            assert not r.problems, f"{r}\n{r.problems}\n{report()}"

        # The last word: a normal operator converges every family to its last intent.
        proc.env = {}
        proc.extra_args = ["--namespace", kube.ns]
        proc.start()
        deadline = time.monotonic() + 90
        for wf in names:
            wanted = kube.workflow(wf)["spec"].get("publishedVersion")
            wait_live(kube, wf, wanted, timeout=max(5.0, deadline - time.monotonic()))
        snap = Snapshot.take(kube)
        problems = [p for wf in names for p in snap.problems_at_rest(wf)]
        assert not problems, f"{problems}\n{report()}"
        assert created <= snap.identities(), report()
        assert not snap.forks(), f"nobody edited a graph, yet: {snap.forks()}"
        # At rest means at rest: no write loops.
        settled = writes_total(proc)
        passes_answered(kube, proc, *names)
        assert writes_total(proc) == settled, "the operator keeps writing at rest"
        assert proc.proc is not None and proc.proc.poll() is None
        watcher.finish()
        assert watcher.events > 0
        assert not watcher.violations, f"a watcher saw {watcher.violations[:3]}\n{report()}"
        print("\n" + report())
        exits = sum(1 for r in rounds if r.outcome.startswith(f"exited {EXIT_STATUS}"))
        assert exits >= ROUNDS // 2, f"too few rounds died at their kill point\n{report()}"
    finally:
        proc.stop()
        if watcher is not None:
            watcher.stop.set()


# ------------------------------------------------------------------------ 2. API server outage

OUTAGE_SECONDS = 30


def test_operator_survives_an_api_server_outage(
    kube: Kube, running_operator: OperatorProcess,
    local_control_plane: LocalControlPlane | None,
) -> None:
    if local_control_plane is None:
        pytest.skip("needs the local control plane (cannot stop an external API server)")
    create_family(kube, "steady", publishedVersion=1)
    create_family(kube, "moving", publishedVersion=1)
    wait_live(kube, "steady", 1)
    wait_live(kube, "moving", 1)
    assert running_operator.proc is not None
    pid = running_operator.proc.pid

    # Intents written right before the outage (the operator may or may not see them).
    publish(kube, "moving", 2)
    create_family(kube, "late", publishedVersion=2)
    local_control_plane.stop_apiserver()
    try:
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            assert running_operator.proc.poll() is None, running_operator.tail()
            time.sleep(1)
    finally:
        local_control_plane.start_apiserver()

    # Nothing could change meanwhile; now the world moves on.
    publish(kube, "steady", 3)
    wait_live(kube, "moving", 2, timeout=90)
    wait_live(kube, "late", 2, timeout=60)
    wait_live(kube, "steady", 3, timeout=60)
    assert running_operator.proc.pid == pid, "the operator was restarted"
    assert running_operator.proc.poll() is None, running_operator.tail()


# ------------------------------------------------------------------------ 3. conflicting intents


class ActiveWatcher:
    """Watches WorkflowVersions from a known resourceVersion; records any moment at which
    one workflow had two Active versions."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom: Any = client.CustomObjectsApi(api)
        self.ns = namespace
        self.phases: dict[str, tuple[str, str | None]] = {}  # name -> (workflow, phase)
        self.violations: list[dict[str, list[str]]] = []
        self.events = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                           VERSION_PLURAL)
        for v in listed["items"]:
            self._see(v)
        self.rv = listed["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _see(self, v: dict[str, Any]) -> None:
        self.phases[v["metadata"]["name"]] = (v["spec"]["workflowRef"]["name"],
                                              (v.get("status") or {}).get("phase"))
        by_wf: dict[str, list[str]] = {}
        for name, (wf, phase) in self.phases.items():
            if phase == "Active":
                by_wf.setdefault(wf, []).append(name)
        two = {wf: names for wf, names in by_wf.items() if len(names) > 1}
        if two:
            self.violations.append(two)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                stream = watch.Watch()
                for event in stream.stream(
                    self.custom.list_namespaced_custom_object, GROUP, VERSION, self.ns,
                    VERSION_PLURAL, resource_version=self.rv, timeout_seconds=2,
                    allow_watch_bookmarks=True,
                ):
                    obj = event["object"]
                    self.rv = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.events += 1
                        self._see(obj)
                    elif event["type"] == "DELETED":
                        self.phases.pop(obj["metadata"]["name"], None)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        if self.error is not None:
            raise self.error


def test_conflicting_intents_converge_to_the_last_write(
    kube: Kube, api_client: client.ApiClient, running_operator: OperatorProcess,
) -> None:
    wf = "contested"
    create_family(kube, wf, versions=3, publishedVersion=1)
    wait_live(kube, wf, 1)
    watcher = ActiveWatcher(api_client, kube.ns)
    writes: list[tuple[int, int | None]] = []  # (resourceVersion, publishedVersion)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def flipper(seed: int) -> None:
        rng = random.Random(seed)
        own = Kube(api_client, kube.ns)
        try:
            for _ in range(30):
                n = rng.choice([1, 2, 3, 1, 2, 3, None])
                result = publish(own, wf, n)
                with lock:
                    writes.append((int(result["metadata"]["resourceVersion"]), n))
                time.sleep(rng.uniform(0, 0.03))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=flipper, args=(SEED + i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    last = max(writes)[1]  # etcd revisions order the writes (a test may compare them)
    assert kube.workflow(wf)["spec"].get("publishedVersion") == last
    wait_live(kube, wf, last)
    watcher.finish()
    assert watcher.events > 0
    assert not watcher.violations, watcher.violations[:3]


# ------------------------------------------------------------------------ used by other files

__all__ = [
    "Snapshot",
    "create_family",
    "graph",
    "publish",
    "version_body",
    "wait_live",
    "workflow_body",
]
