"""`kubectl flowplane` against the real API server with the operator running.

Most commands run in-process (`flowplane.cli.main.main`, the console script's function);
one test runs the plugin the way users do, `kubectl flowplane ...`, found on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplane.cli.main import main
from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess
from tests.e2e.plugin_helpers import Plugin, failed, ok
from tests.e2e.runtime_helpers import host_of, send

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "form-to-slack"
WF = "form-to-slack"

pytestmark = pytest.mark.usefixtures("running_operator")


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return doc


def seed(kube: Kube) -> None:
    for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
        kube.create(sample(name))
    wait_for(lambda: kube.phases(WF) == {1: "Draft", 2: "Draft"}, 30, "versions validated")


def test_publish_rollback_drafts_and_the_versions_table(kube: Kube, plugin: Plugin) -> None:
    seed(kube)
    table = ok(plugin("versions", WF)).out.splitlines()
    assert table[0].split() == ["VERSION", "NAME", "PHASE", "LABEL", "LIVE", "FORKED-FROM",
                                "ERRORS", "AGE"]
    assert table[1].split()[:3] == ["1", "form-to-slack-v1", "Draft"]

    out = ok(plugin("publish", WF, "1", "--wait")).out
    assert out.splitlines() == [f"workflow/{WF}: publish of v1 (form-to-slack-v1) requested",
                                f"workflow/{WF}: v1 is live"]
    ok(plugin("publish", WF, "2", "--wait", "--timeout", "30"))
    assert kube.phases(WF) == {1: "Inactive", 2: "Active"}
    header, *lines = ok(plugin("versions", WF)).out.splitlines()
    rows = {line.split()[0]: line for line in lines}
    live_col = header.index("LIVE")
    assert rows["2"][live_col] == "*" and rows["1"][live_col] == " "
    assert " Inactive " in rows["1"] and " Active " in rows["2"]

    assert "v1 is live" in ok(plugin("rollback", WF, "1", "--wait")).out
    assert kube.wf_status(WF)["lastPublish"]["reason"] == "RolledBack"
    failed(plugin("rollback", WF, "1"), "v1 is already live")

    # new drafts: copy of the live version, or of --from N
    out = ok(plugin("new-draft", WF)).out
    assert 'workflowversion/form-to-slack-v3 created: v3 "Draft from v1"' in out
    ok(plugin("new-draft", WF, "--from", "2"))
    versions = kube.versions(WF)
    assert versions[3]["spec"]["graph"] == versions[1]["spec"]["graph"]
    assert versions[4]["spec"]["graph"] == versions[2]["spec"]["graph"]
    assert versions[4]["spec"]["label"] == "Draft from v2"
    failed(plugin("rollback", WF, "3"), "v3 cannot be rolled back to: it is Draft",
           f"kubectl flowplane publish {WF} 3")
    failed(plugin("new-draft", WF, "--from", "9"), f"workflow {WF} has no version 9")

    # revert draft v4 to the live graph (v1's)
    assert "revert to the graph of live v1 requested" in ok(
        plugin("revert", "form-to-slack-v4")).out
    wait_for(lambda: kube.versions(WF)[4]["spec"]["graph"] == versions[1]["spec"]["graph"], 30,
             "v4 reverted")
    failed(plugin("revert", "form-to-slack-v1"), "v1 is the live version")
    failed(plugin("revert", "nope-v9"), 'workflowversion "nope-v9" not found')

    # deactivate
    assert "deactivated; nothing is live" in ok(plugin("deactivate", WF, "--wait")).out
    assert kube.wf_status(WF)["phase"] == "Draft"
    assert "nothing to deactivate" in ok(plugin("deactivate", WF)).out
    failed(plugin("new-draft", WF), "has no live version to copy")


def test_safety_trip_blocks_until_resume(kube: Kube, plugin: Plugin) -> None:
    seed(kube)
    ok(plugin("publish", WF, "1", "--wait"))
    out = ok(plugin("trip", WF, "--reason", "RunRateExceeded", "--message", "900 runs/min")).out
    assert "safety pause tripped (RunRateExceeded)" in out
    wait_for(lambda: kube.wf_status(WF).get("phase") == "PausedSafety", 30, "paused")
    assert kube.condition(WF, "SafetyPaused")["reason"] == "RunRateExceeded"  # type: ignore[index]
    assert not kube.service(WF).spec.selector

    failed(plugin("publish", WF, "2"),
           f"publishing is blocked by a safety pause; run `kubectl flowplane resume {WF}`")
    failed(plugin("rollback", WF, "2"), "blocked by a safety pause")
    assert kube.workflow(WF)["spec"]["publishedVersion"] == 1  # nothing was written

    out = ok(plugin("resume", WF, "--wait")).out
    assert f"workflow/{WF}: resumed; v1 is live" in out
    status = kube.wf_status(WF)
    assert status["phase"] == "Published" and status["safety"]["tripped"] is False
    assert kube.service(WF).spec.selector
    assert "not paused" in ok(plugin("resume", WF)).out
    ok(plugin("publish", WF, "2", "--wait"))


def test_rejections_and_operation_errors(kube: Kube, plugin: Plugin) -> None:
    seed(kube)
    broken = sample("edits/v4-broken.yaml")
    kube.create(broken)
    ok(plugin("publish", WF, "1", "--wait"))
    failed(plugin("publish", WF, "4", "--wait"),
           f"workflow/{WF}: publish of v4 was rejected (ValidationFailed)", "MultipleTriggers")
    assert kube.wf_status(WF)["activeVersion"] == 1
    assert ok(plugin("versions", WF)).out.splitlines()[-1].split()[:3] == [
        "4", "form-to-slack-v4", "Invalid"]

    failed(plugin("versions", "nope"), f'workflow "nope" not found in namespace "{kube.ns}"')
    failed(plugin("publish", "nope", "1"), 'workflow "nope" not found')
    failed(plugin("publish", WF, "7"), f"workflow {WF} has no version 7 (versions: v1, v2, v4)")
    failed(plugin("diff", WF, "1", "7"), "has no version 7")
    failed(plugin("graph", WF, "7"), "has no version 7")

    kube.patch("Workflow", WF, {"spec": {"archived": True}})
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Archived", 30, "archived")
    failed(plugin("publish", WF, "2"), f"workflow {WF} is archived")
    failed(plugin("graph", WF), f"workflow {WF} has no live version")



def test_wait_times_out_without_an_operator(kube: Kube, plugin: Plugin,
                                            running_operator: OperatorProcess) -> None:
    seed(kube)
    ok(plugin("publish", WF, "1", "--wait"))
    running_operator.stop()
    try:
        failed(plugin("publish", WF, "2", "--wait", "--timeout", "1"),
               "timed out after 1s waiting for v2 to go live; Ready=True Published")
    finally:
        running_operator.start()
    ok(plugin("publish", WF, "2", "--wait"))


def test_diff_and_graph(kube: Kube, plugin: Plugin) -> None:
    seed(kube)
    ok(plugin("publish", WF, "2", "--wait"))
    out = ok(plugin("diff", WF, "1", "2")).out
    assert out.splitlines()[:2] == ["--- v1 (form-to-slack-v1)", "+++ v2 (form-to-slack-v2)"]
    assert "  + has-email (system/branch)" in out
    assert "  + has-email -[true]-> notify" in out
    assert "  - form -> notify" in out
    unified = ok(plugin("diff", WF, "1", "2", "--unified")).out
    assert unified.startswith("--- v1 (form-to-slack-v1)\n+++ v2 (form-to-slack-v2)\n@@")
    assert "no differences" in ok(plugin("diff", WF, "2", "2")).out

    mermaid = ok(plugin("graph", WF)).out  # the live version, v2
    assert mermaid.startswith(f"%% {WF} v2\nflowchart TD\n")
    assert "n_has_email -->|true| n_notify" in mermaid
    assert "class n_form trigger" in mermaid
    dot = ok(plugin("graph", WF, "1", "--format", "dot")).out
    assert dot.startswith(f'digraph "{WF} v1" {{')
    assert '"form" -> "notify";' in dot
    assert 'shape=ellipse, style="filled,bold"' in dot


def test_namespace_and_context_come_from_the_kubeconfig(kube: Kube, kubeconfig: str,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    seed(kube)
    config = yaml.safe_load(Path(kubeconfig).read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    current["context"]["namespace"] = kube.ns
    config["contexts"].append({"name": "elsewhere",
                               "context": {**current["context"], "namespace": "default"}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))

    capsys.readouterr()
    assert main(["versions", WF, "--kubeconfig", str(path)]) == 0
    assert "form-to-slack-v2" in capsys.readouterr().out
    assert main(["--kubeconfig", str(path), "--context", "elsewhere", "versions", WF]) == 1
    assert 'not found in namespace "default"' in capsys.readouterr().err
    assert main(["--kubeconfig", str(path), "--context", "elsewhere", "-n", kube.ns,
                 "versions", WF]) == 0
    assert main(["--kubeconfig", str(path), "--context", "missing", "versions", WF]) == 1
    assert "cannot load the Kubernetes configuration" in capsys.readouterr().err


def test_as_a_kubectl_plugin(kube: Kube, kubeconfig: str) -> None:
    """`kubectl flowplane` finds `kubectl-flowplane` on PATH and passes its exit code back."""
    seed(kube)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kubectl-flowplane").exists()
    env = {**os.environ, "KUBECONFIG": kubeconfig,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*find_kubectl(), "flowplane", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    published = kubectl("publish", WF, "1", "-n", kube.ns, "--wait")
    assert published.returncode == 0, published.stderr
    assert "v1 is live" in published.stdout
    listed = kubectl("versions", WF, "-n", kube.ns)
    assert listed.returncode == 0 and "form-to-slack-v1" in listed.stdout
    missing = kubectl("publish", WF, "8", "-n", kube.ns)
    assert missing.returncode == 1 and "has no version 8" in missing.stderr
    usage = kubectl("publish", WF)
    assert usage.returncode == 2 and "usage: kubectl flowplane" in usage.stderr


@pytest.mark.usefixtures("running_runtime")
def test_publishing_a_suspended_workflow_says_nothing_routes(kube: Kube, plugin: Plugin,
                                                               runtime: RuntimeProcess) -> None:
    """Suspend keeps the pointer (activeVersion, the version Active) and unwires the trigger:
    the plugin, the status, the Service and the runtime all say the same thing."""
    seed(kube)
    kube.patch("Workflow", WF, {"spec": {"suspend": True}})
    out = ok(plugin("publish", WF, "1", "--wait")).out
    assert out.splitlines()[-1] == (
        f"workflow/{WF}: v1 is active; trigger unwired while suspended")

    status = kube.wf_status(WF)
    assert (status["phase"], status["activeVersion"]) == ("Disabled", 1)
    assert status["trigger"]["enabled"] is False
    assert kube.phases(WF) == {1: "Active", 2: "Draft"}
    ready = kube.condition(WF, "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("True", "Suspended")
    assert (kube.condition(WF, "TriggerWired") or {}).get("reason") == "Suspended"
    svc = kube.service(WF)
    assert not svc.spec.selector
    assert "flowplane.dev/active-version" not in (svc.metadata.annotations or {})
    answer = send(runtime, host_of(kube, WF), "/submit", {"x": 1})
    assert (answer.status, answer.body["error"]) == (404, "NotLive")

    # Resuming routes to the version that stayed active, with no publish.
    kube.patch("Workflow", WF, {"spec": {"suspend": False}})
    wait_for(lambda: send(runtime, host_of(kube, WF), "/submit", {"x": 1}).status == 202,
             30, "routing again after unsuspend")
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Published", 30, "Published")
    assert (kube.condition(WF, "Ready") or {}).get("message") == "v1 is live"


def test_versions_marks_only_the_live_duplicate_and_prints_labels_safely(
        kube: Kube, plugin: Plugin) -> None:
    """Issue 12.5 and 12.9: a duplicate of the live number is not LIVE; a label cannot
    break the table or reorder the terminal (newlines, an RTL override, an escape)."""
    seed(kube)
    ok(plugin("publish", WF, "1", "--wait"))
    copy = sample("v1.yaml")
    copy["metadata"]["name"] = f"{WF}-v1-copy"
    copy["spec"]["label"] = "two\nlines \u202eevil \x1b[2Jclear"
    kube.create(copy)
    wait_for(lambda: any(e.get("code") == "DuplicateVersion" for e in (
        kube.get("WorkflowVersion", f"{WF}-v1-copy").get("status") or {}).get("errors") or []),
        30, "the duplicate reported")
    out = ok(plugin("versions", WF)).out
    header, *lines = out.splitlines()
    assert len(lines) == 3, out  # one line per version: the label's newline is gone
    assert "\u202e" not in out and "\x1b" not in out
    rows = {line.split()[1]: line for line in lines}
    live_col = header.index("LIVE")
    assert rows[f"{WF}-v1"][live_col] == "*"
    assert rows[f"{WF}-v1-copy"][live_col] == " "
    assert "two lines ?evil ?[2Jclear" in rows[f"{WF}-v1-copy"]
