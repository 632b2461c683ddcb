"""Kopf registrations: indexes keep each workflow family in memory; events mark it dirty.

Only `kopf.index` and `kopf.on.event` are used: they store nothing on the objects
(change-detecting handlers would copy every spec into an annotation). The handlers only
mark families dirty; the work queue takes none until every index has finished its
initial listing (kopf_fixes.lean_initial_listing), so the first decision of a family
never sees half of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from flowplane.model.resources import (
    GROUP,
    LABEL_COMPONENT,
    LABEL_SLICE_MANAGED_BY,
    LABEL_WORKFLOW,
    SLICE_MANAGER,
    VERSION,
    VERSION_PLURAL,
    WORKFLOW_PLURAL,
)
from flowplane.model.run import RUN_PLURAL
from flowplane.operator.endpoints import RuntimeEndpointsWatch
from flowplane.operator.kopf_fixes import NoDiffBase
from flowplane.operator.leadership import LeaderElector
from flowplane.operator.reconciler import FamilyReconciler
from flowplane.reconcile.settings import TENANT_LIMIT_ANNOTATIONS
from flowplane.reconcile.snapshot import (
    EndpointSliceObj,
    FamilyKey,
    RunObj,
    ServiceObj,
    StoredPlan,
    StoredVersion,
    StoredWorkflow,
    endpoint_slice_from_body,
    family_key_of_labelled,
    run_family_key,
    run_from_body,
    service_from_body,
    store_plan,
    store_version,
    store_workflow,
)

log = logging.getLogger("flowplane")
LIST_PAGE_SIZE = 500
PLAN_LABELS: dict[str, Any] = {
    LABEL_WORKFLOW: kopf.PRESENT, LABEL_COMPONENT: "plan"}
TRIGGER_LABELS: dict[str, Any] = {
    LABEL_WORKFLOW: kopf.PRESENT, LABEL_COMPONENT: "trigger"}
SLICE_LABELS: dict[str, Any] = {
    LABEL_WORKFLOW: kopf.PRESENT, LABEL_SLICE_MANAGED_BY: SLICE_MANAGER}


def _version_key(body: kopf.Body) -> FamilyKey | None:
    ref = (body.get("spec") or {}).get("workflowRef") or {}
    name = ref.get("name") if isinstance(ref, dict) else None
    return (str(body.metadata.namespace), str(name)) if name else None


# ---------------------------------------------------------------- indexes


@kopf.index(GROUP, VERSION, WORKFLOW_PLURAL)
async def flowplane_workflows(body: kopf.Body, **_: Any) -> dict[FamilyKey, StoredWorkflow]:
    return {(str(body.metadata.namespace), str(body.metadata.name)): store_workflow(body)}


@kopf.index(GROUP, VERSION, VERSION_PLURAL)
async def flowplane_versions(
    body: kopf.Body, **_: Any
) -> dict[FamilyKey, StoredVersion] | None:
    key = _version_key(body)
    return {key: store_version(body)} if key else None


@kopf.index("v1", "configmaps", labels=PLAN_LABELS)
async def flowplane_plans(body: kopf.Body, **_: Any) -> dict[FamilyKey, StoredPlan] | None:
    key = family_key_of_labelled(body)
    return {key: store_plan(body)} if key else None


@kopf.index("v1", "services", labels=TRIGGER_LABELS)
async def flowplane_services(body: kopf.Body, **_: Any) -> dict[FamilyKey, ServiceObj] | None:
    key = family_key_of_labelled(body)
    return {key: service_from_body(body)} if key else None


@kopf.index("discovery.k8s.io", "v1", "endpointslices", labels=SLICE_LABELS)
async def flowplane_endpoint_slices(
    body: kopf.Body, **_: Any
) -> dict[FamilyKey, EndpointSliceObj] | None:
    """The trigger Services' mirrored EndpointSlices (only ours: a server-side selector)."""
    key = family_key_of_labelled(body)
    return {key: endpoint_slice_from_body(body)} if key else None


@kopf.index(GROUP, VERSION, RUN_PLURAL)
async def flowplane_runs(body: kopf.Body, **_: Any) -> dict[FamilyKey, RunObj] | None:
    """Only a run's name, pinned version and whether it finished: never its body."""
    key = run_family_key(body)
    return {key: run_from_body(body)} if key else None


@kopf.index("v1", "namespaces")
async def flowplane_namespace_limits(
    name: str, annotations: kopf.Annotations, **_: Any
) -> dict[str, dict[str, str]]:
    """Every namespace, with its limit annotations (an empty dict when it has none).

    Never None: Kopf keeps an object's previous entry when its index function returns
    None, so a tenant whose last limit annotation was removed would keep the old limits
    until the operator restarts.
    """
    limits = {k: v for k, v in annotations.items() if k in TENANT_LIMIT_ANNOTATIONS}
    return {name: limits}


# ---------------------------------------------------------------- events -> dirty families


def _mark(memo: kopf.Memo, key: FamilyKey | None, indexes: dict[str, Any]) -> None:
    reconciler: FamilyReconciler | None = memo.get("reconciler")
    if reconciler is None or key is None:
        return
    reconciler.bind(indexes)
    reconciler.touch(key)


def _indexes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k.startswith("flowplane_")}


