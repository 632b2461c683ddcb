"""`kubectl flowplane runs | run | replay | logs` on the real API server, operator running.

No runtime executes the runs here: the tests check what the plugin writes (a run pinned
to what the trigger Service names, owned by its Workflow; a replay annotation) and what
it shows for a run whose status the test writes itself, as the runtime would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplane.model.resources import GROUP, VERSION
from flowplane.model.run import ANN_REPLAY, RUN_PLURAL
from flowplane.model.timestamps import format_timestamp
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import RuntimeProcess
from tests.e2e.plugin_helpers import Plugin, failed, ok

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "form-to-slack"
WF = "form-to-slack"
STARTED = re.compile(r"run (form-to-slack-[a-z0-9]{8}) started on v(\d+)")

pytestmark = pytest.mark.usefixtures("running_operator")


def seed(kube: Kube) -> None:
    for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
        kube.create(yaml.safe_load((SAMPLES / name).read_text()))
    wait_for(lambda: kube.phases(WF) == {1: "Draft", 2: "Draft"}, 30, "versions validated")


def get_run(kube: Kube, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kube.custom.get_namespaced_custom_object(
        GROUP, VERSION, kube.ns, RUN_PLURAL, name)
    return result


def list_runs(kube: Kube) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.custom.list_namespaced_custom_object(
        GROUP, VERSION, kube.ns, RUN_PLURAL)["items"]
    return items


def patch_run_status(kube: Kube, name: str, status: dict[str, Any]) -> None:
    kube.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, kube.ns, RUN_PLURAL, name, {"status": status},
        _content_type="application/merge-patch+json")


def stamp(when: datetime) -> str:
    return format_timestamp(when)


def start(plugin: Plugin, *argv: str) -> tuple[str, int]:
    out = ok(plugin("run", WF, *argv)).out
    match = STARTED.fullmatch(out.strip())
    assert match, out
    return match.group(1), int(match.group(2))


def test_run_is_pinned_to_what_the_trigger_service_names(kube: Kube, plugin: Plugin,
                                                        runtime_stopped: None) -> None:
    seed(kube)
    failed(plugin("run", WF), f"workflow {WF} has no live version",
           "nothing is published (phase Draft)", f"kubectl flowplane publish {WF} N")
    assert list_runs(kube) == []

    ok(plugin("publish", WF, "2", "--wait"))
    name, number = start(plugin, "--data", '{"email": "a@b.c", "n": [1, 2]}')
    annotations = kube.service(WF).metadata.annotations
    assert number == int(annotations["flowplane.dev/active-version"]) == 2
    run = get_run(kube, name)
    spec = run["spec"]
    assert spec["version"] == 2
    assert spec["plan"] == {"configMap": annotations["flowplane.dev/plan"],
                            "hash": annotations["flowplane.dev/plan-hash"]}
    assert spec["workflowRef"] == {"name": WF}
    assert spec["trigger"] == {"type": "manual"}
    assert spec["event"]["body"] == {"email": "a@b.c", "n": [1, 2]}
    assert spec["event"]["receivedAt"]
    labels = run["metadata"]["labels"]
    assert labels["flowplane.dev/workflow"] == WF and labels["flowplane.dev/version"] == "2"
    (owner,) = run["metadata"]["ownerReferences"]
    workflow = kube.workflow(WF)
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Workflow", WF, workflow["metadata"]["uid"])

    # the pin follows the Service: after a rollback, new runs start on v1
    ok(plugin("publish", WF, "1", "--wait"))
    name_v1, number = start(plugin)
    assert number == 1
    v1 = get_run(kube, name_v1)["spec"]
    assert v1["plan"]["configMap"] == kube.service(WF).metadata.annotations["flowplane.dev/plan"]
    assert v1["event"].get("body") is None  # the API server drops a null field
    assert get_run(kube, name)["spec"]["version"] == 2  # the earlier run keeps its pin

    # no runtime here: --wait says the run was never claimed
    failed(plugin("run", WF, "--wait", "--timeout", "1"), "timed out after 1s",
           "no runtime has claimed it")

    bad = plugin("run", WF, "--data", "{email: a@b.c}")
    assert bad.code == 2 and "the data is not valid JSON" in bad.err, bad

    # deactivated: nothing is live again
    ok(plugin("deactivate", WF, "--wait"))
    failed(plugin("run", WF), f"workflow {WF} has no live version")
    failed(plugin("run", "nope"), f'workflow "nope" not found in namespace "{kube.ns}"')

    # owned by the Workflow: deleting it deletes its runs
    # (up to ~30 s when the CRD is new: the garbage collector discovers new resources on
    # a 30 s resync)
    kube.delete("Workflow", WF)
    wait_for(lambda: not list_runs(kube), 90, "runs garbage-collected with their Workflow")


def test_run_while_paused_is_refused(kube: Kube, plugin: Plugin) -> None:
    seed(kube)
    ok(plugin("publish", WF, "1", "--wait"))
    ok(plugin("trip", WF, "--reason", "RunRateExceeded", "--message", "900 runs/min"))
    failed(plugin("run", WF), "paused by a safety check (RunRateExceeded: 900 runs/min)",
           f"kubectl flowplane resume {WF}")
    wait_for(lambda: not (kube.service(WF).metadata.annotations or {}).get(
        "flowplane.dev/active-version"), 30, "trigger unwired")
    failed(plugin("run", WF), "paused by a safety check")
    assert list_runs(kube) == []


@pytest.fixture
def runtime_stopped(runtime: RuntimeProcess) -> Iterator[None]:
    """The statuses below stand in for the runtime's answers: the real one must not race
    them (it would answer the same replay requests), so it is stopped for the test."""
    runtime.stop()
    try:
        yield
    finally:
        runtime.start()


def test_runs_logs_and_replay_show_what_the_runtime_recorded(kube: Kube, plugin: Plugin,
                                                             runtime_stopped: None) -> None:
    seed(kube)
    assert "No runs found" in ok(plugin("runs", WF)).err
    failed(plugin("runs", "nope"), 'workflow "nope" not found')

    ok(plugin("publish", WF, "1", "--wait"))
    first, _ = start(plugin, "--data", '{"email": "a@b.c"}')
    now = datetime.now(UTC)
    began = stamp(now - timedelta(minutes=20))
    ended = stamp(now - timedelta(minutes=20) + timedelta(seconds=2))
    patch_run_status(kube, first, {
        "phase": "Failed",
        "startedAt": began, "finishedAt": ended,
        "duration": "2s",
        "steps": [
            {"node": "form", "phase": "Succeeded", "startedAt": began,
             "finishedAt": began, "output": {"body": {"email": "a@b.c"}}},
            {"node": "notify", "phase": "Failed", "startedAt": began,
             "finishedAt": ended,
             "error": {"code": "AppNotAvailable", "message": "no connector for app slack"}},
        ],
        "error": {"code": "StepFailed", "node": "notify",
                  "message": "AppNotAvailable: no connector for \x1b[31mslack\nnow"},
    })
    ok(plugin("publish", WF, "2", "--wait"))
    second, _ = start(plugin)

    header, *rows = ok(plugin("runs", WF)).out.splitlines()
    assert header.split() == ["NAME", "VERSION", "TRIGGER", "PHASE", "STARTED", "DURATION",
                              "ERROR", "AGE"]
    assert {r.split()[0] for r in rows} == {first, second}
    by_name = {r.split()[0]: r for r in rows}
    assert by_name[first].split()[1:6] == ["1", "manual", "Failed", "20m", "2s"]
    assert "StepFailed (notify): AppNotAvailable: no connector for ?[..." in by_name[first]
    assert by_name[second].split()[1:4] == ["2", "manual", "<pending>"]
    limited = ok(plugin("runs", WF, "--limit", "1")).out.splitlines()
    assert len(limited) == 2

    logs = ok(plugin("logs", first)).out
    lines = logs.splitlines()
    assert lines[:8] == [
        f"Run:       {first}",
        f"Workflow:  {WF}",
        "Version:   v1 (plan form-to-slack-v1-plan)",
        "Trigger:   manual",
        "Phase:     Failed",
        lines[5],  # started, with its age
        "Duration:  2s",
        "Error:     StepFailed (notify): AppNotAvailable: no connector for ?[31mslack now",
    ]
    assert lines[5] == f"Started:   {began} (20m ago)"
    steps = lines[lines.index("") + 1:]
    assert steps[0].split() == ["NODE", "PHASE", "DURATION", "DETAIL"]
    assert steps[1].split() == ["form", "Succeeded", "0s", '{"body":{"email":"a@b.c"}}']
    assert steps[2].split()[:3] == ["notify", "Failed", "2s"]
    assert steps[2].endswith("AppNotAvailable: no connector for app slack")
    assert "No steps recorded yet." in ok(plugin("logs", second)).out
    failed(plugin("logs", "nope"), 'workflowrun "nope" not found')

    # replay: refused while a run is unfinished; a finished one gets the annotation
    failed(plugin("replay", second), f"run {second} is Pending",
           "only a finished run (Succeeded or Failed) can be replayed")
    patch_run_status(kube, second, {"phase": "Running", "startedAt": stamp(now)})
    failed(plugin("replay", second, "--wait"), f"run {second} is Running")
    assert ANN_REPLAY not in (get_run(kube, second)["metadata"].get("annotations") or {})

    out = ok(plugin("replay", first, "--token", "ticket-7")).out
    assert out == f"workflowrun/{first}: replay requested (token ticket-7)\n"
    assert get_run(kube, first)["metadata"]["annotations"][ANN_REPLAY] == "ticket-7"
    out = ok(plugin("replay", first)).out
    token = get_run(kube, first)["metadata"]["annotations"][ANN_REPLAY]
    assert token != "ticket-7" and f"(token {token})" in out

    # what the runtime records answers --wait (and a token it already handled)
    patch_run_status(kube, first, {"lastReplay": {"token": token, "result": "Rejected",
                                                  "reason": "NotLive",
                                                  "message": "nothing is live"}})
    failed(plugin("replay", first, "--token", token, "--wait"),
           "replay rejected: NotLive: nothing is live")
    patch_run_status(kube, first, {"lastReplay": {"token": "t-9", "result": "Started",
                                                  "run": f"{first}-replay-x"}})
    out = ok(plugin("replay", first, "--token", "t-9", "--wait")).out
    assert out.splitlines()[-1] == f"replayed as {first}-replay-x"
    assert get_run(kube, first)["metadata"]["annotations"][ANN_REPLAY] == token  # not rewritten
    failed(plugin("replay", "nope"), 'workflowrun "nope" not found')
