"""Tenant isolation on a real API server.

A namespace is a tenant. Nothing a tenant writes in its namespace may attach to, change or
reveal another tenant's workflows; inside a namespace, versions that claim a number or an
owner that is not theirs are reported and never adopted; and nothing the operator writes
carries the data of a user's Secret.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from flowplane_devtools.kube import Kube, temporary_namespace, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.test_reliability import (
    Snapshot,
    create_family,
    graph,
    publish,
    version_body,
    wait_live,
    workflow_body,
)

pytestmark = pytest.mark.usefixtures("running_operator")


@pytest.fixture
def other_kube(api_client: client.ApiClient, namespace: str, crds: None) -> Iterator[Kube]:
    """A second tenant: its own namespace, deleted after the test."""
    with temporary_namespace(api_client, f"{namespace[:50]}-b") as name:
        yield Kube(api_client, name)


def _codes(kube: Kube, name: str) -> set[str]:
    status = kube.get("WorkflowVersion", name).get("status") or {}
    return {e["code"] for e in status.get("errors", [])}


def test_a_version_never_attaches_to_a_workflow_in_another_namespace(
    kube: Kube, other_kube: Kube,
) -> None:
    create_family(kube, "shared-name", versions=2, publishedVersion=2)
    before = wait_live(kube, "shared-name", 2)
    a_status = before.workflows["shared-name"]["status"]
    # Tenant B points a version (with a higher number, and a lower one that A also has)
    # at A's workflow name; B has no such Workflow.
    other_kube.create(version_body("shared-name", 9, graph("from tenant B")))
    other_kube.create(version_body("shared-name", 1, graph("tenant B's v1")))
    wait_for(lambda: all((v.get("status") or {}).get("phase") == "Draft"
                         for v in other_kube.items("WorkflowVersion")), 30,
             "B's versions validated as orphans")
    after = Snapshot.take(kube)
    status = after.workflows["shared-name"]["status"]
    assert status["latestVersion"] == 2
    assert status["activeVersion"] == 2
    assert status["activeVersionName"] == "shared-name-v2"
    assert status["conditions"] == a_status["conditions"]
    for v in other_kube.items("WorkflowVersion"):
        assert not v["metadata"].get("ownerReferences"), v["metadata"]
        assert "flowplane.dev/workflow" not in (v["metadata"].get("labels") or {})
    # B's objects stay in B; A's in A.
    assert not other_kube.core.list_namespaced_service(other_kube.ns).items
    assert not other_kube.core.list_namespaced_config_map(
        other_kube.ns, label_selector="app.kubernetes.io/component=plan").items
    assert {v["metadata"]["name"] for v in after.versions} == {"shared-name-v1", "shared-name-v2"}

    # B then creates its own Workflow of the same name: it gets B's versions, and only those.
    other_kube.create(workflow_body("shared-name", publishedVersion=9))
    wait_live(other_kube, "shared-name", 9)
    b_status = other_kube.wf_status("shared-name")
    assert b_status["latestVersion"] == 9
    assert other_kube.service("shared-name").metadata.annotations[
        "flowplane.dev/active-version"] == "9"
    # ... and A is still exactly as it was.
    again = Snapshot.take(kube)
    assert again.workflows["shared-name"]["status"]["activeVersion"] == 2
    assert again.problems_at_rest("shared-name") == []
    a_uid = again.workflows["shared-name"]["metadata"]["uid"]
    for v in other_kube.items("WorkflowVersion"):
        assert all(r["uid"] != a_uid for r in v["metadata"].get("ownerReferences") or [])


def test_duplicate_numbers_and_foreign_owners_are_reported_not_adopted(kube: Kube) -> None:
    create_family(kube, "main", versions=2, publishedVersion=1)
    create_family(kube, "other", versions=1)
    wait_live(kube, "main", 1)
    other_uid = kube.workflow("other")["metadata"]["uid"]

    # Same number as main's live v1, under another name.
    kube.create(version_body("main", 1, graph("impostor"), name="main-impostor"))
    # A version of "main" that another Workflow controls.
    foreign = version_body("main", 3, graph("foreign"), name="main-foreign")
    foreign["metadata"]["ownerReferences"] = [{
        "apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow", "name": "other",
        "uid": other_uid, "controller": True, "blockOwnerDeletion": True}]
    kube.create(foreign)

    wait_for(lambda: "DuplicateVersion" in _codes(kube, "main-impostor"), 30, "DuplicateVersion")
    wait_for(lambda: "OwnerMismatch" in _codes(kube, "main-foreign"), 30, "OwnerMismatch")
    impostor = kube.get("WorkflowVersion", "main-impostor")
    assert not impostor["metadata"].get("ownerReferences")
    assert impostor["status"]["phase"] != "Active"
    assert "already exists as 'main-v1'" in impostor["status"]["errors"][0]["message"]
    foreign_now = kube.get("WorkflowVersion", "main-foreign")
    assert [r["uid"] for r in foreign_now["metadata"]["ownerReferences"]] == [other_uid]

    # Publishing the contested numbers never reaches the impostor or the foreign version.
    publish(kube, "main", 3)
    status = wait_for(lambda: (s := kube.wf_status("main")).get("lastPublish", {}).get(
        "version") == 3 and s, 30, "publish of v3 answered")
    assert status["lastPublish"]["reason"] == "VersionNotFound"
    assert status["activeVersion"] == 1
    assert status["latestVersion"] == 2
    publish(kube, "main", 2)
    wait_live(kube, "main", 2)
    publish(kube, "main", 1)
    snap = wait_live(kube, "main", 1)
    assert snap.workflows["main"]["status"]["activeVersionName"] == "main-v1"
    assert kube.service("main").metadata.annotations["flowplane.dev/plan"].startswith("main-v1-")
    # The other workflow does not pick up the version that names it as owner.
    other = kube.wf_status("other")
    assert other.get("latestVersion") == 1


def _dump(obj: Any, api: client.ApiClient) -> str:
    if isinstance(obj, dict):
        return json.dumps(obj)
    return json.dumps(api.sanitize_for_serialization(obj))


def test_nothing_the_operator_writes_contains_secret_data(
    kube: Kube, api_client: client.ApiClient, running_operator: OperatorProcess,
) -> None:
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    kube.core.create_namespaced_secret(kube.ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="slack-token"),
        string_data={"token": secret_value}))
    # A graph that refers to the Secret by name, the way a runtime would resolve it.
    g = graph("hello")
    g["nodes"][1]["inputs"]["token"] = {"secretKeyRef": {"name": "slack-token", "key": "token"}}
    kube.create(workflow_body("uses-secret", publishedVersion=1))
    kube.create(version_body("uses-secret", 1, g))
    kube.create(version_body("uses-secret", 2, {"nodes": [], "edges": []}))
    wait_live(kube, "uses-secret", 1)
    publish(kube, "uses-secret", 2)  # a rejection: status, Events with messages
    wait_for(lambda: kube.wf_status("uses-secret").get("lastPublish", {}).get("version") == 2,
             30, "rejection recorded")

    written = [
        *(_dump(w, api_client) for w in kube.items("Workflow")),
        *(_dump(v, api_client) for v in kube.items("WorkflowVersion")),
        *(_dump(c, api_client) for c in kube.core.list_namespaced_config_map(kube.ns).items),
        *(_dump(s, api_client) for s in kube.core.list_namespaced_service(kube.ns).items),
        *(_dump(e, api_client) for e in kube.core.list_namespaced_event(kube.ns).items),
    ]
    encoded = base64.b64encode(secret_value.encode()).decode()
    for text in written:
        assert secret_value not in text
        assert encoded not in text
    assert any("slack-token" in t for t in written)  # the reference itself is kept, as written
    # And the operator never even reads Secrets: its log never mentions the value.
    assert secret_value not in running_operator.log_path.read_text(errors="replace")
    assert not re.search(r"/secrets\b", running_operator.tail(400))


def test_an_edit_is_never_lost_to_a_name_another_workflow_holds(kube: Kube) -> None:
    """Versions of all workflows share the namespace's names. The fork that saves an edit
    of the live version must not mistake another workflow's `form-v3` for itself (the
    live graph would be restored and the edit would exist nowhere)."""
    create_family(kube, "form", versions=2, publishedVersion=2)
    wait_live(kube, "form", 2)
    kube.create(version_body("other", 1, graph("someone else's"), name="form-v3"))
    edited = graph("my edit of the live v2")
    kube.patch("WorkflowVersion", "form-v2", {"spec": {"graph": edited}})

    def fork() -> dict[str, Any] | None:
        return next((v for v in kube.items("WorkflowVersion")
                     if (v.get("status") or {}).get("forkedFrom") == 2), None)

    saved = wait_for(fork, 30, "the edit saved as a fork")
    assert saved["metadata"]["name"] == "form-v4" and saved["spec"]["version"] == 4
    assert saved["spec"]["graph"]["nodes"][1]["inputs"]["text"] == "my edit of the live v2"
    wait_for(lambda: kube.get("WorkflowVersion", "form-v2")["spec"]["graph"] == graph("form v2"),
             30, "live v2 restored")
    theirs = kube.get("WorkflowVersion", "form-v3")
    assert theirs["spec"]["workflowRef"]["name"] == "other"
    assert theirs["spec"]["graph"] == graph("someone else's")
    assert wait_live(kube, "form", 2).problems_at_rest("form") == []


def test_a_configmap_forged_as_a_plan_is_never_wired(kube: Kube) -> None:
    """Someone who may write ConfigMaps (but not publish) plants a 'plan' for a draft:
    right name, labels, owner and plan-hash annotation, but another graph inside. The
    trigger must only ever point at a plan whose content is the published graph."""
    from flowplane.compiler import compile_graph

    create_family(kube, "target", versions=2, publishedVersion=1)
    wait_live(kube, "target", 1)
    v2 = kube.get("WorkflowVersion", "target-v2")
    real_hash = compile_graph(v2["spec"]["graph"]).graph_hash
    evil = compile_graph(graph("exfiltrate everything"))
    assert evil.plan is not None and real_hash is not None
    kube.core.create_namespaced_config_map(kube.ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name="target-v2-plan",
            labels={"flowplane.dev/workflow": "target", "flowplane.dev/version": "2",
                    "app.kubernetes.io/component": "plan"},
            annotations={"flowplane.dev/plan-hash": real_hash,
                         "flowplane.dev/trigger-type": "webhook"},
            owner_references=[client.V1OwnerReference(
                api_version="flowplane.dev/v1alpha1", kind="WorkflowVersion",
                name="target-v2", uid=v2["metadata"]["uid"])]),
        data=evil.plan.configmap_data(), immutable=True))

    publish(kube, "target", 2)
    snap = wait_live(kube, "target", 2)
    wired = snap.services["target-trigger"].metadata.annotations["flowplane.dev/plan"]
    assert wired != "target-v2-plan"
    plan = snap.plans[wired]
    assert compile_graph(json.loads(plan.data["graph.json"])).graph_hash == real_hash
    assert snap.workflows["target"]["status"]["activeVersion"] == 2


def test_a_version_controlled_by_another_kind_is_reported_and_the_family_still_converges(
    kube: Kube,
) -> None:
    """A foreign controller reference of any kind must not freeze the family (issue 11.2).

    Adoption would add a second controller reference, which the API refuses with 422; before
    the fix that refusal stopped every later write, so the workflow never got its Service.
    """
    holder = client.CoreV1Api(kube.api).create_namespaced_config_map(
        kube.ns, {"metadata": {"name": "holder"}, "data": {}})
    foreign = version_body("held", 2, graph("held"), name="held-v2")
    foreign["metadata"]["ownerReferences"] = [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "holder",
        "uid": holder.metadata.uid, "controller": True}]
    kube.create(foreign)
    create_family(kube, "held", versions=1, publishedVersion=1)

    wait_for(lambda: "OwnerMismatch" in _codes(kube, "held-v2"), 30, "OwnerMismatch")
    wait_live(kube, "held", 1)
    assert kube.service("held").metadata.annotations["flowplane.dev/active-version"] == "1"
    held = kube.get("WorkflowVersion", "held-v2")
    assert [r["uid"] for r in held["metadata"]["ownerReferences"]] == [holder.metadata.uid]
    assert "controlled by another ConfigMap 'holder'" in held["status"]["errors"][0]["message"]
