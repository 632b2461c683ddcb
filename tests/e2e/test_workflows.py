"""The contract on a real API server, driven the way a user drives it.

Each test applies YAML, patches `spec.publishedVersion`, edits graphs or annotates,
and asserts what `kubectl get flows,wfv` and the trigger Service would show.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "form-to-slack"
WF = "form-to-slack"
ACTIVE = "flowplane.dev/active-version"

pytestmark = pytest.mark.usefixtures("running_operator")


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return doc


def publish(kube: Kube, n: int | None, wf: str = WF) -> None:
    kube.patch("Workflow", wf, {"spec": {"publishedVersion": n}})


def live(kube: Kube, n: int, wf: str = WF) -> None:
    """Wait until version n is live everywhere a reader can look, and Ready says so."""
    def check() -> bool:
        status = kube.wf_status(wf)
        ready = kube.condition(wf, "Ready") or {}
        ann = kube.service(wf).metadata.annotations or {}
        return (status.get("activeVersion") == n and ann.get(ACTIVE) == str(n)
                and kube.phases(wf).get(n) == "Active" and ready.get("status") == "True"
                and status.get("observedGeneration") == kube.workflow(wf)["metadata"]["generation"])
    wait_for(check, 30, f"v{n} live")


def version_graph(text: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
            {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage",
             "inputs": {"text": text}},
        ],
        "edges": [{"from": "form", "to": "notify"}],
    }


def make_version(kube: Kube, n: int, g: dict[str, Any] | None = None, wf: str = WF) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
                 "metadata": {"name": f"{wf}-v{n}"},
                 "spec": {"workflowRef": {"name": wf}, "version": n, "label": f"v{n}",
                          "graph": g or version_graph(f"v{n}")}})


def make_workflow(kube: Kube, wf: str = WF, **spec: Any) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow",
                 "metadata": {"name": wf}, "spec": spec})


def test_seed_worked_example(kube: Kube) -> None:
    for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
        kube.create(sample(name))
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Draft", 30, "workflow Draft")
    svc = kube.service(WF)
    cluster_ip = svc.spec.cluster_ip
    assert cluster_ip and not svc.spec.selector

    publish(kube, 1)
    live(kube, 1)
    publish(kube, 2)
    live(kube, 2)
    assert kube.phases(WF) == {1: "Inactive", 2: "Active"}

    # A teammate edits the live v2: it forks into draft v3; v2 keeps serving.
    edit = sample("edits/v2-add-email.yaml")
    kube.patch("WorkflowVersion", "form-to-slack-v2", {"spec": {"graph": edit["spec"]["graph"]}})
    wait_for(lambda: kube.phases(WF).get(3) == "Draft", 30, "fork v3")
    v3 = kube.versions(WF)[3]
    assert v3["spec"]["label"] == "Draft from v2"
    assert v3["status"]["forkedFrom"] == 2
    assert "nodes.form.output.body.email" in str(v3["spec"]["graph"])
    wait_for(lambda: "body.email }}" not in str(kube.versions(WF)[2]["spec"]["graph"]), 30,
             "v2 restored")
    assert kube.service(WF).metadata.annotations[ACTIVE] == "2"

    publish(kube, 3)
    live(kube, 3)
    assert kube.phases(WF) == {1: "Inactive", 2: "Inactive", 3: "Active"}
    status = kube.wf_status(WF)
    assert status["phase"] == "Published"
    assert status["latestVersion"] == 3
    assert status["lastPublish"]["result"] == "Succeeded"
    assert status["trigger"]["url"] == f"http://{WF}-trigger.{kube.ns}.svc/submit"
    svc = kube.service(WF)
    assert svc.spec.cluster_ip == cluster_ip  # stable across publishes
    assert svc.spec.selector == {"app.kubernetes.io/name": "flowplane-runtime"}
    plan = kube.core.read_namespaced_config_map(svc.metadata.annotations["flowplane.dev/plan"],
                                                kube.ns)
    assert plan.immutable is True
    assert plan.metadata.annotations["flowplane.dev/plan-hash"] == svc.metadata.annotations[
        "flowplane.dev/plan-hash"]
    assert plan.metadata.owner_references[0].kind == "WorkflowVersion"
    reasons = {e.reason for e in kube.events(WF)}
    assert {"Published", "Forked"} <= reasons


def test_failed_publish_keeps_previous_version_serving(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    before = kube.service(WF)
    kube.create(yaml.safe_load(
        (SAMPLES / "edits" / "v4-broken.yaml").read_text().replace("version: 4", "version: 2")
        .replace("form-to-slack-v4", "form-to-slack-v2")))
    publish(kube, 2)
    wait_for(lambda: kube.phases(WF).get(2) == "Invalid", 30, "v2 Invalid")
    status = wait_for(lambda: (s := kube.wf_status(WF)).get("lastPublish", {}).get(
        "result") == "Rejected" and s, 30, "rejection recorded")
    assert status["activeVersion"] == 1
    assert status["lastPublish"]["reason"] == "ValidationFailed"
    errors = kube.versions(WF)[2]["status"]["errors"]
    assert {"MultipleTriggers", "UnreachableNode"} <= {e["code"] for e in errors}
    after = kube.service(WF)
    assert after.metadata.annotations == before.metadata.annotations
    assert after.spec.selector == before.spec.selector
    assert kube.condition(WF, "Ready")["status"] == "False"  # type: ignore[index]
    warnings = [e for e in kube.events(WF) if e.type == "Warning"]
    assert any(e.reason == "PublishRejected" for e in warnings)


def test_deactivate_last_version(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    publish(kube, None)
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Draft", 30, "Draft")
    assert kube.phases(WF) == {1: "Inactive"}
    svc = kube.service(WF)
    assert not svc.spec.selector
    assert ACTIVE not in (svc.metadata.annotations or {})
    assert "activeVersion" not in kube.wf_status(WF)


def test_rollback_to_inactive_version(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    make_version(kube, 2)
    live(kube, 1)
    publish(kube, 2)
    live(kube, 2)
    publish(kube, 1)
    live(kube, 1)
    assert kube.phases(WF) == {1: "Active", 2: "Inactive"}
    assert kube.wf_status(WF)["lastPublish"]["reason"] == "RolledBack"


def test_fork_once_on_reapply_and_label_edit_never_forks(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kube.patch("WorkflowVersion", f"{WF}-v1", {"spec": {"label": "renamed"}})
    edited = version_graph("edited")
    for _ in range(3):
        kube.patch("WorkflowVersion", f"{WF}-v1", {"spec": {"graph": copy.deepcopy(edited)}})
        wait_for(lambda: kube.versions(WF)[1]["spec"]["graph"]["nodes"][1]["inputs"]["text"]
                 == "v1", 30, "v1 restored")
    wait_for(lambda: 2 in kube.versions(WF), 30, "fork")
    versions = kube.versions(WF)
    assert sorted(versions) == [1, 2]
    assert versions[1]["spec"]["label"] == "renamed"
    assert kube.phases(WF)[1] == "Active"


def test_revert_draft_to_live_graph(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    make_version(kube, 2, version_graph("experiment"))
    live(kube, 1)
    kube.patch("WorkflowVersion", f"{WF}-v2",
               {"metadata": {"annotations": {"flowplane.dev/revert": "first"}}})
    wait_for(lambda: kube.versions(WF)[2].get("status", {}).get("lastRevertToken") == "first",
             30, "revert recorded")
    v = kube.versions(WF)
    assert v[2]["spec"]["graph"] == v[1]["spec"]["graph"]


def test_safety_pause_blocks_publish_until_resume(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    make_version(kube, 2, {"nodes": [], "edges": []})
    live(kube, 1)
    kube.patch("Workflow", WF, {"status": {"safety": {
        "tripped": True, "reason": "RunRateExceeded", "message": "900 runs in 1m"}}}, status=True)
    wait_for(lambda: kube.wf_status(WF).get("phase") == "PausedSafety", 30, "paused")
    wait_for(lambda: not kube.service(WF).spec.selector, 30, "unwired")
    assert kube.condition(WF, "SafetyPaused")["status"] == "True"  # type: ignore[index]
    # fix the draft and publish: still rejected
    kube.patch("WorkflowVersion", f"{WF}-v2", {"spec": {"graph": version_graph("fixed")}})
    publish(kube, 2)
    wait_for(lambda: kube.wf_status(WF).get("lastPublish", {}).get("reason") == "SafetyPaused",
             30, "publish rejected while paused")
    assert kube.phases(WF)[1] == "Active"
    kube.patch("Workflow", WF, {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "ticket-42"}}})
    live(kube, 2)
    status = kube.wf_status(WF)
    assert status["safety"]["tripped"] is False
    assert status["safety"]["lastResumeToken"] == "ticket-42"
    assert status["phase"] == "Published"


def test_archive_and_suspend(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kube.patch("Workflow", WF, {"spec": {"suspend": True}})
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Disabled", 30, "Disabled")
    assert not kube.service(WF).spec.selector
    assert kube.wf_status(WF)["activeVersion"] == 1
    kube.patch("Workflow", WF, {"spec": {"suspend": False, "archived": True}})
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Archived", 30, "Archived")
    assert kube.phases(WF) == {1: "Inactive"}
    assert not kube.service(WF).spec.selector
    assert kube.wf_status(WF)["lastPublish"]["reason"] == "Archived"


def test_workflow_applied_before_its_versions(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=2)
    wait_for(lambda: (kube.condition(WF, "Published") or {}).get("reason") == "VersionNotFound",
             30, "waiting for v2")
    make_version(kube, 1)
    make_version(kube, 2)
    live(kube, 2)


def test_deleting_the_workflow_cascades(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kube.delete("Workflow", WF)
    wait_for(lambda: not kube.items("WorkflowVersion"), 60, "versions collected")
    wait_for(lambda: not kube.core.list_namespaced_config_map(
        kube.ns, label_selector="flowplane.dev/workflow").items, 60, "plans collected")
    wait_for(lambda: not kube.core.list_namespaced_service(kube.ns).items, 60, "service collected")


def test_quick_flips_never_show_two_active_versions(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    for n in (1, 2, 3):
        make_version(kube, n)
    live(kube, 1)
    w = kube.custom  # watch versions while flipping
    import threading

    from kubernetes import watch

    seen_two: list[dict[str, str]] = []
    phases: dict[str, str] = {}
    stop = threading.Event()

    def watcher() -> None:
        stream = watch.Watch()
        for event in stream.stream(w.list_namespaced_custom_object, "flowplane.dev", "v1alpha1",
                                   kube.ns, "workflowversions", timeout_seconds=60):
            obj = event["object"]
            phases[obj["metadata"]["name"]] = (obj.get("status") or {}).get("phase", "")
            if sum(1 for p in phases.values() if p == "Active") > 1:
                seen_two.append(dict(phases))
            if stop.is_set():
                stream.stop()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    for n in (2, 3, 1, 3, 2, 1, 2):
        publish(kube, n)
    live(kube, 2)
    stop.set()
    kube.patch("WorkflowVersion", f"{WF}-v1", {"spec": {"label": "poke"}})  # wake the watch
    thread.join(10)
    assert not seen_two, seen_two[:3]


def test_operator_restart_mid_way_converges(kube: Kube, running_operator: OperatorProcess) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    make_version(kube, 2)
    live(kube, 1)
    running_operator.kill()
    publish(kube, 2)
    kube.patch("WorkflowVersion", f"{WF}-v2", {"spec": {"label": "changed while down"}})
    running_operator.start()
    live(kube, 2)
    assert kube.phases(WF) == {1: "Inactive", 2: "Active"}


def test_tenant_held_to_a_plan_by_namespace_annotations(kube: Kube) -> None:
    kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
        "flowplane.dev/allowed-apps": "github"}}})
    make_workflow(kube)
    make_version(kube, 1)  # its action uses slack
    # Limits apply to drafts too: the draft shows the problem before anyone publishes.
    wait_for(lambda: "AppNotAllowed" in str(kube.versions(WF)[1].get("status", {}).get(
        "errors")), 30, "draft reports the plan limit")
    publish(kube, 1)
    wait_for(lambda: kube.phases(WF).get(1) == "Failed", 30, "v1 Failed on plan limits")
    codes = {e["code"] for e in kube.versions(WF)[1]["status"]["errors"]}
    assert codes == {"AppNotAllowed"}
    wait_for(lambda: kube.wf_status(WF).get("lastPublish", {}).get("reason") == "CompileFailed",
             30, "rejection recorded on the workflow")
    # The platform team lifts the limit: the pending publish goes through by itself.
    kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
        "flowplane.dev/allowed-apps": "github,slack"}}})
    live(kube, 1)


def test_kubectl_get_explains_itself(kube: Kube, kubeconfig: str) -> None:
    import subprocess

    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kubectl = Path(__file__).resolve().parents[2] / ".cache" / "bin" / "kubectl"
    out = subprocess.run([str(kubectl), "--kubeconfig", kubeconfig, "-n", kube.ns, "get",
                          "flows,wfv"], capture_output=True, text=True, check=True).stdout
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0] == ["NAME", "PHASE", "ACTIVE", "LATEST", "READY", "AGE"]
    assert lines[1][:5] == [f"workflow.flowplane.dev/{WF}", "Published", "1", "1", "True"]
    assert lines[2] == ["NAME", "WORKFLOW", "VERSION", "PHASE", "LABEL", "AGE"]
    assert lines[3][:5] == [f"workflowversion.flowplane.dev/{WF}-v1", WF, "1", "Active", "v1"]
    out = subprocess.run([str(kubectl), "--kubeconfig", kubeconfig, "get", "flowplane", "-A"],
                         capture_output=True, text=True, check=True).stdout
    assert f"{WF}-v1" in out  # the category lists both kinds


def test_names_taken_by_someone_else_are_never_hijacked(kube: Kube) -> None:
    foreign_plan = {"metadata": {"name": f"{WF}-v1-plan"}, "data": {"graph.json": "{}"}}
    kube.core.create_namespaced_config_map(kube.ns, foreign_plan)
    foreign_svc = {"metadata": {"name": f"{WF}-trigger"},
                   "spec": {"ports": [{"port": 80}], "selector": {"app": "theirs"}}}
    kube.core.create_namespaced_service(kube.ns, foreign_svc)
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    ready = wait_for(lambda: (c := kube.condition(WF, "Ready")) and c["reason"] ==
                     "ServiceConflict" and c, 30, "ServiceConflict reported")
    assert ready["status"] == "False"
    svc = kube.service(WF)
    assert svc.spec.selector == {"app": "theirs"} and not svc.metadata.owner_references
    theirs = kube.core.read_namespaced_config_map(f"{WF}-v1-plan", kube.ns)
    assert theirs.data == {"graph.json": "{}"}
    assert kube.wf_status(WF)["trigger"]["enabled"] is False
