"""`kubectl flowplane runs | run | replay | logs`: arguments, tables, step view, error paths.

The commands run against a fake `Api` (the methods they call, over in-memory objects),
through `main()`, so exit codes and messages are the ones users see.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from flowplane.cli import main as cli
from flowplane.cli.main import MAX_DATA_BYTES, build_parser, main
from flowplane.cli.runs import (
    RUN_HEADERS,
    STEP_HEADERS,
    error_text,
    format_logs,
    not_live_reason,
    output_text,
    replay_outcome,
    run_outcome,
    run_rows,
    seconds_text,
    step_rows,
)
from flowplane.cli.status import OperationError
from flowplane.cli.table import clean, format_table
from flowplane.model.run import ANN_REPLAY
from flowplane.runtime.pinning import Pin, run_body, synthetic_event

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
WF = "wf"
LIVE_ANNOTATIONS = {"flowplane.dev/active-version": "2", "flowplane.dev/plan": "wf-v2-plan",
                    "flowplane.dev/plan-hash": "sha256:abc",
                    "flowplane.dev/trigger-type": "webhook"}


def workflow(*, phase: str = "Published", active: int | None = 2,
             spec: dict[str, Any] | None = None, safety: dict[str, Any] | None = None,
             ready: tuple[str, str, str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": []}
    if active is not None:
        status["activeVersion"] = active
    if safety is not None:
        status["safety"] = safety
    if ready is not None:
        status["conditions"].append({"type": "Ready", "status": ready[0], "reason": ready[1],
                                     "message": ready[2]})
    return {"metadata": {"name": WF, "uid": "uid-1", "generation": 1},
            "spec": {"publishedVersion": active, **(spec or {})}, "status": status}


def run(name: str = "wf-r1", *, phase: str | None = "Succeeded", version: int = 2,
        created: str = "2026-01-02T11:59:00Z", trigger: str = "manual",
        **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"workflowRef": {"name": WF}, "version": version,
                 "plan": {"configMap": f"wf-v{version}-plan", "hash": "sha256:abc"},
                 "trigger": {"type": trigger}, "event": synthetic_event(body=None)},
    }
    if phase is not None:
        body["status"] = {"phase": phase, **status}
    return body


def api_error(code: int) -> OperationError:
    exc = OperationError(f"error {code}")
    exc.__cause__ = ApiException(status=code, reason="x")
    return exc


class FakeApi:
    """The Api methods the run commands call, over in-memory objects."""

    def __init__(self, wf: dict[str, Any] | None = None,
                 annotations: dict[str, str] | None = None,
                 runs: list[dict[str, Any]] | None = None) -> None:
        self.namespace = "team-a"
        self.wf = wf
        self.annotations = annotations
        self.items = {r["metadata"]["name"]: r for r in runs or []}
        self.created: list[dict[str, Any]] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.create_failures: list[OperationError] = []
        self.run_script: list[dict[str, Any]] = []
        """Successive answers of run() (the last one repeats), for --wait."""

    def close(self) -> None:
        pass

    def workflow(self, name: str) -> dict[str, Any]:
        if self.wf is None or name != WF:
            raise OperationError(f'workflow "{name}" not found in namespace "{self.namespace}"')
        return self.wf

    def service_annotations(self, name: str) -> dict[str, str] | None:
        assert name == f"{WF}-trigger"
        return self.annotations

    def runs(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.items.values() if r["spec"]["workflowRef"]["name"] == name]

    def run(self, name: str) -> dict[str, Any]:
        if self.run_script:
            return self.run_script.pop(0) if len(self.run_script) > 1 else self.run_script[0]
        if name not in self.items:
            raise OperationError(f'workflowrun "{name}" not found in namespace "team-a"')
        return self.items[name]

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.create_failures:
            raise self.create_failures.pop(0)
        self.created.append(body)
        self.items[body["metadata"]["name"]] = body
        return body

    def patch_run(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((name, body))
        return self.items.get(name, {})


class Cli:
    def __init__(self, api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
        self.api, self.capsys = api, capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    api = FakeApi(workflow(), dict(LIVE_ANNOTATIONS))
    monkeypatch.setattr(cli, "Api", lambda *a, **k: api)
    monkeypatch.setattr(cli, "POLL_SECONDS", 0.0)
    yield api


@pytest.fixture
def plugin(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(fake, capsys)


# ------------------------------------------------------------------ arguments


def test_arguments_of_the_run_commands() -> None:
    parse = build_parser().parse_args
    args = parse(["runs", "wf", "--limit", "5"])
    assert (args.workflow, args.limit) == ("wf", 5)
    assert parse(["runs", "wf"]).limit is None

    args = parse(["run", "wf", "--data", '{"email": "a@b.c"}', "--wait", "--timeout", "30s"])
    assert (args.workflow, args.data, args.wait, args.timeout) == (
        "wf", {"email": "a@b.c"}, True, 30.0)
    plain = parse(["run", "wf"])
    assert (plain.data, plain.wait) == (None, False)
    assert parse(["run", "wf", "--data", "[1, 2]"]).data == [1, 2]
    assert parse(["run", "wf", "--data", '"text"']).data == "text"
    assert parse(["run", "wf", "--data-file", "event.json"]).data_file == "event.json"

    args = parse(["replay", "wf-r1", "--token", "t-1", "--wait"])
    assert (args.run, args.token, args.wait) == ("wf-r1", "t-1", True)
    assert parse(["replay", "wf-r1"]).token is None
    assert parse(["logs", "wf-r1", "-n", "team-b"]).run == "wf-r1"


@pytest.mark.parametrize(("argv", "needle"), [
    (["run", "wf", "--data", "{email: x}"], "the data is not valid JSON: Expecting property"),
    (["run", "wf", "--data", ""], "the data is not valid JSON"),
    (["run", "wf", "--data", "NaN"], "NaN is not JSON"),
    (["run", "wf", "--data", "{}", "--data-file", "x.json"], "not allowed with argument"),
    (["run", "wf", "--data-file", "/nonexistent/event.json"], "cannot read /nonexistent"),
    (["run", "wf", "--timeout", "0"], "the timeout must be positive"),
    (["run"], "the following arguments are required: WF"),
    (["runs", "wf", "--limit", "0"], "the limit must be at least 1"),
    (["runs", "wf", "--limit", "all"], "not a number of runs"),
    (["replay", "wf-r1", "--token", ""], "a token is 1 to 253 printable characters"),
    (["replay", "wf-r1", "--token", "x" * 254], "a token is 1 to 253"),
    (["replay", "wf-r1", "--token", "a\nb"], "a token is 1 to 253"),
    (["logs"], "the following arguments are required: RUN"),
])
def test_usage_errors_exit_2(argv: list[str], needle: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: kubectl flowplane" in err
    assert needle in err, err


def test_invalid_json_in_a_file_and_oversized_data_are_usage_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    big = json.dumps({"x": "y" * MAX_DATA_BYTES})
    for argv, needle in ((["--data-file", str(bad)], f"{bad} is not valid JSON"),
                         (["--data", big], f"the limit is {MAX_DATA_BYTES} bytes")):
        with pytest.raises(SystemExit) as exc:
            main(["run", "wf", *argv])
        assert exc.value.code == 2
        assert needle in capsys.readouterr().err


def test_help_lists_the_run_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("runs", "run", "replay", "logs"):
        assert f"    {command} " in out


# ------------------------------------------------------------------ the runs table


def test_runs_are_listed_newest_first_with_a_limit() -> None:
    items = [
        run("wf-old", created="2026-01-02T11:00:00Z", phase="Succeeded",
            startedAt="2026-01-02T11:00:01Z", finishedAt="2026-01-02T11:00:03.4Z"),
        run("wf-new", created="2026-01-02T11:59:50Z", phase="Running", version=3,
            trigger="webhook", startedAt="2026-01-02T11:59:51Z"),
        run("wf-mid", created="2026-01-02T11:30:00Z", phase="Failed", duration="1.5s",
            startedAt="2026-01-02T11:30:00Z",
            error={"code": "StepFailed", "node": "notify", "message": "channel_not_found"}),
    ]
    rows = run_rows(items, NOW)
    assert [r[0] for r in rows] == ["wf-new", "wf-mid", "wf-old"]
    assert rows[0] == ("wf-new", "3", "webhook", "Running", "9s", "", "", "10s")
    assert rows[1] == ("wf-mid", "2", "manual", "Failed", "30m", "1.5s",
                       "StepFailed (notify): channel_not_found", "30m")
    assert rows[2][5] == "2.4s"  # computed from startedAt and finishedAt
    assert [r[0] for r in run_rows(items, NOW, limit=2)] == ["wf-new", "wf-mid"]
    text = format_table(RUN_HEADERS, rows)
    assert text.splitlines()[0].split() == list(RUN_HEADERS)


def test_run_rows_tolerate_partial_objects_and_hostile_text() -> None:
    bare = run("wf-bare", phase=None)
    bare["spec"].pop("version")
    bare["metadata"].pop("creationTimestamp")
    hostile = run("wf-evil", phase="Failed", error={
        "code": "Boom\x1b[2J", "message": "line one\nline two\r\x07\u202eevil" + "x" * 200})
    rows = {r[0]: r for r in run_rows([bare, hostile], NOW)}
    assert rows["wf-bare"] == ("wf-bare", "?", "manual", "<pending>", "", "", "", "<unknown>")
    error = rows["wf-evil"][6]
    assert error.startswith("Boom?[2J: line one line two ??evil")
    assert len(error) == 60 and error.endswith("...")
    assert all(ch.isprintable() for ch in error)


def test_clean_makes_text_safe_for_one_cell() -> None:
    assert clean("  a\tb\n\nc  ", 20) == "a b c"
    assert clean("\x1b]0;title\x07x", 20) == "?]0;title?x"
    assert clean("abc\u200bdef\u202e", 20) == "abc?def?"
    assert clean("é ü 日本", 20) == "é ü 日本"
    assert clean("x" * 30, 10) == "xxxxxxx..."


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.44, "0.4s"), (1.25, "1.2s"), (12.34, "12.3s"), (59.94, "59.9s"),
    (90, "90s"), (150, "2m30s"), (-2, "<invalid>"),
])
def test_durations(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text


# ------------------------------------------------------------------ the step view


STEPS = [
    {"node": "form", "phase": "Succeeded", "startedAt": "2026-01-02T11:59:01Z",
     "finishedAt": "2026-01-02T11:59:01Z", "output": {"body": {"email": "a@b.c"}}},
    {"node": "has-email", "phase": "Succeeded", "startedAt": "2026-01-02T11:59:01Z",
     "finishedAt": "2026-01-02T11:59:01.2Z", "output": {"result": True}},
    {"node": "notify", "phase": "Failed", "startedAt": "2026-01-02T11:59:01.2Z",
     "finishedAt": "2026-01-02T11:59:04Z", "attempts": 3,
     "error": {"code": "AppNotAvailable", "message": "no connector for app slack"}},
    {"node": "big", "phase": "Succeeded", "output": {"text": "y" * 500}, "truncated": True},
    {"node": "wait", "phase": "Running", "resumeAt": "2026-01-02T13:00:00Z"},
    {"node": "later", "phase": "Skipped"},
]


def failed_run() -> dict[str, Any]:
    return run("wf-r7", phase="Failed", startedAt="2026-01-02T11:59:01Z",
               finishedAt="2026-01-02T11:59:04Z", duration="3s", steps=STEPS,
               error={"code": "StepFailed", "node": "notify",
                      "message": "AppNotAvailable: no connector for app slack"})


def test_step_rows_show_output_or_error() -> None:
    rows = step_rows(failed_run())
    assert rows[0] == ("form", "Succeeded", "0s", '{"body":{"email":"a@b.c"}}')
    assert rows[1] == ("has-email", "Succeeded", "0.2s", '{"result":true}')
    assert rows[2] == ("notify", "Failed", "2.8s",
                       "AppNotAvailable: no connector for app slack (attempt 3)")
    assert rows[3][3].startswith('{"text":"yyy') and rows[3][3].endswith("... [truncated]")
    assert len(rows[3][3]) == 100 + len(" [truncated]")
    assert rows[4] == ("wait", "Running", "", "waiting until 2026-01-02T13:00:00Z")
    assert rows[5] == ("later", "Skipped", "", "")


def test_output_is_one_line_and_error_text_names_the_node() -> None:
    assert output_text({"a": "x\ny", "b": [1, None]}) == '{"a":"x\\ny","b":[1,null]}'
    assert output_text("\u202e") == '"?"'
    assert error_text({"code": "StepFailed", "node": "n", "message": "m"}) == "StepFailed (n): m"
    assert error_text({"code": "Timeout"}) == "Timeout"
    assert error_text(None) == "" and error_text("junk") == ""


def test_logs_prints_a_header_then_one_line_per_step() -> None:
    source = failed_run()
    source["spec"]["replayOf"] = "wf-r1"
    source["status"]["lastReplay"] = {"token": "t1", "result": "Rejected",
                                      "reason": "SafetyPaused"}
    lines = format_logs(source, NOW).splitlines()
    header = dict(line.split(":", 1) for line in lines[:lines.index("")])
    assert {k: v.strip() for k, v in header.items()} == {
        "Run": "wf-r7", "Workflow": "wf", "Version": "v2 (plan wf-v2-plan)",
        "Trigger": "manual", "Replay of": "wf-r1", "Phase": "Failed",
        "Started": "2026-01-02T11:59:01Z (59s ago)", "Duration": "3s",
        "Error": "StepFailed (notify): AppNotAvailable: no connector for app slack",
        "Last replay": "Rejected: SafetyPaused (token t1)"}
    table = lines[lines.index("") + 1:]
    assert table[0].split() == list(STEP_HEADERS)
    assert [line.split()[0] for line in table[1:]] == [s["node"] for s in STEPS]


def test_logs_of_a_run_with_no_status() -> None:
    text = format_logs(run("wf-new", phase=None), NOW)
    assert "Phase:     <pending>" in text
    assert text.endswith("\nNo steps recorded yet.")


def test_logs_command(plugin: Cli, fake: FakeApi) -> None:
    fake.items["wf-r7"] = failed_run()
    code, out, _ = plugin("logs", "wf-r7")
    assert code == 0 and "\nnotify      Failed      2.8s" in out
    code, _, err = plugin("logs", "nope")
    assert code == 1 and err == 'error: workflowrun "nope" not found in namespace "team-a"\n'


# ------------------------------------------------------------------ runs


def test_runs_command(plugin: Cli, fake: FakeApi) -> None:
    fake.items = {"wf-a": run("wf-a"), "wf-b": run("wf-b", created="2026-01-02T11:59:30Z")}
    code, out, _ = plugin("runs", WF, "--limit", "1")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "wf-b"]

    fake.items = {}
    code, out, err = plugin("runs", WF)
    assert (code, out) == (0, "")
    assert err == "No runs found for workflow wf in namespace team-a.\n"
    code, _, err = plugin("runs", "nope")
    assert code == 1 and 'workflow "nope" not found' in err


# ------------------------------------------------------------------ run


def test_run_creates_a_manual_run_pinned_by_the_trigger_service(plugin: Cli,
                                                                 fake: FakeApi) -> None:
    code, out, _ = plugin("run", WF, "--data", '{"email": "a@b.c"}')
    assert code == 0
    (body,) = fake.created
    name = body["metadata"]["name"]
    assert out == f"run {name} started on v2\n"
    assert name.startswith("wf-") and len(name) == len("wf-") + 8
    pin = Pin(workflow=WF, version=2, plan="wf-v2-plan", plan_hash="sha256:abc",
              trigger_type="webhook")
    expected = run_body(name=name, pin=pin, trigger=cli.TriggerKind.MANUAL,
                        event={**synthetic_event(body={"email": "a@b.c"}),
                               "receivedAt": body["spec"]["event"]["receivedAt"]},
                        workflow_uid="uid-1")
    assert body == expected
    assert body["spec"]["trigger"] == {"type": "manual"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_run_reads_the_event_body_from_a_file_or_stdin(plugin: Cli, fake: FakeApi,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "event.json"
    path.write_text('{"n": 1}\n')
    assert plugin("run", WF, "--data-file", str(path))[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}'))
    assert plugin("run", WF, "--data-file", "-")[0] == 0
    assert [b["spec"]["event"]["body"] for b in fake.created] == [{"n": 1}, {"from": "stdin"}]


def test_run_draws_another_name_on_a_clash(plugin: Cli, fake: FakeApi) -> None:
    fake.create_failures = [api_error(409), api_error(409)]
    code, _, _ = plugin("run", WF)
    assert code == 0 and len(fake.created) == 1
    assert fake.created[0]["spec"]["event"]["body"] is None
    fake.create_failures = [api_error(403)]
    code, _, err = plugin("run", WF)
    assert code == 1 and err == "error: error 403\n"
    fake.create_failures = [api_error(409)] * 5
    code, _, err = plugin("run", WF)
    assert code == 1 and "could not find a free run name" in err


@pytest.mark.parametrize(("wf", "annotations", "needles"), [
    (workflow(phase="Draft", active=None), {},
     ["nothing is published (phase Draft)", "kubectl flowplane publish wf N"]),
    (workflow(phase="Disabled", spec={"suspend": True}), {}, ["it is suspended"]),
    (workflow(phase="Archived", active=None, spec={"archived": True}), {}, ["it is archived"]),
    (workflow(phase="PausedSafety", safety={"tripped": True, "reason": "RunRateExceeded",
                                            "message": "900 runs/min"}), {},
     ["paused by a safety check (RunRateExceeded: 900 runs/min)", "kubectl flowplane resume wf"]),
    (workflow(phase="Draft", active=None, spec={"publishedVersion": 3},
              ready=("False", "ValidationFailed", "v3 was not published")), {},
     ["v3 is wanted but not live yet (phase Draft)", "ValidationFailed: v3 was not published"]),
    (workflow(phase="Draft", active=None, spec={"publishedVersion": 1}), None,
     ["trigger Service wf-trigger does not exist yet", "is the operator running?"]),
    (workflow(), {"flowplane.dev/active-version": "2"},  # no plan: not a pin
     ["trigger Service wf-trigger names no live version (phase Published)"]),
])
def test_run_without_a_live_version_exits_1(plugin: Cli, fake: FakeApi, wf: dict[str, Any],
                                            annotations: dict[str, str] | None,
                                            needles: list[str]) -> None:
    fake.wf, fake.annotations = wf, annotations
    code, out, err = plugin("run", WF)
    assert code == 1 and out == "" and not fake.created
    assert err.startswith("error: workflow wf ") and "cannot start a run" in err
    for needle in needles:
        assert needle in err, err


def test_run_refuses_while_paused_even_if_the_service_is_still_wired(plugin: Cli,
                                                                     fake: FakeApi) -> None:
    fake.wf = workflow(safety={"tripped": True, "reason": "ConsecutiveFailures"})
    code, _, err = plugin("run", WF)
    assert code == 1 and not fake.created
    assert "cannot start a run: it is paused by a safety check (ConsecutiveFailures)" in err


def test_run_of_an_unknown_workflow(plugin: Cli) -> None:
    code, _, err = plugin("run", "nope")
    assert code == 1 and 'workflow "nope" not found in namespace "team-a"' in err


def _scripted(fake: FakeApi, *states: dict[str, Any]) -> None:
    fake.run_script = list(states)


def test_run_wait_succeeds_or_fails(plugin: Cli, fake: FakeApi) -> None:
    _scripted(fake, run(phase="Pending"), run(phase="Running"),
              run(phase="Succeeded", duration="1.2s"))
    code, out, _ = plugin("run", WF, "--wait")
    name = fake.created[-1]["metadata"]["name"]
    assert code == 0
    assert out.splitlines() == [f"run {name} started on v2", f"run {name} succeeded in 1.2s"]

    _scripted(fake, run(phase="Failed", error={"code": "StepFailed", "node": "notify",
                                               "message": "channel_not_found"}))
    code, out, err = plugin("run", WF, "--wait")
    name = fake.created[-1]["metadata"]["name"]
    assert code == 1 and out == f"run {name} started on v2\n"
    assert err == f"error: run {name} failed: StepFailed (notify): channel_not_found\n"


def test_run_wait_times_out_saying_why(plugin: Cli, fake: FakeApi) -> None:
    _scripted(fake, run(phase=None))
    code, _, err = plugin("run", WF, "--wait", "--timeout", "0.05")
    assert code == 1
    assert "timed out after 0.05s waiting for run" in err
    assert "no runtime has claimed it (is flowplane-runtime running?)" in err
    _scripted(fake, run(phase="Running", executor={"id": "r1", "heartbeatAt": "x"},
                        steps=[{"node": "notify", "phase": "Running"}]))
    code, _, err = plugin("run", WF, "--wait", "--timeout", "0.05")
    assert code == 1 and "it is Running, at step notify" in err


def test_run_outcome() -> None:
    assert run_outcome(run(phase="Running")) is None
    assert run_outcome(run(phase=None)) is None
    done = run_outcome(run(phase="Succeeded"))
    assert done is not None and done.ok
    failed = run_outcome(run(phase="Failed", conditions=[
        {"type": "Succeeded", "status": "False", "reason": "Cancelled", "message": "by admin"}]))
    assert failed is not None and not failed.ok and failed.message == "Cancelled: by admin"


def test_not_live_reason_sanitises_the_workflow_text() -> None:
    wf = workflow(phase="Draft", active=None, spec={"publishedVersion": 3},
                  ready=("False", "X", "evil\x1b[2J\nline"))
    assert "evil?[2J line" in not_live_reason(wf, service_exists=True)


# ------------------------------------------------------------------ replay


def test_replay_annotates_the_run_and_waits_for_the_runtime(plugin: Cli, fake: FakeApi) -> None:
    fake.items["wf-r1"] = run("wf-r1", phase="Succeeded")
    code, out, _ = plugin("replay", "wf-r1", "--token", "t-1")
    assert (code, out) == (0, "workflowrun/wf-r1: replay requested (token t-1)\n")
    assert fake.patches == [("wf-r1", {"metadata": {"annotations": {ANN_REPLAY: "t-1"}}})]

    fake.patches.clear()
    code, out, _ = plugin("replay", "wf-r1")
    ((_, patch),) = fake.patches
    token = patch["metadata"]["annotations"][ANN_REPLAY]
    assert token and token != "t-1"
    assert out == f"workflowrun/wf-r1: replay requested (token {token})\n"

    started = run("wf-r1", phase="Succeeded",
                  lastReplay={"token": "t-2", "result": "Started", "run": "wf-r1-replay-x"})
    _scripted(fake, run("wf-r1", phase="Succeeded"), run("wf-r1", phase="Succeeded",
              lastReplay={"token": "old", "result": "Started", "run": "y"}), started)
    code, out, _ = plugin("replay", "wf-r1", "--token", "t-2", "--wait")
    assert code == 0
    assert out.splitlines() == ["workflowrun/wf-r1: replay requested (token t-2)",
                                "replayed as wf-r1-replay-x"]


def test_replay_rejected_and_refused(plugin: Cli, fake: FakeApi) -> None:
    rejected = run("wf-r1", phase="Failed", lastReplay={
        "token": "t-3", "result": "Rejected", "reason": "SafetyPaused",
        "message": "workflow wf is paused by a safety check"})
    _scripted(fake, run("wf-r1", phase="Failed"), rejected)
    code, _, err = plugin("replay", "wf-r1", "--token", "t-3", "--wait")
    assert code == 1
    assert err == ("error: replay rejected: SafetyPaused: "
                   "workflow wf is paused by a safety check\n")

    # the same token again: nothing is written; the recorded outcome is reported
    fake.patches.clear()
    _scripted(fake, rejected)
    code, out, err = plugin("replay", "wf-r1", "--token", "t-3")
    assert code == 1 and not fake.patches
    assert "token t-3 was already handled" in out and "replay rejected: SafetyPaused" in err

    for phase in ("Running", "Pending", None):
        _scripted(fake, run("wf-r1", phase=phase))
        code, _, err = plugin("replay", "wf-r1", "--wait")
        assert code == 1 and not fake.patches
        assert (f"run wf-r1 is {phase or 'Pending'}; only a finished run "
                "(Succeeded or Failed) can be replayed") in err

    fake.run_script = []
    code, _, err = plugin("replay", "nope")
    assert code == 1 and 'workflowrun "nope" not found' in err


def test_replay_wait_times_out(plugin: Cli, fake: FakeApi) -> None:
    fake.items["wf-r1"] = run("wf-r1", phase="Succeeded",
                              executor={"id": "r", "heartbeatAt": "x"})
    code, _, err = plugin("replay", "wf-r1", "--wait", "--timeout", "0.05")
    assert code == 1 and "timed out after 0.05s waiting for the replay of run wf-r1" in err


def test_replay_outcome() -> None:
    assert replay_outcome(run(), "t") is None
    rejected = replay_outcome(run(lastReplay={"token": "t", "result": "Rejected"}), "t")
    assert rejected is not None and (rejected.ok, rejected.reason) == (False, "Rejected")
