"""Pure reading and formatting of WorkflowRun objects for the plugin's run commands.

The `runs` table, the `logs` step view, why a workflow cannot start a run now, and, for
`--wait`, whether a run (or a replay request) has finished and how. No API calls here.
Every text that comes from an object (labels, errors, outputs) goes through
`table.clean`, so a run cannot write escape sequences or extra lines to the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flowplane.cli.status import Outcome, condition, is_archived, is_paused, live_version, name_of
from flowplane.cli.table import age, clean, format_table, human_duration
from flowplane.model import reasons
from flowplane.model.run import FINISHED_PHASES, ReplayResult, RunPhase, StepPhase, token_record
from flowplane.model.timestamps import parse_timestamp
from flowplane.reconcile.objects import service_name

RUN_HEADERS = ("NAME", "VERSION", "TRIGGER", "PHASE", "STARTED", "DURATION", "ERROR", "AGE")
STEP_HEADERS = ("NODE", "PHASE", "DURATION", "DETAIL")
MAX_ERROR = 60
MAX_DETAIL = 100
MAX_FIELD = 200


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("status"))


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("spec"))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def run_phase(run: Mapping[str, Any]) -> str:
    return _text(_status(run).get("phase"))


def is_finished(run: Mapping[str, Any]) -> bool:
    return run_phase(run) in FINISHED_PHASES


def run_version(run: Mapping[str, Any]) -> int | None:
    number = _spec(run).get("version")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def seconds_text(seconds: float) -> str:
    """A run or step duration: `0.4s`, `12.3s` under a minute, then kubectl's `2m30s`."""
    if seconds < 0:
        return "<invalid>"
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    return human_duration(seconds)


def _elapsed(started: Any, finished: Any) -> str:
    start, end = parse_timestamp(_text(started)), parse_timestamp(_text(finished))
    return seconds_text((end - start).total_seconds()) if start and end else ""


def run_duration(run: Mapping[str, Any]) -> str:
    """`status.duration` as the runtime wrote it, else finishedAt - startedAt, else ""."""
    status = _status(run)
    if status.get("duration"):
        return clean(_text(status["duration"]), 32)
    return _elapsed(status.get("startedAt"), status.get("finishedAt"))


def error_text(error: Any, width: int = MAX_FIELD) -> str:
    """`Code (node): message` of a run's or a step's error, or ""."""
    err = _mapping(error)
    if not err:
        return ""
    code = _text(err.get("code")) or "Error"
    node = _text(err.get("node"))
    message = _text(err.get("message"))
    text = code + (f" ({node})" if node else "") + (f": {message}" if message else "")
    return clean(text, width)


def _started(status: Mapping[str, Any], now: datetime) -> str:
    raw = status.get("startedAt")
    return age(_text(raw), now) if raw else ""


def run_rows(runs: Sequence[Mapping[str, Any]], now: datetime,
             limit: int | None = None) -> list[tuple[str, ...]]:
    """One row per run for RUN_HEADERS, newest first (creation time, then name)."""

    def key(run: Mapping[str, Any]) -> tuple[str, str]:
        meta = _mapping(run.get("metadata"))
        created = parse_timestamp(_text(meta.get("creationTimestamp")))
        return (created.isoformat() if created else "", name_of(run))

    ordered = sorted(runs, key=key, reverse=True)
    if limit is not None:
        ordered = ordered[:limit]
    rows: list[tuple[str, ...]] = []
    for run in ordered:
        meta = _mapping(run.get("metadata"))
        status = _status(run)
        number = run_version(run)
        rows.append((
            clean(name_of(run), 253),
            str(number) if number is not None else "?",
            clean(_text(_mapping(_spec(run).get("trigger")).get("type")), 16) or "?",
            clean(run_phase(run), 16) or "<pending>",
            _started(status, now),
            run_duration(run),
            error_text(status.get("error"), MAX_ERROR),
            age(_text(meta.get("creationTimestamp")) or None, now),
        ))
    return rows


