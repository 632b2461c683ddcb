"""Issue 12.8: writes the API server refuses are said once, naming the object and field.

A namespace being deleted refuses every create with 403. That is expected (the namespace
goes away with everything the operator would write), so the operator must recognise it
from the API server's own answer and say it at info, not warn of a permission problem.
Driven against the real API server: the namespace is held in Terminating by a finalizer
on a ConfigMap, as any finalizer holds it in a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from flowplane.operator.applier import WriteRefused
from flowplane.operator.kube import KubeClient
from flowplane.operator.reconciler import FamilyReconciler
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import Family
from flowplane.reconcile.writes import Create, Decision, Event, Kind
from flowplane_devtools.kube import wait_for

HOLD = "e2e.flowplane.dev/hold"


@pytest.fixture
def terminating(api_client: client.ApiClient) -> Iterator[str]:
    core: Any = client.CoreV1Api(api_client)
    ns = f"terminating-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "hold", "finalizers": [HOLD]}})
    core.delete_namespace(ns)
    wait_for(lambda: core.read_namespace(ns).status.phase == "Terminating", 30, "Terminating")
    try:
        yield ns
    finally:
        core.patch_namespaced_config_map("hold", ns, {"metadata": {"finalizers": None}})


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}


def test_a_create_in_a_terminating_namespace_is_recognised_not_warned(
        api_client: client.ApiClient, terminating: str,
        caplog: pytest.LogCaptureFixture) -> None:
    reconciler = FamilyReconciler(KubeClient(api_client), Settings())
    family = Family(namespace=terminating, name="wf")
    write = Create(Kind.SERVICE, "wf-trigger", service("wf-trigger"), why="wire")
    with pytest.raises(WriteRefused) as caught:
        asyncio.run(reconciler.apply(family, Decision(writes=[write])))
    refused = caught.value
    # What the real API server answers, parsed: 403, the NamespaceTerminating cause.
    assert refused.status == 403
    assert refused.refusal.terminating, refused.body
    assert str(refused).startswith("create Service wf-trigger: 403 Forbidden: ")
    assert "being terminated" in str(refused)
    with caplog.at_level(logging.INFO, logger="flowplane"):
        reconciler._say_refused(family.key, refused)
        reconciler._say_refused(family.key, refused)
        asyncio.run(reconciler.client.emit(terminating, Event(
            kind=Kind.WORKFLOW, name="wf", uid="", type="Normal", reason="Published",
            message="v1 is live")))
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("flowplane")]
    assert [level for level, _ in said] == [logging.INFO, logging.INFO], said
    assert "namespace is terminating" in said[0][1]
    assert "Event Published on wf not posted" in said[1][1]



def test_a_refused_write_names_the_object_and_the_field(
        api_client: client.ApiClient, namespace: str, crds: None,
        caplog: pytest.LogCaptureFixture) -> None:
    reconciler = FamilyReconciler(KubeClient(api_client), Settings())
    family = Family(namespace=namespace, name="wf")
    too_big = {"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
               "metadata": {"name": "wf-v2000000000"},
               "spec": {"workflowRef": {"name": "wf"}, "version": 2_000_000_000,
                        "graph": {"nodes": [], "edges": []}}}
    write = Create(Kind.VERSION, "wf-v2000000000", too_big, why="fork")
    with pytest.raises(WriteRefused) as caught:
        asyncio.run(reconciler.apply(family, Decision(writes=[write])))
    refused = caught.value
    assert refused.status == 422
    assert "spec.version" in refused.refusal.fields
    assert str(refused).startswith("create WorkflowVersion wf-v2000000000: 422 Invalid: ")
    with caplog.at_level(logging.WARNING, logger="flowplane"):
        for _ in range(3):  # a family retrying the same refused write
            reconciler._say_refused(family.key, refused)
    (record,) = caplog.records
    assert "refused a write: create WorkflowVersion wf-v2000000000" in record.getMessage()
    assert "spec.version" in record.getMessage()
