"""Publish-to-live latency: the operator, and the floor (the same API writes made directly).

A publish is a merge patch of a Workflow's `spec.publishedVersion`. It is live when BOTH
the trigger Service's `flowplane.dev/active-version` annotation and the Workflow's
`status.activeVersion` show the new version, as seen by watches (event arrival times).
Latency runs from the moment the spec patch call returns to the later of the two events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kubernetes import client

from bench.common import (
    ACTIVE_ANNOTATION,
    Json,
    Summary,
    create_objects,
    family_bodies,
    log,
    version_graph,
    workflow_names,
)
from bench.observe import LiveObserver
from flowplane.compiler import PlanLimits, compile_graph
from flowplane.model.resources import (
    ANN_PLAN,
    ANN_PLAN_HASH,
    ANN_TRIGGER_TYPE,
    API_VERSION,
    GROUP,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_PLAN_HASH,
    LABEL_VERSION,
    LABEL_WORKFLOW,
    MANAGED_BY,
    VERSION,
    VERSION_PLURAL,
    WORKFLOW_PLURAL,
    Condition,
    LastPublish,
    PlanRef,
    PublishResult,
    TriggerStatus,
    VersionPhase,
    WorkflowPhase,
    WorkflowStatus,
    WorkflowVersionStatus,
)
from flowplane.model.timestamps import format_timestamp

MERGE = "application/merge-patch+json"
RUNTIME_SELECTOR = {"app.kubernetes.io/name": "flowplane-runtime"}


@dataclass(frozen=True)
class PublishSample:
    workflow: str
    from_version: int
    to_version: int
    new_plan: bool  # the first publish of this version (its plan is created on the way)
    latency: float  # seconds from the spec patch returning to both observations
    service_at: float  # seconds from the spec patch returning to the Service event
    workflow_at: float  # ... to the Workflow status event
    patch: float  # seconds the spec patch call itself took


@dataclass
class LatencyResult:
    who: str
    workflows: int
    versions: int
    setup_seconds: float = 0.0
    samples: list[PublishSample] = field(default_factory=list)

    def summary(self, new_plan: bool | None = None) -> Summary:
        return Summary.of([s.latency for s in self.samples
                           if new_plan is None or s.new_plan == new_plan])

    def to_json(self) -> Json:
        return {"who": self.who, "workflows": self.workflows, "versions": self.versions,
                "setup_seconds": self.setup_seconds,
                "samples": [asdict(s) for s in self.samples]}


def schedule(names: Sequence[str], versions: int, publishes: int,
             start: int = 1) -> list[tuple[str, int, int]]:
    """Round-robin over workflows; each publish moves one workflow to its next version."""
    current = dict.fromkeys(names, start)
    out: list[tuple[str, int, int]] = []
    for i in range(publishes):
        name = names[i % len(names)]
        old = current[name]
        new = old % versions + 1
        out.append((name, old, new))
        current[name] = new
    return out


def run_publishes(
    api: client.ApiClient,
    namespace: str,
    observer: LiveObserver,
    plan: Sequence[tuple[str, int, int]],
    *,
    who: str,
    after_patch: Callable[[str, int, int], None] | None = None,
    timeout: float = 60.0,
    pause: float = 0.0,
) -> list[PublishSample]:
    """Publish one at a time; `after_patch` (the floor) makes the writes itself."""
    custom: Any = client.CustomObjectsApi(api)
    published: set[tuple[str, int]] = set()  # versions whose plan exists: the first "old"
    for name, old, _ in plan:
        if not any(n == name for n, _ in published):
            published.add((name, old))
    samples: list[PublishSample] = []
    for i, (name, old, new) in enumerate(plan):
        new_plan = (name, new) not in published
        published.add((name, new))
        started = time.monotonic()
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, WORKFLOW_PLURAL, name,
            {"spec": {"publishedVersion": new}}, _content_type=MERGE)
        returned = time.monotonic()
        if after_patch is not None:
            after_patch(name, old, new)
        svc_at, wf_at = observer.wait_live(name, new, since=started, timeout=timeout)
        samples.append(PublishSample(
            workflow=name, from_version=old, to_version=new, new_plan=new_plan,
            latency=max(svc_at, wf_at) - returned, service_at=svc_at - returned,
            workflow_at=wf_at - returned, patch=returned - started,
        ))
        if (i + 1) % 50 == 0:
            log(f"{who}: {i + 1}/{len(plan)} publishes")
        if pause:
            time.sleep(pause)
    return samples


# ----------------------------------------------------------------------------- operator


def measure_operator(api: client.ApiClient, namespace: str, *, workflows: int = 20,
                     versions: int = 3, publishes: int = 200,
                     settle: float = 2.0) -> LatencyResult:
    """The operator must already watch `namespace` (which should be empty)."""
    names = workflow_names(workflows)
    result = LatencyResult("operator", workflows, versions)
    with LiveObserver(api, namespace) as observer:
        started = time.monotonic()
        create_objects(api, namespace, family_bodies(names, versions, lambda _: 1))
        for name in names:
            observer.wait_state(name, 1, timeout=120)
        result.setup_seconds = time.monotonic() - started
        log(f"operator: {workflows} workflows live on v1 after {result.setup_seconds:.1f}s")
        time.sleep(settle)  # let the operator post its Events and go idle
        result.samples = run_publishes(api, namespace, observer,
                                       schedule(names, versions, publishes), who="operator")
    return result


# ----------------------------------------------------------------------------- floor




def _conditions(now: str, generation: int, *specs: tuple[str, bool, str, str]) -> list[Json]:
    return [Condition(type=t, status="True" if ok else "False", reason=r, message=m,
                      lastTransitionTime=now, observedGeneration=generation)
            .model_dump(mode="json", exclude_none=True) for t, ok, r, m in specs]


class Floor:
    """The minimal API sequence of a publish, made directly with the official client.

    What the operator reads comes from memory (its indexes), so the floor reads nothing
    either: it keeps uids and plan names from its own responses.
    """

    def __init__(self, api: client.ApiClient, namespace: str,
                 created: dict[str, Json]) -> None:
        self.ns = namespace
        self.custom: Any = client.CustomObjectsApi(api)
        self.core: Any = client.CoreV1Api(api)
        self.created = created
        self.plans: dict[tuple[str, int], PlanRef] = {}
        self.trigger_type: dict[tuple[str, int], str] = {}
        self.writes = 0

    def _uid(self, kind: str, name: str) -> str:
        return str(self.created[f"{kind}/{name}"]["metadata"]["uid"])

    def _patch_status(self, plural: str, name: str, status: Json) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.ns, plural, name, {"status": status}, _content_type=MERGE)
        self.writes += 1

    def _create_plan(self, workflow: str, number: int) -> None:
        version = f"{workflow}-v{number}"
        compiled = compile_graph(version_graph(workflow, number), PlanLimits())
        assert compiled.plan is not None
        plan = compiled.plan
        name = f"{version}-plan"
        self.core.create_namespaced_config_map(self.ns, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {LABEL_WORKFLOW: workflow, LABEL_VERSION: str(number),
                           LABEL_PLAN_HASH: plan.hash.replace(":", "-")[:63],
                           LABEL_COMPONENT: "plan", LABEL_MANAGED_BY: MANAGED_BY},
                "annotations": {ANN_PLAN_HASH: plan.hash, ANN_TRIGGER_TYPE: plan.trigger_type},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "WorkflowVersion",
                                     "name": version, "uid": self._uid("WorkflowVersion", version),
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "immutable": True,
            "data": plan.configmap_data(),
        })
        self.writes += 1
        self.plans[(workflow, number)] = PlanRef(configMap=name, hash=plan.hash,
                                                 steps=plan.steps, compiledAt=format_timestamp())
        self.trigger_type[(workflow, number)] = plan.trigger_type

    def _service_body(self, workflow: str, number: int) -> Json:
        plan = self.plans[(workflow, number)]
        return {
            "metadata": {"annotations": {
                ACTIVE_ANNOTATION: str(number), ANN_PLAN: plan.configMap,
                ANN_PLAN_HASH: plan.hash, ANN_TRIGGER_TYPE: self.trigger_type[(workflow, number)],
            }},
            "spec": {"selector": RUNTIME_SELECTOR},
        }

    def _active_status(self, workflow: str, number: int, now: str) -> Json:
        plan = self.plans[(workflow, number)]
        return WorkflowVersionStatus(
            phase=VersionPhase.ACTIVE, observedGeneration=1, graphHash=plan.hash, plan=plan,
            activatedAt=now,
        ).model_dump(mode="json", exclude_none=True) | {"conditions": _conditions(
            now, 1, ("Validated", True, "Valid", "the graph is valid (3 nodes)"),
            ("Compiled", True, "PlanReady", f"plan {plan.configMap} ({plan.steps} steps)"),
            ("Active", True, "Live", f"v{number} receives the live events"))}

    def _inactive_status(self, workflow: str, number: int, now: str) -> Json:
        return {"phase": VersionPhase.INACTIVE.value, "deactivatedAt": now,
                "conditions": _conditions(
                    now, 1, ("Validated", True, "Valid", "the graph is valid (3 nodes)"),
                    ("Compiled", True, "PlanReady", "plan ready"),
                    ("Active", False, "Retired", "retired; publish it to roll back"))}

    def _workflow_status(self, workflow: str, number: int, old: int | None, now: str) -> Json:
        generation = int(self.created[f"Workflow/{workflow}"]["metadata"].get("generation", 1))
        svc = f"{workflow}-trigger"
        status = WorkflowStatus(
            phase=WorkflowPhase.PUBLISHED, activeVersion=number,
            activeVersionName=f"{workflow}-v{number}", latestVersion=3,
            observedGeneration=generation,
            trigger=TriggerStatus(service=svc, enabled=True,
                                  url=f"http://{svc}.{self.ns}.svc/", type="webhook"),
            lastPublish=LastPublish(version=number, result=PublishResult.SUCCEEDED,
                                    reason="Published",
                                    message=f"v{number} is live (was v{old})", time=now),
        ).model_dump(mode="json", exclude_none=True)
        status["conditions"] = _conditions(
            now, generation, ("Ready", True, "Published", f"v{number} is live"),
            ("Published", True, "VersionActive", f"v{number} is the active version"),
            ("TriggerWired", True, "Wired", f"{svc} routes to v{number}"),
            ("SafetyPaused", False, "NotTripped", "no safety check tripped"))
        return status

    def _create_service(self, workflow: str, number: int | None = None) -> None:
        """The trigger Service; wired to `number`'s plan when given, else unwired."""
        wired = self._service_body(workflow, number) if number is not None else None
        self.core.create_namespaced_service(self.ns, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": f"{workflow}-trigger",
                "labels": {LABEL_WORKFLOW: workflow, LABEL_COMPONENT: "trigger",
                           LABEL_MANAGED_BY: MANAGED_BY},
                "annotations": wired["metadata"]["annotations"] if wired else {},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Workflow",
                                     "name": workflow, "uid": self._uid("Workflow", workflow),
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"type": "ClusterIP",
                     **({"selector": RUNTIME_SELECTOR} if wired else {}),
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]},
        })
        self.writes += 1

    def bootstrap(self, workflow: str, number: int) -> None:
        """The converged state with `number` live (setup, not measured)."""
        now = format_timestamp()
        self._create_plan(workflow, number)
        self._create_service(workflow, number)
        self._patch_status(VERSION_PLURAL, f"{workflow}-v{number}",
                           self._active_status(workflow, number, now))
        self._patch_status(WORKFLOW_PLURAL, workflow,
                           self._workflow_status(workflow, number, None, now))

    def publish(self, workflow: str, old: int, new: int) -> None:
        """The publish path of decide(), as direct writes, in the operator's order."""
        now = format_timestamp()
        self._patch_status(VERSION_PLURAL, f"{workflow}-v{new}",
                           {"phase": VersionPhase.COMPILING.value})
        if (workflow, new) not in self.plans:
            self._create_plan(workflow, new)
        self.core.patch_namespaced_service(f"{workflow}-trigger", self.ns,
                                           self._service_body(workflow, new),
                                           _content_type=MERGE)
        self.writes += 1
        self._patch_status(VERSION_PLURAL, f"{workflow}-v{old}",
                           self._inactive_status(workflow, old, now))
        self._patch_status(VERSION_PLURAL, f"{workflow}-v{new}",
                           self._active_status(workflow, new, now))
        self._patch_status(WORKFLOW_PLURAL, workflow,
                           self._workflow_status(workflow, new, old, now))


