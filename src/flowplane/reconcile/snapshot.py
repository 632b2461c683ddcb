"""Plain, immutable views of the objects that make up one workflow family.

The Kopf layer turns each watched body into one of these as it indexes it, so
`decide()` works on a consistent in-memory snapshot and never reads the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from flowplane.compiler import GRAPH_KEY, plan_from_configmap_data
from flowplane.compiler.canonical import hash_text
from flowplane.model.numbers import parse_decimal
from flowplane.model.resources import (
    ANN_PLAN_HASH,
    ANN_TRIGGER_TYPE,
    LABEL_VERSION,
    LABEL_WORKFLOW,
    SafetyStatus,
    WorkflowSpec,
    WorkflowStatus,
    WorkflowVersionStatus,
)
from flowplane.model.run import FINISHED_PHASES

ANN_FORKED_FROM = "flowplane.dev/forked-from"
FINISHED_RUN_PHASES = frozenset(p.value for p in FINISHED_PHASES)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""Client-side `kubectl apply` keeps a whole copy of the object here; nothing reads it."""

FamilyKey = tuple[str, str]
"""(namespace, workflow name): the unit of reconciliation."""


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False

    def to_api(self) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
        }
        if self.controller:
            ref["controller"] = True
            ref["blockOwnerDeletion"] = True
        return ref


@dataclass(frozen=True)
class Meta:
    name: str
    namespace: str
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str = ""
    deleting: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_refs: tuple[OwnerRef, ...] = ()

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Meta:
        meta = body.get("metadata") or {}
        refs = tuple(
            OwnerRef(
                api_version=str(r.get("apiVersion", "")),
                kind=str(r.get("kind", "")),
                name=str(r.get("name", "")),
                uid=str(r.get("uid", "")),
                controller=bool(r.get("controller", False)),
            )
            for r in meta.get("ownerReferences") or []
        )
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=str(meta.get("uid", "")),
            resource_version=str(meta.get("resourceVersion", "")),
            generation=int(meta.get("generation") or 0),
            creation_timestamp=str(meta.get("creationTimestamp", "")),
            deleting=bool(meta.get("deletionTimestamp")),
            labels=dict(meta.get("labels") or {}),
            annotations={k: v for k, v in (meta.get("annotations") or {}).items()
                         if k != LAST_APPLIED},
            owner_refs=refs,
        )


def _plain(value: Any) -> Any:
    """A deep, JSON-only copy (Kopf bodies are views; the snapshot must not change under us)."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class WorkflowObj:
    meta: Meta
    spec: WorkflowSpec
    status_raw: Mapping[str, Any]
    status: WorkflowStatus
    spec_error: str | None = None


@dataclass(frozen=True)
class VersionObj:
    meta: Meta
    workflow_name: str
    number: int
    label: str
    graph_raw: Any
    status_raw: Mapping[str, Any]
    status: WorkflowVersionStatus

    @property
    def forked_from(self) -> int | None:
        return parse_decimal(self.meta.annotations.get(ANN_FORKED_FROM))


@dataclass(frozen=True)
class PlanObj:
    meta: Meta
    version: int | None
    hash: str | None
    graph: Mapping[str, Any] | None
    trigger_type: str | None = None

    @property
    def steps(self) -> int:
        nodes = (self.graph or {}).get("nodes")
        return len(nodes) if isinstance(nodes, list) else 0


@dataclass(frozen=True)
class ServiceObj:
    meta: Meta
    selector: Mapping[str, str] | None
    ports: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EndpointSliceObj:
    """The trigger Service's mirrored EndpointSlice, as last seen."""

    meta: Meta
    address_type: str
    ports: tuple[Mapping[str, Any], ...]
    endpoints: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class RuntimeEndpoints:
    """The runtime's ready endpoints, as the operator last listed them (plain data).

    One value for the whole operator: the ready IPv4 addresses of the runtime's own
    Service, sorted and without duplicates, and the port they serve on (None when the
    runtime's slices name none, e.g. while it has no pods).
    """

    addresses: tuple[str, ...] = ()
    port: int | None = None


@dataclass(frozen=True)
class RunObj:
    """What the operator keeps of a WorkflowRun: only whether it pins a version."""

    name: str
    version: int | None
    finished: bool


