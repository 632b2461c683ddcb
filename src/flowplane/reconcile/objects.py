"""The bodies of the objects a workflow owns: trigger Service, its EndpointSlice, plan
ConfigMaps and forked versions, and the names and URLs derived from a workflow's name.

Pure: each function builds a body (or the patch that brings an observed object to it)
from the snapshot; deciding *whether* to write it is decide()'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from flowplane.compiler.plan import Plan
from flowplane.model.resources import (
    ANN_ACTIVE_VERSION,
    ANN_PLAN,
    ANN_PLAN_HASH,
    ANN_TRIGGER_TYPE,
    API_VERSION,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_PLAN_HASH,
    LABEL_SERVICE_NAME,
    LABEL_SLICE_MANAGED_BY,
    LABEL_VERSION,
    LABEL_WORKFLOW,
    MANAGED_BY,
    SLICE_MANAGER,
)
from flowplane.model.versions import draft_body
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import (
    ANN_FORKED_FROM,
    EndpointSliceObj,
    Family,
    OwnerRef,
    VersionObj,
    WorkflowObj,
)
from flowplane.reconcile.writes import Create, Kind, Patch, Write, changed_entries

WORKFLOW_OWNER_KIND = "Workflow"
VERSION_OWNER_KIND = "WorkflowVersion"
SERVICE_PORT_NAME = "http"
MAX_OBJECT_NAME = 253
_SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def service_name(workflow: str) -> str:
    return f"{workflow}-trigger"


def endpoint_slice_name(workflow: str) -> str:
    """The trigger Service's mirrored EndpointSlice (at most 63 + 8 characters)."""
    return f"{service_name(workflow)}-runtime"


def workflow_name_problem(workflow: str) -> str | None:
    """Why `workflow` cannot name its trigger Service, or None.

    Any DNS subdomain is a valid Workflow name, but `<workflow>-trigger` must be a DNS
    label (at most 63 lowercase letters, digits and '-'; no dots), and the name is also a
    label value on the versions, plans and Service (at most 63 characters).
    """
    svc = service_name(workflow)
    if len(svc) > 63:
        return f"{svc!r} is longer than 63 characters (a workflow name may have at most 55)"
    if not _SERVICE_NAME.match(svc):
        return f"{svc!r} is not a DNS label (only lowercase letters, digits and '-')"
    return None


def plan_label_hash(full_hash: str) -> str:
    """Label values are limited to 63 characters: sha256-<56 hex digits>."""
    return full_hash.replace(":", "-")[:63]


def trigger_url(service: str, namespace: str, graph: Mapping[str, Any] | None) -> str:
    """Where to send events: the Service, plus the webhook's path when the graph has one
    (the runtime answers 404 NoSuchPath on any other path)."""
    base = f"http://{service}.{namespace}.svc"
    nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, Mapping) and node.get("role") == "trigger":
            config = node.get("config")
            path = config.get("path") if isinstance(config, Mapping) else None
            if node.get("type") == "webhook" and isinstance(path, str) and path.startswith("/"):
                return base + path
            break
    return base + "/"


def short_hash(graph_hash: str | None) -> str | None:
    """The first 12 hex digits, as `docker images` shows an id: enough to tell versions apart."""
    if not graph_hash:
        return None
    return graph_hash.partition(":")[2][:12] or graph_hash[:12]


def owner_ref(wf: WorkflowObj) -> OwnerRef:
    """The controller reference every object of the family carries to its Workflow."""
    return OwnerRef(API_VERSION, WORKFLOW_OWNER_KIND, wf.meta.name, wf.meta.uid, True)


# ------------------------------------------------------------------ plan ConfigMap


def plan_name(v: VersionObj, plan_hash: str, family: Family, plans: Mapping[str, Any]
              ) -> str:
    """`<version>-plan`, unless that name is held (or too long): then one with the hash.

    A plan is never rewritten: a new graph gets a new plan (as does a name taken by a
    ConfigMap that is not ours, or one too long for a version's long name).
    """
    name = f"{v.meta.name}-plan"
    if (name in plans or (Kind.CONFIGMAP.value, name) in family.taken_names
            or len(name) > MAX_OBJECT_NAME):
        suffix = f"-plan-{plan_hash.split(':')[-1][:10]}"
        name = v.meta.name[: MAX_OBJECT_NAME - len(suffix)].rstrip("-.") + suffix
    return name