# ------------------------------------------------------------------ logs


def output_text(output: Any, width: int = MAX_DETAIL) -> str:
    """A step's output as one line of compact JSON, cut to `width`."""
    try:
        text = json.dumps(output, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(output)
    return clean(text, width)


def step_detail(step: Mapping[str, Any]) -> str:
    """What a step line says after its duration: the error, else the output."""
    parts: list[str] = []
    if step.get("error"):
        parts.append(error_text(step["error"], MAX_DETAIL))
    elif step.get("output") is not None:
        parts.append(output_text(step["output"]))
    elif step.get("resumeAt") and step.get("phase") == StepPhase.RUNNING:
        parts.append(f"waiting until {clean(_text(step['resumeAt']), 40)}")
    attempts = step.get("attempts")
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts > 1:
        parts.append(f"(attempt {attempts})")
    if step.get("truncated") is True:
        parts.append("[truncated]")
    return " ".join(parts)


def step_rows(run: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for step in _status(run).get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        rows.append((
            clean(_text(step.get("node")), 63) or "?",
            clean(_text(step.get("phase")), 16) or StepPhase.PENDING,
            _elapsed(step.get("startedAt"), step.get("finishedAt")),
            step_detail(step),
        ))
    return rows


def _when(raw: Any, now: datetime) -> str:
    when = parse_timestamp(_text(raw))
    if when is None:
        return clean(_text(raw), 40) if raw else ""
    return f"{clean(_text(raw), 40)} ({human_duration((now - when).total_seconds())} ago)"


def run_header(run: Mapping[str, Any], now: datetime) -> list[tuple[str, str]]:
    """`describe`-style fields of a run, in the order `logs` prints them."""
    spec, status = _spec(run), _status(run)
    number = run_version(run)
    plan = _mapping(spec.get("plan"))
    version = f"v{number}" if number is not None else "?"
    if plan.get("configMap"):
        version += f" (plan {clean(_text(plan['configMap']), MAX_FIELD)})"
    fields = [
        ("Run", clean(name_of(run), 253)),
        ("Workflow", clean(_text(_mapping(spec.get("workflowRef")).get("name")), 253) or "?"),
        ("Version", version),
        ("Trigger", clean(_text(_mapping(spec.get("trigger")).get("type")), 16) or "?"),
    ]
    if spec.get("replayOf"):
        fields.append(("Replay of", clean(_text(spec["replayOf"]), 253)))
    fields += [
        ("Phase", clean(run_phase(run), 16) or "<pending>"),
        ("Started", _when(status.get("startedAt"), now)),
        ("Duration", run_duration(run)),
        ("Error", error_text(status.get("error"))),
    ]
    last = _mapping(status.get("lastReplay"))
    if last:
        result = clean(_text(last.get("result")), 16)
        target = (f" as {clean(_text(last['run']), 253)}" if last.get("run") else
                  f": {clean(_text(last.get('reason')), 128)}")
        fields.append(("Last replay", f"{result}{target} "
                                      f"(token {clean(_text(last.get('token')), 64)})"))
    return fields


def format_logs(run: Mapping[str, Any], now: datetime) -> str:
    """The run header, then one line per step."""
    header = run_header(run, now)
    width = max(len(k) for k, _ in header) + 1
    lines = [f"{(key + ':').ljust(width)}  {value}".rstrip() for key, value in header]
    rows = step_rows(run)
    lines.append("")
    if rows:
        lines.append(format_table(STEP_HEADERS, rows))
    else:
        lines.append("No steps recorded yet.")
    return "\n".join(lines)


# ------------------------------------------------------------------ starting a run


def not_live_reason(workflow: Mapping[str, Any], service_exists: bool) -> str:
    """Why a workflow's trigger Service names no live version: what the user can do."""
    name = clean(name_of(workflow), 253)
    head = f"workflow {name} has no live version, so it cannot start a run"
    status = _status(workflow)
    phase = clean(_text(status.get("phase")), 16) or "<pending>"
    wanted = _spec(workflow).get("publishedVersion")
    if is_archived(workflow):
        return f"{head}: it is archived (spec.archived is true)"
    if is_paused(workflow):
        return f"{head}: {paused_reason(workflow)}"
    if _spec(workflow).get("suspend") is True:
        return (f"{head}: it is suspended (spec.suspend is true), so its trigger is unwired; "
                "set spec.suspend to false to wire it again")
    if wanted is None and live_version(workflow) is None:
        return (f"{head}: nothing is published (phase {phase}); publish a version with "
                f"`kubectl flowplane publish {name} N`")
    ready = condition(workflow, reasons.READY)
    detail = ""
    if ready is not None:
        detail = (f" (Ready={clean(_text(ready.get('status')), 8)} "
                  f"{clean(_text(ready.get('reason')), 64)}: "
                  f"{clean(_text(ready.get('message')), MAX_FIELD)})")
    if not service_exists:
        return (f"{head}: its trigger Service {service_name(name)} does not exist yet "
                f"(phase {phase}){detail}; is the operator running?")
    if isinstance(wanted, int) and live_version(workflow) != wanted:
        return f"{head}: v{wanted} is wanted but not live yet (phase {phase}){detail}"
    return (f"{head}: its trigger Service {service_name(name)} names no live version "
            f"(phase {phase}){detail}; is the operator running?")


def paused_reason(workflow: Mapping[str, Any]) -> str:
    safety = _mapping(_status(workflow).get("safety"))
    reason = clean(_text(safety.get("reason")), 64) or reasons.REASON_SAFETY_PAUSED
    message = clean(_text(safety.get("message")), MAX_FIELD)
    name = clean(name_of(workflow), 253)
    return (f"it is paused by a safety check ({reason}{': ' + message if message else ''}); "
            f"run `kubectl flowplane resume {name}`")


# ------------------------------------------------------------------ waiting


def run_outcome(run: Mapping[str, Any]) -> Outcome | None:
    """How a run ended; None while it is Pending or Running."""
    phase = run_phase(run)
    if phase == RunPhase.SUCCEEDED:
        return Outcome(True, phase, run_duration(run))
    if phase == RunPhase.FAILED:
        status = _status(run)
        error = error_text(status.get("error"))
        if not error:
            succeeded = condition(run, "Succeeded") or {}
            error = clean(f"{_text(succeeded.get('reason')) or 'Failed'}: "
                          f"{_text(succeeded.get('message'))}".rstrip(": "), MAX_FIELD)
        return Outcome(False, phase, error)
    return None


def replay_outcome(run: Mapping[str, Any], token: str) -> Outcome | None:
    """How the replay asked for with `token` went; None until the runtime records it."""
    last = _mapping(_status(run).get("lastReplay"))
    if last.get("token") != token_record(token):
        return None
    if last.get("result") == ReplayResult.STARTED:
        return Outcome(True, ReplayResult.STARTED, clean(_text(last.get("run")), 253))
    return Outcome(False, clean(_text(last.get("reason")), 128) or "Rejected",
                   clean(_text(last.get("message")), 1024))


def describe_progress(run: Mapping[str, Any]) -> str:
    """What a timed-out wait says about the run."""
    status = _status(run)
    phase = run_phase(run) or RunPhase.PENDING
    if not status.get("executor") and phase in ("", RunPhase.PENDING):
        return f"it is {phase}, and no runtime has claimed it (is flowplane-runtime running?)"
    steps = [s for s in status.get("steps") or [] if isinstance(s, Mapping)]
    current = next((s for s in steps if s.get("phase") == StepPhase.RUNNING), None)
    if current is not None:
        return f"it is {phase}, at step {clean(_text(current.get('node')), 63)}"
    return f"it is {clean(phase, 16)}"
