"""RUNTIME.md on the real API server: the runtime as a process, real HTTP in and out.

Events are sent to the runtime with the trigger Service's DNS name in `Host`, as the
Service would deliver them; actions call a local sink that stands in for the world.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import RuntimeProcess
from flowplane_devtools.sink import Sink
from tests.e2e.runtime_helpers import (
    accepted,
    add_version,
    chain,
    deploy,
    host_of,
    http_call,
    publish,
    run_status,
    runs_of,
    send,
    steps,
    wait_phase,
    webhook,
)
from tests.e2e.test_fail_safe import _store_under_old_schema

pytestmark = pytest.mark.usefixtures("running_runtime")


def _marker(kube: Kube, tag: str) -> str:
    """A sink path unique to this test, so counts are never shared between tests."""
    return f"/{kube.ns}/{tag}"


def test_every_row_of_the_answer_table(kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    deploy(kube, "forms", chain(webhook("/submit"), http_call("out", sink.url + "/ok")))
    host = host_of(kube, "forms")

    ok = send(runtime, host, "/submit", {"email": "a@b.c"})
    assert ok.status == 202
    assert ok.body["namespace"] == kube.ns and ok.body["workflow"] == "forms"
    assert ok.body["version"] == 1
    # Stored before the answer: the run exists the moment the 202 is read.
    run = kube.get("WorkflowRun", ok.body["run"])
    assert run["spec"]["version"] == 1 and run["spec"]["trigger"] == {"type": "webhook"}
    assert run["spec"]["event"]["body"] == {"email": "a@b.c"}
    assert run["metadata"]["ownerReferences"][0]["name"] == "forms"

    # Every form of the Service's DNS name routes, with or without a port.
    for form in (f"forms-trigger.{kube.ns}", f"forms-trigger.{kube.ns}.svc.cluster.local:80"):
        assert send(runtime, form, "/submit", {}).status == 202

    refusals = [
        (send(runtime, f"nothing-trigger.{kube.ns}.svc", "/submit", {}), 404, "NotLive"),
        (send(runtime, "localhost", "/submit", {}), 404, "NotLive"),
        (send(runtime, host, "/elsewhere", {}), 404, "NoSuchPath"),
        (send(runtime, host, "/submit", None, method="GET"), 405, "MethodNotAllowed"),
        (send(runtime, host, "/submit", raw=b"x" * (1024 * 1024 + 1),
              headers={"Content-Type": "text/plain"}), 413, "BodyTooLarge"),
        (send(runtime, host, "/submit", raw=b"{not json",
              headers={"Content-Type": "application/json"}), 400, "MalformedJSON"),
    ]
    for answer, status, error in refusals:
        assert (answer.status, answer.body["error"]) == (status, error), answer
        assert answer.body["message"]
    assert refusals[3][0].headers["allow"] == "POST"
    assert len(runs_of(kube, "forms")) == 3  # nothing refused was stored
    wait_for(lambda: all(steps(run_status(kube, r["metadata"]["name"])).get("out", {}).get(
        "phase") == "Succeeded" for r in runs_of(kube, "forms")), 20, "runs finished")
    metrics = runtime.metrics()
    for reason in ("NotLive", "NoSuchPath", "MethodNotAllowed", "BodyTooLarge", "MalformedJSON"):
        assert f'flowplane_runtime_events_refused_total{{reason="{reason}"}}' in metrics
    assert 'flowplane_runtime_runs_started_total{trigger="webhook"}' in metrics
    assert 'flowplane_runtime_runs_finished_total{phase="Succeeded"}' in metrics
    assert 'flowplane_runtime_step_duration_seconds_count{type="action"}' in metrics

    # A workflow with nothing live has a Service with no active version: NotLive.
    publish(kube, "forms", None)
    wait_for(lambda: not (kube.service("forms").metadata.annotations or {}).get(
        "flowplane.dev/active-version"), 30, "unwired")
    wait_for(lambda: send(runtime, host, "/submit", {}).status == 404, 10, "NotLive")
    assert send(runtime, host, "/submit", {}).body["error"] == "NotLive"


def test_credentials_are_not_recorded(kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    deploy(kube, "secretive", chain(webhook(), http_call("out", sink.url + "/ok")))
    answer = send(runtime, host_of(kube, "secretive"), "/hook?x=1", {"a": 1},
                  headers={"Authorization": "Bearer hunter2", "Cookie": "s=1", "X-Trace": "t"})
    event = kube.get("WorkflowRun", answer.body["run"])["spec"]["event"]
    assert "authorization" not in event["headers"] and "cookie" not in event["headers"]
    assert event["headers"]["x-trace"] == "t" and event["query"] == {"x": "1"}


def test_503_when_the_run_cannot_be_stored(kube: Kube, runtime: RuntimeProcess,
                                           sink: Sink) -> None:
    deploy(kube, "full", chain(webhook(), http_call("out", sink.url + "/ok")))
    quota = {"count/workflowruns.flowplane.dev": "0"}
    kube.core.create_namespaced_resource_quota(kube.ns, {
        "metadata": {"name": "no-runs"}, "spec": {"hard": quota}})
    # The local control plane runs no quota controller; write what it would observe.
    kube.core.patch_namespaced_resource_quota_status("no-runs", kube.ns, {
        "status": {"hard": quota, "used": quota}})

    def refused() -> Any:
        answer = send(runtime, host_of(kube, "full"), "/hook", {"n": 1})
        return answer if answer.status == 503 else None
    answer = wait_for(refused, 20, "503 while runs cannot be stored")
    assert answer.body["error"] == "RunNotStored" and answer.headers["retry-after"]
    assert runs_of(kube, "full") == []
    kube.core.delete_namespaced_resource_quota("no-runs", kube.ns)
    wait_for(lambda: send(runtime, host_of(kube, "full"), "/hook", {}).status == 202, 20,
             "accepted again once runs can be stored")


def test_a_run_finishes_on_the_version_it_started_on(kube: Kube, runtime: RuntimeProcess,
                                                     sink: Sink) -> None:
    v1 = _marker(kube, "v1")
    v2 = _marker(kube, "v2")
    deploy(kube, "pinned", chain(
        webhook(),
        {"id": "wait", "role": "system", "type": "delay", "config": {"duration": "3s"}},
        http_call("out", sink.url + v1, {"from": "{{ run.version }}"})))
    old = accepted(runtime, kube, "pinned")
    wait_for(lambda: steps(run_status(kube, old)).get("wait", {}).get("resumeAt"), 10,
             "v1 run waiting")

    add_version(kube, "pinned", 2, chain(webhook(), http_call("out", sink.url + v2)))
    publish(kube, "pinned", 2)
    new = accepted(runtime, kube, "pinned")

    assert wait_phase(kube, new, "Succeeded")
    assert wait_phase(kube, old, "Succeeded")
    assert kube.get("WorkflowRun", old)["spec"]["version"] == 1
    assert kube.get("WorkflowRun", new)["spec"]["version"] == 2
    assert [r.body for r in sink.requests(v1)] == [{"from": 1}]
    assert len(sink.requests(v2)) == 1


def test_branch_transform_loop_and_ai(kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    item_path = _marker(kube, "item")
    graph = {
        "nodes": [
            webhook(),
            {"id": "is-vip", "role": "system", "type": "branch",
             "config": {"condition": "{{ nodes.in.output.body.tier == 'vip' }}"}},
            {"id": "shape", "role": "system", "type": "transform",
             "config": {"output": {"who": "{{ nodes.in.output.body.name | upper }}",
                                   "tags": "{{ nodes.in.output.body.tags }}"}}},
            {"id": "each", "role": "system", "type": "loop",
             "config": {"items": "{{ nodes.shape.output.tags }}"}},
            http_call("per-item", sink.url + item_path,
                      {"tag": "{{ loop.item }}", "i": "{{ loop.index }}"}),
            {"id": "summary", "role": "system", "type": "ai",
             "config": {"prompt": "Greet {{ nodes.shape.output.who }}"}},
            http_call("vip-only", sink.url + _marker(kube, "vip")),
        ],
        "edges": [
            {"from": "in", "to": "is-vip"},
            {"from": "is-vip", "to": "vip-only", "port": "true"},
            {"from": "is-vip", "to": "shape", "port": "false"},
            {"from": "shape", "to": "each"},
            {"from": "each", "to": "per-item", "port": "body"},
            {"from": "each", "to": "summary", "port": "done"},
        ],
    }
    deploy(kube, "fanout", graph)
    name = accepted(runtime, kube, "fanout", {"name": "ada", "tier": "std", "tags": ["x", "y"]})
    status = wait_phase(kube, name, "Succeeded")
    by_node = steps(status)
    assert sorted(by_node) == sorted(n["id"] for n in graph["nodes"])  # one entry per node
    assert by_node["is-vip"]["output"] == {"result": False}
    assert by_node["vip-only"]["phase"] == "Skipped"
    assert by_node["shape"]["output"] == {"who": "ADA", "tags": ["x", "y"]}
    assert [r.body for r in sink.requests(item_path)] == [{"tag": "x", "i": 0},
                                                          {"tag": "y", "i": 1}]
    assert len(by_node["each"]["output"]["items"]) == 2
    assert by_node["summary"]["output"] == {"text": "echo: Greet ADA"}
    assert sink.requests(_marker(kube, "vip")) == []


def test_a_failing_action_fails_the_run_and_skips_the_rest(kube: Kube, runtime: RuntimeProcess,
                                                          sink: Sink) -> None:
    after = _marker(kube, "after")
    deploy(kube, "flaky", chain(webhook(), http_call("call", sink.url + "/status/500"),
                                http_call("after", sink.url + after)))
    name = accepted(runtime, kube, "flaky")
    status = wait_phase(kube, name, "Failed")
    assert status["error"]["code"] == "StepFailed" and status["error"]["node"] == "call"
    assert "500" in status["error"]["message"]
    by_node = steps(status)
    assert by_node["call"]["error"]["code"] == "HTTPStatus"
    assert by_node["call"]["output"]["status"] == 500
    assert by_node["after"]["phase"] == "Skipped"
    assert sink.requests(after) == []
    cond = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (cond["status"], cond["reason"]) == ("False", "StepFailed")


def test_an_app_without_a_connector_fails_clearly(kube: Kube, runtime: RuntimeProcess) -> None:
    deploy(kube, "unknown-app", chain(webhook(), {
        "id": "crm", "role": "action", "app": "salesforce", "operation": "lead.create"}))
    status = wait_phase(kube, accepted(runtime, kube, "unknown-app"), "Failed")
    assert steps(status)["crm"]["error"]["code"] == "AppNotAvailable"
    assert "salesforce" in steps(status)["crm"]["error"]["message"]


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ nodes.in.output.__class__.__init__.__globals__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 9 ** 99999999 }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
])
def test_hostile_templates_fail_the_step_never_the_runtime(
        kube: Kube, runtime: RuntimeProcess, template: str) -> None:
    deploy(kube, "hostile", chain(webhook(), {"id": "evil", "role": "system",
                                              "type": "transform",
                                              "config": {"output": {"x": template}}}))
    status = wait_phase(kube, accepted(runtime, kube, "hostile"), "Failed")
    assert steps(status)["evil"]["error"]["code"] == "TemplateError"
    assert runtime.proc is not None and runtime.proc.poll() is None
    assert send(runtime, host_of(kube, "hostile"), "/hook", {}).status == 202


def test_outputs_are_capped(kube: Kube, runtime: RuntimeProcess) -> None:
    deploy(kube, "big", chain(webhook(), {
        "id": "blow-up", "role": "system", "type": "transform",
        "config": {"output": {"x": "{{ 'y' * 100000 }}"}}}))
    status = wait_phase(kube, accepted(runtime, kube, "big"), "Succeeded")
    step = steps(status)["blow-up"]
    assert step["truncated"] is True and step["output"]["bytes"] > 100000
    assert len(step["output"]["preview"]) <= 2048


def test_rate_limit_trips_the_safety_pause_until_resume(kube: Kube, runtime: RuntimeProcess,
                                                        sink: Sink) -> None:
    kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
        "flowplane.dev/max-runs-per-minute": "3"}}})
    deploy(kube, "noisy", chain(webhook(), http_call("out", sink.url + "/ok")))
    host = host_of(kube, "noisy")
    answers = [send(runtime, host, "/hook", {"n": i}) for i in range(3)]
    assert [a.status for a in answers] == [202, 202, 202]
    over = send(runtime, host, "/hook", {"n": 4})
    assert over.status == 429 and over.body["error"] == "RunRateExceeded"
    assert len(runs_of(kube, "noisy")) == 3

    wait_for(lambda: kube.wf_status("noisy").get("phase") == "PausedSafety", 20, "paused")
    safety = kube.wf_status("noisy")["safety"]
    assert safety["tripped"] is True and safety["reason"] == "RunRateExceeded"
    wait_for(lambda: send(runtime, host, "/hook", {}).status == 404, 20, "unwired")
    assert any(e.reason == "SafetyTripped" for e in kube.events("noisy"))

    kube.patch("Workflow", "noisy", {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "ticket-1"}}})
    wait_for(lambda: kube.wf_status("noisy").get("phase") == "Published", 20, "resumed")
    wait_for(lambda: send(runtime, host, "/hook", {}).status == 202, 20, "accepting again")


def test_consecutive_failures_trip_the_safety_pause(kube: Kube, runtime: RuntimeProcess,
                                                    sink: Sink) -> None:
    deploy(kube, "broken", chain(webhook(), http_call("call", sink.url + "/status/503")))
    for _ in range(3):  # the session runtime runs with --max-consecutive-failures 3
        wait_phase(kube, accepted(runtime, kube, "broken"), "Failed")
    wait_for(lambda: kube.wf_status("broken").get("phase") == "PausedSafety", 20, "paused")
    assert kube.wf_status("broken")["safety"]["reason"] == "ConsecutiveFailures"


def test_failures_trip_the_pause_after_a_resume_time_that_is_no_time(
        kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    """Failures count from the last resume. A resumedAt that is not a time (stored before
    the CRD checked it) compared as text after every run, so none counted and the pause
    could never trip; now it cuts off nothing."""
    deploy(kube, "odd-broken", chain(webhook(), http_call("call", sink.url + "/status/503")))
    _store_under_old_schema(kube, "status.safety", {"resumedAt": "string"}, "odd-broken",
                            {"status": {"safety": {"tripped": False, "resumedAt": "not-a-time"}}},
                            status=True)
    for _ in range(3):
        wait_phase(kube, accepted(runtime, kube, "odd-broken"), "Failed")
    wait_for(lambda: kube.wf_status("odd-broken").get("phase") == "PausedSafety", 20, "paused")
    assert kube.wf_status("odd-broken")["safety"]["reason"] == "ConsecutiveFailures"


def test_replay_pins_to_the_live_version_and_is_refused_while_paused(
        kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    v2 = _marker(kube, "replayed-on-v2")
    deploy(kube, "again", chain(webhook(), http_call("out", sink.url + "/ok")))
    source = accepted(runtime, kube, "again", {"order": 7})
    wait_phase(kube, source, "Succeeded")
    add_version(kube, "again", 2, chain(webhook(), http_call("out", sink.url + v2,
                                                             "{{ nodes.in.output.body }}")))
    publish(kube, "again", 2)

    kube.patch("WorkflowRun", source, {"metadata": {"annotations": {
        "flowplane.dev/replay": "t1"}}})
    last = wait_for(lambda: (run_status(kube, source).get("lastReplay") or {}).get(
        "token") == "t1" and run_status(kube, source)["lastReplay"], 20, "replay recorded")
    assert last["result"] == "Started"
    replay = kube.get("WorkflowRun", last["run"])
    assert replay["spec"]["replayOf"] == source and replay["spec"]["trigger"]["type"] == "replay"
    assert replay["spec"]["version"] == 2
    assert replay["spec"]["event"] == kube.get("WorkflowRun", source)["spec"]["event"]
    wait_phase(kube, last["run"], "Succeeded")
    assert [r.body for r in sink.requests(v2)] == [{"order": 7}]

    # The same token again changes nothing (GitOps re-applies are harmless).
    kube.patch("WorkflowRun", source, {"metadata": {"labels": {"touched": "yes"}}})
    assert len(runs_of(kube, "again")) == 2

    kube.patch("Workflow", "again", {"status": {"safety": {
        "tripped": True, "reason": "Manual", "message": "hold"}}}, status=True)
    wait_for(lambda: kube.wf_status("again").get("phase") == "PausedSafety", 20, "paused")
    kube.patch("WorkflowRun", source, {"metadata": {"annotations": {
        "flowplane.dev/replay": "t2"}}})
    last = wait_for(lambda: (run_status(kube, source).get("lastReplay") or {}).get(
        "token") == "t2" and run_status(kube, source)["lastReplay"], 20, "rejection recorded")
    assert (last["result"], last["reason"]) == ("Rejected", "SafetyPaused")
    assert len(runs_of(kube, "again")) == 2
    wait_for(lambda: any(e.reason == "ReplayRejected" and e.type == "Warning"
                         for e in kube.events(source)), 10, "Warning Event")


def test_finished_runs_beyond_run_history_are_deleted(kube: Kube, runtime: RuntimeProcess,
                                                      sink: Sink) -> None:
    deploy(kube, "tidy", chain(webhook(), http_call("out", sink.url + "/ok")),
           spec={"runHistory": {"succeeded": 2, "failed": 1}})
    names = []
    for i in range(4):
        names.append(accepted(runtime, kube, "tidy", {"i": i}))
        wait_phase(kube, names[-1], "Succeeded")
    wait_for(lambda: {r["metadata"]["name"] for r in runs_of(kube, "tidy")} == set(names[2:]),
             20, "only the newest two kept")


def test_a_run_whose_plan_is_gone_fails_alone(kube: Kube, runtime: RuntimeProcess,
                                              sink: Sink) -> None:
    deploy(kube, "orphaned", chain(
        webhook(),
        {"id": "wait", "role": "system", "type": "delay", "config": {"duration": "3s"}},
        http_call("out", sink.url + _marker(kube, "never"))))
    name = accepted(runtime, kube, "orphaned")
    wait_for(lambda: steps(run_status(kube, name)).get("wait", {}).get("resumeAt"), 10, "waiting")
    add_version(kube, "orphaned", 2, chain(webhook(), http_call("out", sink.url + "/ok")))
    publish(kube, "orphaned", 2)
    runtime.kill()  # forget the cached plan, as a new replica would have none
    plan = kube.get("WorkflowRun", name)["spec"]["plan"]["configMap"]
    try:
        kube.core.delete_namespaced_config_map(plan, kube.ns)
    except ApiException as exc:
        assert exc.status == 404
    runtime.start()
    status = wait_phase(kube, name, "Failed")
    assert status["error"]["code"] == "PlanNotFound"
    assert plan in status["error"]["message"]
    assert sink.requests(_marker(kube, "never")) == []
    assert wait_phase(kube, accepted(runtime, kube, "orphaned"), "Succeeded")


def test_outbound_calls_into_link_local_networks_are_refused(kube: Kube,
                                                             runtime: RuntimeProcess) -> None:
    """Where clouds serve node credentials: a tenant's workflow may not call it."""
    deploy(kube, "metadata", chain(webhook(), http_call(
        "steal", "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        method="GET")))
    status = wait_phase(kube, accepted(runtime, kube, "metadata"), "Failed")
    assert steps(status)["steal"]["error"]["code"] == "DestinationNotAllowed"


def test_a_replay_token_longer_than_the_status_field_is_recorded_by_hash(
        kube: Kube, runtime: RuntimeProcess, sink: Sink) -> None:
    deploy(kube, "long-token", chain(webhook(), http_call("out", sink.url + "/ok")))
    source = accepted(runtime, kube, "long-token")
    wait_phase(kube, source, "Succeeded")
    token = "t" * 5000
    kube.patch("WorkflowRun", source, {"metadata": {"annotations": {
        "flowplane.dev/replay": token}}})
    last = wait_for(lambda: run_status(kube, source).get("lastReplay"), 20, "replay recorded")
    assert last["result"] == "Started" and last["token"].startswith("sha256:")
    wait_phase(kube, last["run"], "Succeeded")
    assert len(runs_of(kube, "long-token")) == 2
