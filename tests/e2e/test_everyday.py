"""Issue 12, everyday use: what a platform team meets in its first week (one test per item).

Each test drives the real API server the way a user or a GitOps tool does and fails on
the behaviour the issue reported.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for
from tests.e2e.sentinel import edit_answered
from tests.e2e.test_workflows import WF, live, make_version, make_workflow, publish

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "form-to-slack"
RESUME = "flowplane.dev/resume-from-safety"

pytestmark = pytest.mark.usefixtures("running_operator")


def _trip(kube: Kube) -> None:
    kube.patch("Workflow", WF, {"status": {"safety": {
        "tripped": True, "reason": "RunRateExceeded", "message": "900 runs in 1m"}}}, status=True)
    wait_for(lambda: kube.wf_status(WF).get("phase") == "PausedSafety", 30, "paused")


def _ready(kube: Kube, name: str = WF) -> dict[str, Any]:
    return kube.condition(name, "Ready") or {}


def _observed(kube: Kube, name: str = WF) -> bool:
    wf = kube.workflow(name)
    return bool((wf.get("status") or {}).get("observedGeneration")
                == wf["metadata"]["generation"])


# ------------------------------------------------------------------ item 7


def test_deactivate_and_archive_while_paused(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    make_version(kube, 2)
    live(kube, 1)
    _trip(kube)

    # Deactivating while paused retires the live version; the pause stays.
    publish(kube, None)
    wait_for(lambda: kube.phases(WF) == {1: "Inactive", 2: "Draft"}, 30, "v1 retired")
    wait_for(lambda: _observed(kube), 30, "observed")
    status = kube.wf_status(WF)
    assert status["phase"] == "PausedSafety"
    assert "activeVersion" not in status
    assert status["safety"]["tripped"] is True
    assert (kube.condition(WF, "SafetyPaused") or {}).get("status") == "True"
    svc = kube.service(WF)
    assert not svc.spec.selector
    assert "flowplane.dev/active-version" not in (svc.metadata.annotations or {})
    assert any(e.reason == "Deactivated" for e in kube.events(WF))

    # Publishing (activating) stays refused while paused.
    publish(kube, 2)
    wait_for(lambda: (kube.wf_status(WF).get("lastPublish") or {}).get("reason")
             == "SafetyPaused", 30, "publish rejected while paused")
    assert kube.phases(WF) == {1: "Inactive", 2: "Draft"}

    # Resume: the wanted version goes live; trip again and archive: nothing is live.
    kube.patch("Workflow", WF, {"metadata": {"annotations": {RESUME: "t1"}}})
    live(kube, 2)
    _trip(kube)
    kube.patch("Workflow", WF, {"spec": {"archived": True, "publishedVersion": None}})
    wait_for(lambda: kube.phases(WF) == {1: "Inactive", 2: "Inactive"}, 30, "archived")
    wait_for(lambda: _observed(kube), 30, "observed")
    status = kube.wf_status(WF)
    assert status["phase"] == "Archived" and "activeVersion" not in status
    assert status["safety"]["tripped"] is True  # still needs a resume
    assert not kube.service(WF).spec.selector


# ------------------------------------------------------------------ item 3


def test_archive_with_published_version_set_is_ready(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kube.patch("Workflow", WF, {"spec": {"archived": True}})  # publishedVersion stays 1
    wait_for(lambda: _ready(kube).get("status") == "True" and _observed(kube), 30,
             "Ready once archived")
    ready = _ready(kube)
    assert ready["reason"] == "Archived"
    assert "remove it" in ready["message"] and "spec.publishedVersion" in ready["message"]
    assert "spec.archived=false" not in ready["message"]
    status = kube.wf_status(WF)
    assert status["phase"] == "Archived" and "activeVersion" not in status
    assert kube.phases(WF) == {1: "Inactive"}
    assert "spec.publishedVersion" in status["lastPublish"]["message"]


# ------------------------------------------------------------------ item 5


def test_duplicate_version_says_delete_it(kube: Kube) -> None:
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)
    live(kube, 1)
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
                 "metadata": {"name": f"{WF}-v1-copy"},
                 "spec": {"workflowRef": {"name": WF}, "version": 1, "label": "copy",
                          "graph": {"nodes": [], "edges": []}}})

    def errors() -> list[dict[str, Any]] | None:
        found = (kube.get("WorkflowVersion", f"{WF}-v1-copy").get("status") or {}).get("errors")
        return found if found else None
    dup = next(e for e in wait_for(errors, 30, "duplicate reported")
               if e["code"] == "DuplicateVersion")
    assert "delete it" in dup["message"]
    assert "renumber" not in dup["message"]


# ------------------------------------------------------------------ item 6


def test_orphan_version_says_its_workflow_is_missing(kube: Kube) -> None:
    make_version(kube, 1, wf="no-such-flow")

    def found() -> dict[str, Any] | None:
        conds = (kube.get("WorkflowVersion", "no-such-flow-v1").get("status") or {}).get(
            "conditions", [])
        return next((c for c in conds if c["type"] == "WorkflowFound"), None)
    cond = wait_for(found, 30, "WorkflowFound condition")
    assert cond["status"] == "False" and cond["reason"] == "WorkflowNotFound"
    assert "no-such-flow" in cond["message"]

    def warnings() -> list[Any]:
        return [e for e in kube.events("no-such-flow-v1")
                if e.reason == "WorkflowNotFound" and e.type == "Warning"]
    wait_for(warnings, 30, "WorkflowNotFound event")
    # Another reconcile (a label edit) says nothing new.
    kube.patch("WorkflowVersion", "no-such-flow-v1", {"spec": {"label": "relabelled"}})
    wait_for(lambda: (kube.get("WorkflowVersion", "no-such-flow-v1")["status"]
                      ["observedGeneration"] == 2), 30, "relabel observed")
    edit_answered(kube, "no-such-flow-v1")  # that pass and one more are over
    assert len(warnings()) == 1

    make_workflow(kube, "no-such-flow")
    wait_for(lambda: (found() or {}).get("status") == "True", 30, "WorkflowFound=True")
    assert len(warnings()) == 1


# ------------------------------------------------------------------ item 1


def test_server_side_apply_after_a_fork_names_the_operator(kube: Kube, kubeconfig: str) -> None:
    kubectl = find_kubectl()

    def apply(*files: str, force: bool = False) -> subprocess.CompletedProcess[str]:
        argv = [*kubectl, "--kubeconfig", kubeconfig, "-n", kube.ns, "apply", "--server-side",
                "--field-manager=argocd-controller",
                *(["--force-conflicts"] if force else [])]
        for name in files:
            argv += ["-f", str(SAMPLES / name)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    first = apply("workflow.yaml", "v1.yaml", "v2.yaml")
    assert first.returncode == 0, first.stderr
    publish(kube, 2)
    live(kube, 2)
    edited = apply("edits/v2-add-email.yaml")
    assert edited.returncode == 0, edited.stderr
    wait_for(lambda: kube.phases(WF).get(3) == "Draft", 30, "fork to v3")
    live(kube, 2)

    again = apply("edits/v2-add-email.yaml")
    assert again.returncode != 0
    assert "conflict" in again.stderr and "flowplane-operator" in again.stderr, again.stderr
    assert "OpenAPI-Generator" not in again.stderr

    before = kube.get("WorkflowVersion", f"{WF}-v2")["metadata"]["generation"]
    forced = apply("edits/v2-add-email.yaml", force=True)
    assert forced.returncode == 0, forced.stderr

    def restored() -> bool:
        v2 = kube.get("WorkflowVersion", f"{WF}-v2")
        notify = next(n for n in v2["spec"]["graph"]["nodes"] if n["id"] == "notify")
        return (v2["metadata"]["generation"] >= before + 2
                and notify["inputs"]["text"] == "New form submission")
    # The forced edit is undone again without a second fork.
    wait_for(restored, 30, "v2 restored after the forced apply")
    edit_answered(kube, f"{WF}-v1")  # a fork would have been made before this is answered
    live(kube, 2)
    assert sorted(kube.phases(WF)) == [1, 2, 3]


# ------------------------------------------------------------------ issue 12.10


def test_get_wide_shows_each_versions_size_and_a_short_hash(kube: Kube, kubeconfig: str) -> None:
    make_workflow(kube)
    make_version(kube, 1)
    wait_for(lambda: (kube.get("WorkflowVersion", f"{WF}-v1").get("status") or {})
             .get("shortHash"), 30, "v1 validated")
    status = kube.get("WorkflowVersion", f"{WF}-v1")["status"]
    got = subprocess.run([*find_kubectl(), "--kubeconfig", kubeconfig, "-n", kube.ns,
                          "get", "workflowversion", f"{WF}-v1", "-o", "wide"],
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()[:2]
    nodes_at, hash_at = header.index("NODES"), header.index("HASH")
    assert row[nodes_at:hash_at].strip() == str(status["nodeCount"])
    assert status["nodeCount"] > 1
    assert row[hash_at:].split()[0] == status["graphHash"].removeprefix("sha256:")[:12]
