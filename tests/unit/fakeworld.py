"""An in-memory stand-in for the API server, faithful where decide() depends on it.

It applies Create, merge-Patch and Delete writes with resourceVersion (uid) preconditions,
the status subresource split, generation bumps on spec changes, immutable ConfigMaps and
owner-reference garbage collection, so unit tests can drive decide() to convergence and
kill it between any two writes. WorkflowRuns are kept only as the operator sees them
(pinned version, finished or not).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable
from typing import Any

from flowplane.model.resources import (
    API_VERSION,
    LABEL_COMPONENT,
    LABEL_SLICE_MANAGED_BY,
    LABEL_WORKFLOW,
    SLICE_MANAGER,
)
from flowplane.reconcile.compile_cache import CompileCache
from flowplane.reconcile.decide import decide
from flowplane.reconcile.objects import endpoint_slice_name
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import (
    Family,
    RunObj,
    RuntimeEndpoints,
    endpoint_slice_from_body,
    plan_from_body,
    service_from_body,
    version_from_body,
    workflow_from_body,
)
from flowplane.reconcile.writes import Create, Decision, Delete, Event, Kind, Patch, Write

NS = "team-a"


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def graph(*nodes: dict[str, Any], edges: list[tuple[str, ...]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": list(nodes), "edges": []}
    for edge in edges or []:
        e = {"from": edge[0], "to": edge[1]}
        if len(edge) > 2:
            e["port"] = edge[2]
        out["edges"].append(e)
    return out


def webhook(id_: str = "form", path: str = "/submit") -> dict[str, Any]:
    return {"id": id_, "role": "trigger", "type": "webhook", "config": {"path": path}}


def action(id_: str, text: str = "hello") -> dict[str, Any]:
    return {"id": id_, "role": "action", "app": "slack", "operation": "chat.postMessage",
            "inputs": {"channel": "#forms", "text": text}}


def simple_graph(text: str = "hello") -> dict[str, Any]:
    return graph(webhook(), action("notify", text), edges=[("form", "notify")])


def broken_graph() -> dict[str, Any]:
    """Two triggers and an unreachable node: not publishable."""
    return graph(webhook(), webhook("form2", "/other"), action("notify"),
                 edges=[("form", "notify")])


class FakeWorld:
    def __init__(self, settings: Settings | None = None) -> None:
        self.objects: dict[tuple[Kind, str], dict[str, Any]] = {}
        self.settings = settings or Settings()
        self.events: list[Event] = []
        self.compile_cache = CompileCache()  # as the operator decides: with the cache
        self.check_compile_cache = False
        self._rv = itertools.count(100)
        self._uid = itertools.count(1)
        self._clock = itertools.count(0)
        self.writes_applied = 0
        self.observers: list[Callable[[FakeWorld], None]] = []
        self.runs: dict[str, tuple[str, RunObj]] = {}
        self.runtime_endpoints: RuntimeEndpoints | None = None
        """What the operator's watch of the runtime's Service shows (None: not listed yet)."""

    # ------------------------------------------------------------ time and ids
    def now(self) -> str:
        n = next(self._clock)
        return f"2026-11-22T{10 + n // 3600:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z"

    def _stamp(self, body: dict[str, Any]) -> None:
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._rv))

    # ------------------------------------------------------------ user actions
    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        key = (kind, body["metadata"]["name"])
        if key in self.objects:
            raise Conflict(f"{key} already exists")
        body = copy.deepcopy(body)
        meta = body["metadata"]
        meta.setdefault("namespace", NS)
        meta["uid"] = f"uid-{next(self._uid)}"
        meta["generation"] = 1
        meta["creationTimestamp"] = self.now()
        body.pop("status", None)
        if kind == Kind.SERVICE:
            body.setdefault("spec", {})["clusterIP"] = f"10.0.0.{len(self.objects) % 250 + 2}"
        self._stamp(body)
        self.objects[key] = body
        return body

    def add_workflow(self, name: str = "form-to-slack", **spec: Any) -> dict[str, Any]:
        return self.create(Kind.WORKFLOW, {"apiVersion": API_VERSION, "kind": "Workflow",
                                           "metadata": {"name": name}, "spec": spec})

    def add_version(self, number: int, graph_: dict[str, Any] | None = None, *,
                    workflow: str = "form-to-slack", label: str = "",
                    name: str | None = None) -> dict[str, Any]:
        return self.create(Kind.VERSION, {
            "apiVersion": API_VERSION, "kind": "WorkflowVersion",
            "metadata": {"name": name or f"{workflow}-v{number}"},
            "spec": {"workflowRef": {"name": workflow}, "version": number, "label": label,
                     "graph": graph_ if graph_ is not None else simple_graph()},
        })

    def add_run(self, name: str, version: int, phase: str | None = "Running", *,
                workflow: str = "form-to-slack") -> None:
        """A WorkflowRun pinned to `version` (phase None: no status yet); set it again to
        change its phase."""
        self.runs[name] = (workflow, RunObj(name=name, version=version,
                                            finished=phase in ("Succeeded", "Failed")))

    def edit(self, kind: Kind, name: str, patch: dict[str, Any]) -> None:
        """A user's write (no precondition)."""
        self.patch(kind, name, patch, status="status" in patch and len(patch) == 1)

    def get(self, kind: Kind, name: str) -> dict[str, Any]:
        return self.objects[(kind, name)]

    def delete(self, kind: Kind, name: str) -> None:
        """Delete with owner-reference garbage collection of dependents."""
        body = self.objects.pop((kind, name))
        uid = body["metadata"]["uid"]
        for key, other in list(self.objects.items()):
            refs = other["metadata"].get("ownerReferences") or []
            if any(r["uid"] == uid for r in refs) and key in self.objects:
                self.delete(*key)

    # ------------------------------------------------------------ API semantics
    def patch(self, kind: Kind, name: str, patch: dict[str, Any], *, status: bool) -> None:
        key = (kind, name)
        if key not in self.objects:
            raise NotFound(str(key))
        body = self.objects[key]
        patch = copy.deepcopy(patch)
        want_rv = (patch.get("metadata") or {}).pop("resourceVersion", None)
        if want_rv is not None and want_rv != body["metadata"]["resourceVersion"]:
            raise Conflict(f"{key}: rv {want_rv} != {body['metadata']['resourceVersion']}")
        if kind == Kind.CONFIGMAP and body.get("immutable") and "data" in patch:
            raise Conflict("immutable ConfigMap")
        if status:
            patch = {"status": patch.get("status", {})}
        else:
            patch.pop("status", None)
        new = merge(body, patch)
        if new.get("spec") != body.get("spec"):
            new["metadata"]["generation"] = body["metadata"]["generation"] + 1
        new = {k: v for k, v in new.items() if v not in ({}, None) or k in ("spec", "data")}
        self._stamp(new)
        self.objects[key] = new

    def apply(self, write: Write) -> None:
        if isinstance(write, Create):
            with contextlib.suppress(Conflict):
                self.create(write.kind, write.body)
        elif isinstance(write, Delete):
            existing = self.objects.get((write.kind, write.name))
            if existing is not None:  # NotFound is done
                if existing["metadata"]["uid"] != write.uid:
                    raise Conflict(f"{write.kind} {write.name}: uid precondition failed")
                self.delete(write.kind, write.name)
        else:
            assert isinstance(write, Patch)
            body = copy.deepcopy(write.patch)
            if write.resource_version:
                body.setdefault("metadata", {})["resourceVersion"] = write.resource_version
            self.patch(write.kind, write.name, body, status=write.status)
        self.writes_applied += 1
        for observe in self.observers:
            observe(self)

    # ------------------------------------------------------------ the operator
    def family(self, workflow: str = "form-to-slack") -> Family:
        wf = self.objects.get((Kind.WORKFLOW, workflow))
        versions = [b for (k, _), b in self.objects.items() if k == Kind.VERSION
                    and b["spec"]["workflowRef"]["name"] == workflow]
        labelled = [
            (k, b) for (k, _), b in self.objects.items()
            if (b["metadata"].get("labels") or {}).get(LABEL_WORKFLOW) == workflow
        ]
        plans = [b for k, b in labelled if k == Kind.CONFIGMAP
                 and b["metadata"]["labels"].get(LABEL_COMPONENT) == "plan"]
        services = [b for k, b in labelled if k == Kind.SERVICE]
        # The operator watches only slices labelled as its own (a server-side selector).
        slices = [b for k, b in labelled if k == Kind.ENDPOINT_SLICE
                  and b["metadata"]["labels"].get(LABEL_SLICE_MANAGED_BY) == SLICE_MANAGER
                  and b["metadata"]["name"] == endpoint_slice_name(workflow)]
        return Family(
            namespace=NS, name=workflow,
            workflow=workflow_from_body(wf) if wf else None,
            versions=tuple(version_from_body(v) for v in versions),
            plans=tuple(plan_from_body(p) for p in plans),
            service=service_from_body(services[0]) if services else None,
            pinned_versions=frozenset(
                r.version for wf_name, r in self.runs.values()
                if wf_name == workflow and not r.finished and r.version is not None),
            endpoint_slice=endpoint_slice_from_body(slices[0]) if slices else None,
            runtime_endpoints=self.runtime_endpoints,
        )

    def decide(self, workflow: str = "form-to-slack") -> Decision:
        family, now = self.family(workflow), self.now()
        decision = decide(family, self.settings, now, self.compile_cache)
        if self.check_compile_cache:  # a hit must be exactly what compiling would give
            assert decision == decide(family, self.settings, now), "compile cache changed it"
        return decision

    def step(self, workflow: str = "form-to-slack", *, crash_after: int | None = None) -> int:
        """One reconcile pass, applying writes in order, with chained resourceVersions."""
        decision = self.decide(workflow)
        latest: dict[tuple[Kind, str], str] = {}
        for n, write in enumerate(decision.writes):
            if crash_after is not None and n >= crash_after:
                return n
            if isinstance(write, Patch) and (write.kind, write.name) in latest:
                write = Patch(write.kind, write.name, write.patch,
                              latest[(write.kind, write.name)], write.status, write.why)
            self.apply(write)
            if (write.kind, write.name) in self.objects:
                latest[(write.kind, write.name)] = self.objects[(write.kind, write.name)][
                    "metadata"]["resourceVersion"]
        self.events.extend(decision.events)
        return len(decision.writes)

    def converge(self, workflow: str = "form-to-slack", rounds: int = 20) -> int:
        total = 0
        for _ in range(rounds):
            n = self.step(workflow)
            total += n
            if n == 0 and not self.decide(workflow):
                return total
        raise AssertionError(f"no convergence after {rounds} rounds: {self.decide(workflow)}")

    # ------------------------------------------------------------ what a user sees
    def version(self, number: int, workflow: str = "form-to-slack") -> dict[str, Any]:
        for (k, _), b in self.objects.items():
            if (k == Kind.VERSION and b["spec"]["workflowRef"]["name"] == workflow
                    and b["spec"]["version"] == number):
                return b
        raise KeyError(number)

    def phase(self, number: int, workflow: str = "form-to-slack") -> str | None:
        status: dict[str, Any] = self.version(number, workflow).get("status") or {}
        return status.get("phase")

    def workflow(self, name: str = "form-to-slack") -> dict[str, Any]:
        return self.objects[(Kind.WORKFLOW, name)]

    def wf_status(self, name: str = "form-to-slack") -> dict[str, Any]:
        status: dict[str, Any] = self.workflow(name).get("status") or {}
        return status

    def condition(self, type_: str, name: str = "form-to-slack") -> dict[str, Any]:
        return next(c for c in self.wf_status(name).get("conditions", []) if c["type"] == type_)

    def service(self, workflow: str = "form-to-slack") -> dict[str, Any]:
        return self.objects[(Kind.SERVICE, f"{workflow}-trigger")]

    def endpoint_slice(self, workflow: str = "form-to-slack") -> dict[str, Any] | None:
        return self.objects.get((Kind.ENDPOINT_SLICE, endpoint_slice_name(workflow)))

    def slice_addresses(self, workflow: str = "form-to-slack") -> list[str] | None:
        """The addresses the trigger Service's mirrored slice routes to (None: no slice)."""
        body = self.endpoint_slice(workflow)
        if body is None:
            return None
        return [a for e in body.get("endpoints") or [] for a in e["addresses"]]

    def actives(self, workflow: str = "form-to-slack") -> list[int]:
        return sorted(
            b["spec"]["version"] for (k, _), b in self.objects.items()
            if k == Kind.VERSION and b["spec"]["workflowRef"]["name"] == workflow
            and (b.get("status") or {}).get("phase") == "Active"
        )

    def numbers(self, workflow: str = "form-to-slack") -> list[int]:
        return sorted(b["spec"]["version"] for (k, _), b in self.objects.items()
                      if k == Kind.VERSION and b["spec"]["workflowRef"]["name"] == workflow)

    def check_invariants(self, workflow: str = "form-to-slack") -> None:
        """The contract's invariants after convergence."""
        actives = self.actives(workflow)
        assert len(actives) <= 1, f"two Active versions: {actives}"
        status = self.wf_status(workflow)
        assert status.get("activeVersion") == (actives[0] if actives else None)
        svc = self.service(workflow)
        ann = svc["metadata"].get("annotations") or {}
        if "flowplane.dev/active-version" in ann:
            assert int(ann["flowplane.dev/active-version"]) == status.get("activeVersion")
            assert (Kind.CONFIGMAP, ann["flowplane.dev/plan"]) in self.objects
            assert svc["spec"].get("selector")
        else:
            assert not svc["spec"].get("selector")
        # The mirrored EndpointSlice: the runtime's endpoints while wired, none otherwise.
        body = self.endpoint_slice(workflow)
        addresses = self.slice_addresses(workflow)
        ours = body is not None and (
            body["metadata"].get("labels") or {}).get(LABEL_SLICE_MANAGED_BY) == SLICE_MANAGER
        if not svc["spec"].get("selector") or self.settings.runtime_service is None:
            assert not ours or not addresses, f"an unwired trigger routes to {addresses}"
        elif self.runtime_endpoints is not None and (body is None or ours):
            assert addresses == list(self.runtime_endpoints.addresses), addresses