@dataclass(frozen=True)
class Family:
    namespace: str
    name: str
    workflow: WorkflowObj | None = None
    versions: tuple[VersionObj, ...] = ()
    plans: tuple[PlanObj, ...] = ()
    service: ServiceObj | None = None
    taken_names: frozenset[tuple[str, str]] = frozenset()
    """(kind, name) of objects that exist but are not ours (found on create; not watched)."""
    pinned_versions: frozenset[int] = frozenset()
    """Version numbers that non-finished WorkflowRuns of the workflow are pinned to."""
    endpoint_slice: EndpointSliceObj | None = None
    """The mirrored EndpointSlice `<workflow>-trigger-runtime`, if the watch shows one."""
    runtime_endpoints: RuntimeEndpoints | None = None
    """The runtime's ready endpoints; None while the operator has not listed them yet
    (then a wired trigger's slice is left as it is, never emptied on a guess)."""

    @property
    def key(self) -> FamilyKey:
        return (self.namespace, self.name)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class StoredWorkflow:
    """What the index keeps of a Workflow: its status as compact JSON text.

    Decoded trees and pydantic models take ten times the memory of their text; at
    10,000 families that is most of the operator's. They are rebuilt for each pass
    (`load`) and dropped after it.
    """

    meta: Meta
    spec: WorkflowSpec
    status_json: str
    spec_error: str | None = None

    def load(self) -> WorkflowObj:
        status_raw: dict[str, Any] = json.loads(self.status_json)
        try:
            status = WorkflowStatus.model_validate(status_raw)
        except ValidationError:
            status = WorkflowStatus(safety=_salvage_safety(status_raw.get("safety")))
        return WorkflowObj(meta=self.meta, spec=self.spec, status_raw=status_raw,
                           status=status, spec_error=self.spec_error)


def store_workflow(body: Mapping[str, Any]) -> StoredWorkflow:
    spec_error = None
    try:
        spec = WorkflowSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        # decide() holds what is live for such a spec; these defaults are never acted on.
        spec, spec_error = WorkflowSpec(), _describe(exc, "spec")
    return StoredWorkflow(meta=Meta.from_body(body), spec=spec,
                          status_json=_compact(body.get("status") or {}),
                          spec_error=spec_error)


def workflow_from_body(body: Mapping[str, Any]) -> WorkflowObj:
    return store_workflow(body).load()