def plan_body(v: VersionObj, plan: Plan, name: str, namespace: str) -> dict[str, Any]:
    """The immutable plan ConfigMap of version `v`, owned by it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                LABEL_WORKFLOW: v.workflow_name,
                LABEL_VERSION: str(v.number),
                LABEL_PLAN_HASH: plan_label_hash(plan.hash),
                LABEL_COMPONENT: "plan",
                LABEL_MANAGED_BY: MANAGED_BY,
            },
            "annotations": {ANN_PLAN_HASH: plan.hash, ANN_TRIGGER_TYPE: plan.trigger_type},
            "ownerReferences": [
                OwnerRef(API_VERSION, VERSION_OWNER_KIND, v.meta.name, v.meta.uid, True)
                .to_api()
            ],
        },
        "immutable": True,
        "data": plan.configmap_data(),
    }


# ------------------------------------------------------------------ forked version


def fork_body(wf: WorkflowObj, namespace: str, live: VersionObj, number: int, name: str
              ) -> dict[str, Any]:
    """The draft that saves an edit of live version `live` (its graph as edited)."""
    return draft_body(wf.meta.name, namespace, name, number, live.number, live.graph_raw, {
        "annotations": {ANN_FORKED_FROM: str(live.number)},
        "ownerReferences": [owner_ref(wf).to_api()],
    })


# ------------------------------------------------------------------ trigger Service


class ServedPlan(Protocol):
    """What the trigger Service records of the plan it serves (plans.LivePlan has it)."""

    @property
    def name(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def trigger_type(self) -> str | None: ...


def service_write(family: Family, settings: Settings, wf: WorkflowObj,
                  target: VersionObj | None, plan: ServedPlan | None) -> Write | None:
    """The write that points the trigger Service at `target` running `plan`, or unwires it
    when either is None; None when the Service is so already."""
    name = service_name(wf.meta.name)
    wired = target is not None and plan is not None
    annotations: dict[str, str | None] = {
        ANN_ACTIVE_VERSION: str(target.number) if wired and target else None,
        ANN_PLAN: plan.name if wired and plan else None,
        ANN_PLAN_HASH: plan.hash if wired and plan else None,
        ANN_TRIGGER_TYPE: (plan.trigger_type if wired and plan else None),
    }
    labels = {LABEL_WORKFLOW: wf.meta.name, LABEL_COMPONENT: "trigger",
              LABEL_MANAGED_BY: MANAGED_BY}
    selector = dict(settings.runtime_selector) if wired else None
    ports = [{"name": SERVICE_PORT_NAME, "port": settings.service_port,
              "targetPort": settings.target_port, "protocol": "TCP"}]
    svc = family.service
    why = f"wire v{target.number}" if wired and target else "unwire"
    if svc is None:
        spec: dict[str, Any] = {"type": "ClusterIP", "ports": ports}
        if selector:
            spec["selector"] = selector
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": family.namespace,
                "labels": labels,
                "annotations": {k: v for k, v in annotations.items() if v is not None},
                "ownerReferences": [owner_ref(wf).to_api()],
            },
            "spec": spec,
        }
        return Create(Kind.SERVICE, name, body, why=why)
    patch: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    ann_patch = changed_entries(annotations, svc.meta.annotations)
    if ann_patch:
        meta["annotations"] = ann_patch
    label_patch = changed_entries(labels, svc.meta.labels)
    if label_patch:
        meta["labels"] = label_patch
    if not any(r.uid == wf.meta.uid for r in svc.meta.owner_refs):
        meta["ownerReferences"] = [owner_ref(wf).to_api()]
    if meta:
        patch["metadata"] = meta
    spec_patch: dict[str, Any] = {}
    if (svc.selector or None) != selector:
        spec_patch["selector"] = selector
    observed_ports = [
        {k: p.get(k) for k in ("name", "port", "targetPort", "protocol")} for p in svc.ports
    ]
    if observed_ports != ports:
        spec_patch["ports"] = ports
    if spec_patch:
        patch["spec"] = spec_patch
    if patch:
        return Patch(Kind.SERVICE, name, patch, svc.meta.resource_version, why=why)
    return None


# ------------------------------------------------------------------ its EndpointSlice


def slice_is_ours(observed: EndpointSliceObj, workflow: str) -> bool:
    """Ours: labelled as managed by the operator, IPv4, owned by no one or by a Service
    of the trigger's name (a stale uid is re-owned: the Service was recreated)."""
    svc_name = service_name(workflow)
    return (
        observed.meta.labels.get(LABEL_SLICE_MANAGED_BY) == SLICE_MANAGER
        and observed.address_type == "IPv4"
        and (not observed.meta.owner_refs or any(
            r.kind == "Service" and r.name == svc_name for r in observed.meta.owner_refs))
    )