@kopf.on.event(GROUP, VERSION, WORKFLOW_PLURAL)
async def workflow_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _mark(memo, (str(body.metadata.namespace), str(body.metadata.name)), _indexes(kwargs))


@kopf.on.event(GROUP, VERSION, VERSION_PLURAL)
async def version_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _mark(memo, _version_key(body), _indexes(kwargs))


@kopf.on.event("v1", "configmaps", labels=PLAN_LABELS)
async def plan_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _mark(memo, family_key_of_labelled(body), _indexes(kwargs))


@kopf.on.event("v1", "services", labels=TRIGGER_LABELS)
async def service_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _mark(memo, family_key_of_labelled(body), _indexes(kwargs))


@kopf.on.event("discovery.k8s.io", "v1", "endpointslices", labels=SLICE_LABELS)
async def endpoint_slice_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _mark(memo, family_key_of_labelled(body), _indexes(kwargs))


@kopf.on.event(GROUP, VERSION, RUN_PLURAL)
async def run_changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """A run that finishes or goes away may release the version it was pinned to.

    Runs change often (every step is a status write) and only matter to version
    retention, so the family is marked dirty only then: a new or progressing run can only
    add protection, which needs no action.
    """
    reconciler: FamilyReconciler | None = memo.get("reconciler")
    key = run_family_key(body)
    if reconciler is None or key is None:
        return
    reconciler.bind(_indexes(kwargs))
    if kwargs.get("type") != "DELETED" and not run_from_body(body).finished:
        return
    if reconciler.retains_versions(key):
        reconciler.touch(key)


@kopf.on.event("v1", "namespaces")
async def namespace_changed(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """A tenant's plan limits may have changed: decide its families again."""
    reconciler: FamilyReconciler | None = memo.get("reconciler")
    if reconciler is None:
        return
    reconciler.bind(_indexes(kwargs))
    for key in reconciler.families_in(name):
        reconciler.touch(key)


# ---------------------------------------------------------------- lifecycle


def touch_all(reconciler: FamilyReconciler) -> None:
    """A new leader decides every known family: the standby wrote nothing for them."""
    indexes = reconciler.indexes
    if indexes is None:
        return  # no event yet: every family's first event comes after this
    keys: set[FamilyKey] = set()
    for index in (indexes.workflows, indexes.versions, indexes.plans, indexes.services,
                  indexes.endpoint_slices):
        if index is not None:
            keys.update(index)
    log.info("reconciling all %d known workflow families", len(keys))
    for key in sorted(keys):
        reconciler.touch(key)


def decide_every_family(reconciler: FamilyReconciler, indices: Mapping[str, Any]) -> None:
    """Every index has its initial listing (kopf_fixes.lean_initial_listing): decide it all."""
    reconciler.bind(_indexes(indices))
    touch_all(reconciler)
    reconciler.queue.release()


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Kopf's own log lines become Kubernetes Events only when they are warnings.
    settings.posting.level = logging.WARNING
    # Server-side label selectors: only our plans and trigger Services are listed and watched.
    settings.watching.label_selectors["v1", "configmaps"] = (
        f"{LABEL_WORKFLOW},{LABEL_COMPONENT}=plan"
    )
    settings.watching.label_selectors["v1", "services"] = (
        f"{LABEL_WORKFLOW},{LABEL_COMPONENT}=trigger"
    )
    settings.watching.label_selectors["discovery.k8s.io", "endpointslices"] = (
        f"{LABEL_WORKFLOW},{LABEL_SLICE_MANAGED_BY}={SLICE_MANAGER}"
    )
    # List in pages, as client-go's reflectors do (500): one LIST of every WorkflowVersion
    # in a large cluster is a response of hundreds of MB, decoded all at once.
    settings.watching.chunk_size = LIST_PAGE_SIZE
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # After an API server outage, reconnect within 5 s of its return: Kopf's default
    # backoffs grow to 21 s, so changes made right after an outage waited up to that long.
    # (Watches never give up: after the last attempt Kopf starts the sequence again.)
    settings.networking.error_backoffs = (1, 1, 2, 3, 5, 5, 5, 5, 5, 5)
    reconciler: FamilyReconciler = memo["reconciler"]
    reconciler.queue.start()
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        elector.start()
        log.info("leader election on: lease %s/%s as %s (standby until held)",
                 elector.namespace, elector.name, elector.identity)
    target = reconciler.settings.runtime_service
    if target is not None:
        # The runtime's own endpoints, mirrored into each wired trigger Service's slice.
        watch = RuntimeEndpointsWatch(reconciler.client.api, *target,
                                      reconciler.set_runtime_endpoints)
        watch.start(asyncio.get_running_loop())
        memo["runtime_endpoints_watch"] = watch
        log.info("mirroring the endpoints of Service %s/%s into the trigger Services", *target)
    else:
        log.info("runtime endpoint mirroring is off: trigger Services route by selector only")
    log.info("flowplane operator started")


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    watch: RuntimeEndpointsWatch | None = memo.get("runtime_endpoints_watch")
    if watch is not None:
        watch.stop()
    reconciler: FamilyReconciler | None = memo.get("reconciler")
    if reconciler is not None:
        await reconciler.queue.stop()
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        await elector.stop(release=True)  # after the last write: the next replica leads