def _describe(exc: ValidationError, root: str) -> str:
    """A short, user-facing text of a validation error: `spec.field: what is wrong`."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join([root, *(str(p) for p in err.get("loc", ()))])
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or str(exc)


def _salvage_safety(raw: Any) -> SafetyStatus | None:
    """The safety part of a status that did not parse: a trip must never read as "not tripped"."""
    if not isinstance(raw, Mapping):
        return None
    try:
        return SafetyStatus.model_validate(raw)
    except ValidationError:
        text = {k: raw.get(k) if isinstance(raw.get(k), str) else None
                for k in ("reason", "message", "trippedAt", "resumedAt", "lastResumeToken")}
        return SafetyStatus(tripped=raw.get("tripped") is not False, **text)


@dataclass(frozen=True)
class StoredVersion:
    """What the index keeps of a WorkflowVersion: graph and status as compact JSON text
    (see StoredWorkflow), decoded for each pass by `load`."""

    meta: Meta
    workflow_name: str
    number: int
    label: str
    graph_json: str
    status_json: str

    def load(self) -> VersionObj:
        status_raw: dict[str, Any] = json.loads(self.status_json)
        try:
            status = WorkflowVersionStatus.model_validate(status_raw)
        except ValidationError:
            status = WorkflowVersionStatus()
        return VersionObj(meta=self.meta, workflow_name=self.workflow_name,
                          number=self.number, label=self.label,
                          graph_raw=json.loads(self.graph_json), status_raw=status_raw,
                          status=status)


def store_version(body: Mapping[str, Any]) -> StoredVersion:
    spec = body.get("spec") or {}
    ref = spec.get("workflowRef") or {}
    number = spec.get("version")
    return StoredVersion(
        meta=Meta.from_body(body),
        workflow_name=str(ref.get("name", "")),
        number=number if isinstance(number, int) else 0,
        label=str(spec.get("label") or ""),
        graph_json=_compact(spec.get("graph")),
        status_json=_compact(body.get("status") or {}),
    )


def version_from_body(body: Mapping[str, Any]) -> VersionObj:
    return store_version(body).load()


@dataclass(frozen=True)
class StoredPlan:
    """What the index keeps of a plan: its checked graph as compact JSON text."""

    meta: Meta
    version: int | None
    hash: str | None
    graph_json: str | None
    trigger_type: str | None = None

    def load(self) -> PlanObj:
        graph = json.loads(self.graph_json) if self.graph_json is not None else None
        return PlanObj(meta=self.meta, version=self.version, hash=self.hash, graph=graph,
                       trigger_type=self.trigger_type)


def store_plan(body: Mapping[str, Any]) -> StoredPlan:
    plan = plan_from_body(body)
    return StoredPlan(meta=plan.meta, version=plan.version, hash=plan.hash,
                      graph_json=_compact(plan.graph) if plan.graph is not None else None,
                      trigger_type=plan.trigger_type)


def plan_from_body(body: Mapping[str, Any]) -> PlanObj:
    meta = Meta.from_body(body)
    data = body.get("data") or {}
    # Read through the compiler, which checks the stored graph against the plan's hash.
    graph = plan_from_configmap_data(data)
    # The hash annotation is what decide() matches plans by: it counts only when it is the
    # hash of the graph actually stored. Otherwise anyone who may write ConfigMaps could
    # plant a "plan" (right name, labels, owner and annotation, another graph inside) and
    # have the trigger wired to it.
    text = data.get(GRAPH_KEY) if isinstance(data, Mapping) else None
    claimed = meta.annotations.get(ANN_PLAN_HASH)
    genuine = graph is not None and isinstance(text, str) and hash_text(text) == claimed
    raw_version = meta.labels.get(LABEL_VERSION, "")
    return PlanObj(
        meta=meta,
        version=parse_decimal(raw_version),
        hash=claimed if genuine else None,
        graph=graph if genuine else None,
        trigger_type=meta.annotations.get(ANN_TRIGGER_TYPE),
    )


def service_from_body(body: Mapping[str, Any]) -> ServiceObj:
    spec = body.get("spec") or {}
    selector = spec.get("selector")
    return ServiceObj(
        meta=Meta.from_body(body),
        selector=dict(selector) if selector else None,
        ports=tuple(_plain(p) for p in spec.get("ports") or []),
    )


def endpoint_slice_from_body(body: Mapping[str, Any]) -> EndpointSliceObj:
    return EndpointSliceObj(
        meta=Meta.from_body(body),
        address_type=str(body.get("addressType") or ""),
        ports=tuple(_plain(p) for p in body.get("ports") or []),
        endpoints=tuple(_plain(e) for e in body.get("endpoints") or []),
    )


def runtime_endpoints_from_slices(
    slices: Iterable[Mapping[str, Any]], port_name: str = "http"
) -> RuntimeEndpoints:
    """The ready IPv4 endpoints of a Service, from all its EndpointSlices (API bodies).

    An endpoint counts unless its `conditions.ready` is false (unset means ready, as
    kube-proxy reads it). The port is the one named `port_name`, else a slice's only
    port; slices without endpoints (the controller's placeholder) name no port.
    """
    addresses: set[str] = set()
    serving: list[int] = []  # ports of slices with ready endpoints, then of the others
    idle: list[int] = []
    for body in sorted(slices, key=lambda b: str((b.get("metadata") or {}).get("name", ""))):
        if body.get("addressType") != "IPv4":
            continue
        ready = [
            e for e in body.get("endpoints") or []
            if isinstance(e, Mapping) and (e.get("conditions") or {}).get("ready") is not False
        ]
        for endpoint in ready:
            addresses.update(str(a) for a in endpoint.get("addresses") or [] if a)
        ports = [p for p in body.get("ports") or [] if isinstance(p, Mapping)
                 and isinstance(p.get("port"), int)]
        named = [p for p in ports if p.get("name") == port_name]
        chosen = named[0] if named else ports[0] if len(ports) == 1 else None
        if chosen is not None:
            (serving if ready else idle).append(int(chosen["port"]))
    port = next(iter(serving + idle), None)
    return RuntimeEndpoints(addresses=tuple(sorted(addresses, key=_ip_order)), port=port)


def _ip_order(address: str) -> tuple[int, ...] | tuple[int, str]:
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return (256, address)


def run_from_body(body: Mapping[str, Any]) -> RunObj:
    """A run without a status, or Pending/Running, is not finished (it may still execute)."""
    spec = body.get("spec") or {}
    meta = body.get("metadata") or {}
    number = spec.get("version") if isinstance(spec, Mapping) else None
    if not isinstance(number, int) or isinstance(number, bool):
        raw = str((meta.get("labels") or {}).get(LABEL_VERSION, ""))
        number = parse_decimal(raw)
    status = body.get("status") or {}
    phase = status.get("phase") if isinstance(status, Mapping) else None
    return RunObj(name=str(meta.get("name", "")), version=number,
                  finished=phase in FINISHED_RUN_PHASES)


def run_family_key(body: Mapping[str, Any]) -> FamilyKey | None:
    """A run belongs to the workflow its (immutable) spec names; the label is a fallback."""
    meta = body.get("metadata") or {}
    ref = (body.get("spec") or {}).get("workflowRef") or {}
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not name:
        name = (meta.get("labels") or {}).get(LABEL_WORKFLOW)
    return (str(meta.get("namespace", "")), str(name)) if name else None


def family_key_of_labelled(body: Mapping[str, Any]) -> FamilyKey | None:
    meta = body.get("metadata") or {}
    workflow = (meta.get("labels") or {}).get(LABEL_WORKFLOW)
    return (str(meta.get("namespace", "")), workflow) if workflow else None