def slice_conflict(family: Family, settings: Settings, workflow: str) -> bool:
    """The slice's name is held by an object that is not ours: report it, never write it."""
    if settings.runtime_service is None:
        return False
    observed = family.endpoint_slice
    if observed is not None:
        return not slice_is_ours(observed, workflow)
    return (Kind.ENDPOINT_SLICE.value, endpoint_slice_name(workflow)) in family.taken_names


def slice_write(family: Family, settings: Settings, workflow: str, *, wired: bool
                ) -> Write | None:
    """The write that brings the trigger Service's mirrored EndpointSlice up to date.

    While wired: the runtime's ready endpoints, created once the Service exists (it
    owns the slice, so it needs the Service's uid). While unwired, or with mirroring
    off: no endpoints (an existing slice is emptied, never created). A slice whose
    name someone else holds is left alone (reported in status); while the runtime's
    endpoints are not known yet, a wired slice is left as it is.
    """
    name = endpoint_slice_name(workflow)
    observed = family.endpoint_slice
    if observed is not None and not slice_is_ours(observed, workflow):
        return None
    mirror = wired and settings.runtime_service is not None
    if not mirror:
        if observed is not None and observed.endpoints:
            why = "unwire" if not wired else "mirroring is off"
            return Patch(Kind.ENDPOINT_SLICE, name, {"endpoints": []},
                         observed.meta.resource_version, why=why)
        return None
    runtime, svc = family.runtime_endpoints, family.service
    if runtime is None or svc is None or not svc.meta.uid:
        return None  # the runtime's endpoints not listed yet / the Service not created yet
    if observed is None and slice_conflict(family, settings, workflow):
        return None
    svc_name = service_name(workflow)
    labels = {LABEL_SERVICE_NAME: svc_name, LABEL_SLICE_MANAGED_BY: SLICE_MANAGER,
              LABEL_WORKFLOW: workflow, LABEL_COMPONENT: "trigger-endpoints",
              LABEL_MANAGED_BY: MANAGED_BY}
    owner = {"apiVersion": "v1", "kind": "Service", "name": svc_name,
             "uid": svc.meta.uid, "controller": True}
    ports = [{"name": SERVICE_PORT_NAME, "port": runtime.port or settings.target_port,
              "protocol": "TCP"}]
    endpoints = [{"addresses": [a], "conditions": {"ready": True}}
                 for a in runtime.addresses]
    why = f"mirror {len(endpoints)} runtime endpoints"
    if observed is None:
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": family.namespace, "labels": labels,
                         "ownerReferences": [owner]},
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }
        return Create(Kind.ENDPOINT_SLICE, name, body, why=why)
    patch: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    label_patch = changed_entries(labels, observed.meta.labels)
    if label_patch:
        meta["labels"] = label_patch
    if not any(r.uid == svc.meta.uid for r in observed.meta.owner_refs):
        meta["ownerReferences"] = [owner]
    if meta:
        patch["metadata"] = meta
    if list(observed.ports) != ports:
        patch["ports"] = ports
    if list(observed.endpoints) != endpoints:
        patch["endpoints"] = endpoints
    if patch:
        return Patch(Kind.ENDPOINT_SLICE, name, patch, observed.meta.resource_version, why=why)
    return None