def measure_floor(api: client.ApiClient, namespace: str, *, workflows: int = 20,
                  versions: int = 3, publishes: int = 200) -> LatencyResult:
    """No operator may watch `namespace` (which should be empty)."""
    names = workflow_names(workflows)
    result = LatencyResult("floor", workflows, versions)
    started = time.monotonic()
    _, created = create_objects(api, namespace, family_bodies(names, versions, lambda _: 1))
    floor = Floor(api, namespace, created)
    for name in names:
        floor.bootstrap(name, 1)
    with LiveObserver(api, namespace) as observer:
        for name in names:
            observer.wait_state(name, 1, timeout=60)
        result.setup_seconds = time.monotonic() - started
        floor.writes = 0
        result.samples = run_publishes(api, namespace, observer,
                                       schedule(names, versions, publishes), who="floor",
                                       after_patch=floor.publish)
    return result


class ColdFloor(Floor):
    """The first reconcile of a family as direct writes, in the operator's order (10).

    3 adoptions, the Service, Compiling, the plan, 3 version statuses, the workflow status:
    what `Cold start after the fix` in BENCHMARKS.md counts per family.
    """

    def _adopt(self, workflow: str, number: int) -> None:
        name = f"{workflow}-v{number}"
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.ns, VERSION_PLURAL, name, {"metadata": {
                "labels": {LABEL_WORKFLOW: workflow},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Workflow",
                                     "name": workflow, "uid": self._uid("Workflow", workflow),
                                     "controller": True, "blockOwnerDeletion": True}]}},
            _content_type=MERGE)
        self.writes += 1

    def _draft_status(self, workflow: str, number: int, now: str) -> Json:
        compiled = compile_graph(version_graph(workflow, number), PlanLimits())
        return WorkflowVersionStatus(
            phase=VersionPhase.DRAFT, observedGeneration=1, graphHash=compiled.graph_hash,
        ).model_dump(mode="json", exclude_none=True) | {"conditions": _conditions(
            now, 1, ("Validated", True, "Valid", "the graph is valid (3 nodes)"),
            ("Compiled", False, "NotPublished", "compiled when published"),
            ("Active", False, "NotPublished", "not published"))}

    def first_reconcile(self, workflow: str, live: int, versions: int) -> None:
        now = format_timestamp()
        for n in range(1, versions + 1):
            self._adopt(workflow, n)
        self._create_service(workflow)
        self._patch_status(VERSION_PLURAL, f"{workflow}-v{live}",
                           {"phase": VersionPhase.COMPILING.value})
        self._create_plan(workflow, live)
        for n in range(1, versions + 1):
            self._patch_status(VERSION_PLURAL, f"{workflow}-v{n}",
                               self._active_status(workflow, n, now) if n == live
                               else self._draft_status(workflow, n, now))
        self._patch_status(WORKFLOW_PLURAL, workflow,
                           self._workflow_status(workflow, live, None, now))


def measure_cold_floor(api: client.ApiClient, namespace: str, workflows: int, *,
                       versions: int = 3, threads: int = 16) -> tuple[float, int]:
    """Seconds for the writes of every family's first reconcile, made directly with
    `threads` in flight, and how many writes that was. No operator may watch `namespace`."""
    from concurrent.futures import ThreadPoolExecutor

    names = workflow_names(workflows)
    _, created = create_objects(api, namespace,
                                family_bodies(names, versions, lambda i: 1 + i % 2))
    floor = ColdFloor(api, namespace, created)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: floor.first_reconcile(names[i], 1 + i % 2, versions),
                      range(workflows)))
    return time.monotonic() - started, floor.writes
