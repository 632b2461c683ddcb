"""Version retention (spec.versionHistoryLimit) on a real API server.

The operator deletes the oldest Inactive versions beyond the limit, and the garbage
collector takes their plans; never the active version, a Draft, or a version that a
non-finished WorkflowRun is pinned to. A dedicated operator runs with a retention grace
of 0 (the default, 60 s, covers runs pinned a moment after a version was retired), so
the test waits on conditions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import GROUP, VERSION
from flowplane.model.run import RUN_PLURAL
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.test_workflows import live, make_version, make_workflow, publish

WF = "form-to-slack"
ANN_PLAN = "flowplane.dev/plan"
ANN_PLAN_HASH = "flowplane.dev/plan-hash"


@pytest.fixture
def retention_operator(operator: OperatorProcess, kube: Kube, kubeconfig: str,
                       tmp_path: Path) -> Iterator[OperatorProcess]:
    """The session operator stops; one with no retention grace watches this namespace."""
    operator.stop()
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", extra_args=[
        "--namespace", kube.ns, "--version-retention-grace", "0"])
    try:
        proc.start()
        yield proc
    finally:
        print(f"retention operator log: {proc.log_path}")
        proc.stop()
        operator.start()


def create_run(kube: Kube, name: str, version: int) -> None:
    """A WorkflowRun pinned to what the trigger Service names now, then Running."""
    ann = kube.service(WF).metadata.annotations
    assert ann["flowplane.dev/active-version"] == str(version)
    custom: Any = kube.custom
    custom.create_namespaced_custom_object(GROUP, VERSION, kube.ns, RUN_PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkflowRun",
        "metadata": {"name": name, "labels": {"flowplane.dev/workflow": WF,
                                              "flowplane.dev/version": str(version)}},
        "spec": {"workflowRef": {"name": WF}, "version": version,
                 "plan": {"configMap": ann[ANN_PLAN], "hash": ann[ANN_PLAN_HASH]},
                 "trigger": {"type": "manual"},
                 "event": {"receivedAt": "2026-11-22T10:00:00Z"}},
    })
    set_run_phase(kube, name, "Running")


def set_run_phase(kube: Kube, name: str, phase: str) -> None:
    custom: Any = kube.custom
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, kube.ns, RUN_PLURAL, name, {"status": {"phase": phase}},
        _content_type="application/merge-patch+json")


def plan_exists(kube: Kube, name: str) -> bool:
    core: Any = client.CoreV1Api(kube.api)
    try:
        core.read_namespaced_config_map(name, kube.ns)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_retired_versions_beyond_the_limit_go_unless_a_run_needs_them(
        kube: Kube, retention_operator: OperatorProcess) -> None:
    make_workflow(kube, versionHistoryLimit=1)
    for n in range(1, 6):
        make_version(kube, n)
    publish(kube, 1)
    live(kube, 1)
    v1_plan = kube.service(WF).metadata.annotations[ANN_PLAN]
    create_run(kube, "form-to-slack-run-1", 1)
    for n in (2, 3):
        publish(kube, n)
        live(kube, n)
    v2_plan = kube.versions(WF)[2]["status"]["plan"]["configMap"]
    assert plan_exists(kube, v2_plan)
    publish(kube, 4)
    live(kube, 4)

    # v3 is the newest Inactive one (kept by the limit), v2 goes, v1 is pinned by a run.
    wait_for(lambda: 2 not in kube.phases(WF), 30, "v2 deleted")
    assert kube.phases(WF) == {1: "Inactive", 3: "Inactive", 4: "Active", 5: "Draft"}
    wait_for(lambda: not plan_exists(kube, v2_plan), 90, "v2's plan garbage-collected")
    assert plan_exists(kube, v1_plan)
    assert any(e.reason == "VersionDeleted" and "v2" in e.message for e in kube.events(WF))

    # The run finishes: nothing needs v1 any more.
    set_run_phase(kube, "form-to-slack-run-1", "Succeeded")
    wait_for(lambda: 1 not in kube.phases(WF), 30, "v1 deleted after its run finished")
    assert kube.phases(WF) == {3: "Inactive", 4: "Active", 5: "Draft"}
    wait_for(lambda: not plan_exists(kube, v1_plan), 60, "v1's plan garbage-collected")

    # Limit 0: every Inactive version goes, never the active one or a Draft.
    kube.patch("Workflow", WF, {"spec": {"versionHistoryLimit": 0}})
    wait_for(lambda: 3 not in kube.phases(WF), 30, "v3 deleted at limit 0")
    assert kube.phases(WF) == {4: "Active", 5: "Draft"}
    live(kube, 4)
    status = kube.wf_status(WF)
    assert status["phase"] == "Published" and status["latestVersion"] == 5
