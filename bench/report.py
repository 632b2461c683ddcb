"""BENCHMARKS.md: machine, command, results tables, and each result against its target."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_compiler import Row
from bench.coldstart import ColdStartResult
from bench.common import Summary
from bench.latency import LatencyResult
from bench.runtime import FLOOR_EXEC, FLOOR_TWO, WARMUP, Phase, RuntimeResult

NOTES_BEGIN = "<!-- notes:begin (kept when the benchmark rewrites this file) -->"
NOTES_END = "<!-- notes:end -->"

TARGET_RATIO = 1.3
TARGET_COLD_N = 1000
TARGET_COLD_SECONDS = 60.0
TARGET_COLD_FLOOR_RATIO = 1.2
TARGET_RSS_MB = 250.0
TARGET_COMPILE_NODES = 1000
TARGET_COMPILE_MS = 50.0
TARGET_ACCEPT_RATIO = 1.5
TARGET_THROUGHPUT_SHARE = 0.8


@dataclass
class BenchRun:
    command: str
    date: str
    quick: bool
    machine: dict[str, str]
    duration_seconds: float = 0.0
    compiler: list[Row] = field(default_factory=list)
    floor: LatencyResult | None = None
    operator: LatencyResult | None = None
    cold: list[ColdStartResult] = field(default_factory=list)
    runtime: RuntimeResult | None = None
    profiles: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _times_floor(value: float | None, floor: float | None) -> str:
    if value is None or not floor or math.isnan(value):
        return "n/a"
    return f"{value / floor:.2f}x"


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024 / 1024:.0f}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**MISSED**")


def _latency_rows(result: LatencyResult) -> list[str]:
    rows = []
    for label, sel in (("all", None), ("new plan", True), ("existing plan", False)):
        s: Summary = result.summary(sel)
        if s.count == 0:
            continue
        rows.append(f"| {result.who} | {label} | {s.count} | {_ms(s.p50)} | {_ms(s.p95)} | "
                    f"{_ms(s.max)} | {_ms(s.mean)} | {_ms(s.min)} |")
    return rows


def targets(run: BenchRun) -> list[tuple[str, str, str, bool | None]]:
    """(what, target, result, met?)"""
    out: list[tuple[str, str, str, bool | None]] = []
    if run.operator and run.floor:
        op, fl = run.operator.summary(), run.floor.summary()
        ratio = op.p50 / fl.p50 if fl.p50 else math.nan
        out.append(("publish-to-live p50", f"<= {TARGET_RATIO}x the floor's p50",
                    f"{_ms(op.p50)} ms vs floor {_ms(fl.p50)} ms = {ratio:.2f}x",
                    bool(ratio <= TARGET_RATIO)))
    big = next((c for c in run.cold if c.workflows == TARGET_COLD_N), None)
    if big is not None:
        conv = big.converged_seconds
        rss_mb = big.peak_rss_bytes / 1024 / 1024 if big.peak_rss_bytes else math.nan
        out.append((f"cold start, {TARGET_COLD_N} workflows", f"converged <= "
                    f"{TARGET_COLD_SECONDS:.0f} s", "not converged" if conv is None
                    else f"{conv:.1f} s", conv is not None and conv <= TARGET_COLD_SECONDS))
        if big.floor_seconds:
            ratio = (conv or math.nan) / big.floor_seconds
            out.append((f"cold start vs floor, {TARGET_COLD_N} workflows",
                        f"<= {TARGET_COLD_FLOOR_RATIO}x the direct client's "
                        f"{big.floor_writes} writes", f"{_num(conv)} s vs {big.floor_seconds:.1f}"
                        f" s = {ratio:.2f}x", bool(ratio <= TARGET_COLD_FLOOR_RATIO)))
        out.append((f"operator peak RSS, {TARGET_COLD_N} workflows", f"< {TARGET_RSS_MB:.0f} MB",
                    f"{rss_mb:.0f} MB", bool(rss_mb < TARGET_RSS_MB)))
    elif run.cold:
        out.append((f"cold start, {TARGET_COLD_N} workflows", f"<= {TARGET_COLD_SECONDS:.0f} s, "
                    f"RSS < {TARGET_RSS_MB:.0f} MB", "not measured (quick run)", None))
    idle = next((c.idle for c in run.cold if c.idle is not None), None)
    if idle is not None:
        out.append(("API writes at rest", f"0 in {idle.seconds:.0f} s",
                    f"{idle.flowplane_writes:.0f} (operator counter: {idle.operator_writes:.0f})",
                    idle.flowplane_writes == 0 and idle.operator_writes == 0))
    out += runtime_targets(run.runtime)
    row = next((r for r in run.compiler if r.nodes == TARGET_COMPILE_NODES), None)
    if row is not None:
        out.append((f"compile a {TARGET_COMPILE_NODES}-node graph", f"< {TARGET_COMPILE_MS:.0f} ms",
                    f"{row.compile_ms:.1f} ms median, {row.compile_p95_ms:.1f} ms p95",
                    row.compile_ms < TARGET_COMPILE_MS))
    return out


def _load(phase: Phase) -> str:
    return f"{phase.load[0]:.2f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def runtime_targets(rt: RuntimeResult | None) -> list[tuple[str, str, str, bool | None]]:
    out: list[tuple[str, str, str, bool | None]] = []
    if rt is None:
        return out
    fl, op = rt.phase("floor", "accept"), rt.phase("runtime", "accept")
    if fl and op:
        ratio = _ratio(op.summary().p50, fl.summary().p50)
        out.append(("runtime: event -> 202 p50", f"<= {TARGET_ACCEPT_RATIO}x the floor's p50 "
                    "(direct creates)", f"{_ms(op.summary().p50)} ms vs floor "
                    f"{_ms(fl.summary().p50)} ms = {ratio:.2f}x (load {_load(fl)} / "
                    f"{_load(op)})", None if math.isnan(ratio) else
                    bool(ratio <= TARGET_ACCEPT_RATIO)))
    fl, op = rt.phase("floor", "throughput"), rt.phase("runtime", "throughput")
    if fl and op:
        share = _ratio(op.rate, fl.rate)
        out.append((f"runtime: accepted events/s, one replica, {op.concurrency} in flight",
                    f">= {TARGET_THROUGHPUT_SHARE:.0%} of the floor's creates/s",
                    f"{op.rate:.0f}/s vs floor {fl.rate:.0f}/s = {share:.0%} (load "
                    f"{_load(fl)} / {_load(op)})",
                    None if math.isnan(share) else bool(share >= TARGET_THROUGHPUT_SHARE)))
    fl, op = rt.phase("floor", "e2e"), rt.phase("runtime", "e2e")
    if fl and op:
        ratio = _ratio(op.summary().p50, fl.summary().p50)
        out.append(("runtime: event -> run Succeeded p50, 3-step plan",
                    "none set (floor: create + 2 status patches)",
                    f"{_ms(op.summary().p50)} ms vs floor {_ms(fl.summary().p50)} ms = "
                    f"{ratio:.2f}x (load {_load(fl)} / {_load(op)})", None))
    if rt.phases:
        started = sum(p.runs_started for p in rt.phases)
        finished = sum(p.runs_finished for p in rt.phases)
        out.append(("runtime: every accepted run executed once", "executions finished = runs "
                    "created (RUNTIME.md: a finished step never runs again)",
                    f"{finished:.0f} executions of {started:.0f} runs", finished == started))
    return out


def _per_event(value: float | None, phase: Phase) -> str:
    if value is None or not phase.count:
        return "n/a"
    return f"{value / phase.count:.2f}"


def runtime_section(rt: RuntimeResult) -> list[str]:
    lines = [
        "## 6. Runtime",
        "",
        f"`bench/runtime.py`. One `flowplane-runtime` replica as its own process "
        f"(`--namespace` on the benchmark's namespace, `--max-runs-per-minute "
        f"1000000`); the operator made the two workflows live and was stopped before "
        f"anything was measured. Each measurement is made by the floor and then by the "
        f"runtime, one right after the other, after {WARMUP} warm-up calls each. The "
        "workflows' `spec.runHistory` is "
        + ("the default (50 of each outcome)." if rt.run_history is None else
           f"{rt.run_history} of each outcome (not the default)."),
        "",
        f"- **accept**: {rt.events} sequential events (`POST /hook`, `Host: "
        "hook-trigger.<ns>.svc`, a small JSON body) to a live webhook workflow "
        "(webhook -> transform); latency from sending to the `202`. The runtime also "
        "executes every run it accepts (claim, one status write per step, the final "
        "status; past `runHistory` 50 it deletes the oldest) while the next events arrive.",
        f"- **throughput**: {rt.burst} events to the same workflow with {rt.concurrency} "
        "senders in flight; accepted events/s = `202`s / seconds from the first send to "
        "the last answer. *drain*: from the last `202` until the runtime finished every "
        "run it accepted.",
        f"- **e2e**: {rt.e2e_events} sequential events to a 3-step plan (webhook -> "
        "transform -> `http` action POSTing to a local sink); latency from sending to the "
        "arrival of the watch event with `status.phase: Succeeded`.",
        "",
        "The **floor** is a direct client in the same run, in a namespace no runtime "
        "watches, making the same API calls: for accept and throughput, `POST "
        "workflowruns` with the body the runtime writes (`pinning.run_body`, the event "
        "copied from a run the runtime stored); for e2e, the create + 2 status patches "
        "(Running with the claim, then the final status with the 3 steps, copied from a "
        "run the runtime finished), each guarded by the previous resourceVersion, timed "
        "to the same watch event. Its client is the runtime's own API client "
        "(`flowplane.runtime.kubeapi.KubeApi`: asynchronous aiohttp, a pooled keep-alive "
        "connection, the same TLS and token), so it is exactly as efficient as the "
        "runtime's path to the API server; the events are sent by an aiohttp session "
        "with as many keep-alive connections as senders.",
        "",
        f"**{FLOOR_EXEC}** (a diagnostic, not a target): the floor's creates, each followed "
        "in the background by the status writes the runtime makes to execute that run "
        "(the claim, one write after each step, the final status; no retention deletes). "
        "The latency is still to the create's answer. It shows how much of the gap is the "
        "execution writes competing for the same API server, rather than the runtime's "
        "own code.",
        "",
        f"**{FLOOR_TWO}** (a diagnostic): the same with only two background writes per run, "
        "the claim and the final status (with every step): what the execution would cost "
        "if the runtime wrote the trigger's step with the claim and the last step with the "
        "final status, and did not write after steps without side effects.",
        "",
        "| measurement | who | n | in flight | ok | p50 ms | p95 ms | max ms | per s | "
        "load (1 min) at start |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in rt.phases:
        s = p.summary()
        refused = {k: v for k, v in p.statuses.items() if k != "ok"}
        ok = f"{p.ok}" + (f" ({', '.join(f'{k}: {v}' for k, v in refused.items())})"
                          if refused else "")
        lines.append(f"| {p.test} | {p.who} | {p.count} | {p.concurrency} | {ok} | "
                     f"{_ms(s.p50)} | {_ms(s.p95)} | {_ms(s.max)} | {p.rate:.0f} | "
                     f"{_load(p)} |")
    lines.append("")
    ratios = []
    for test in ("accept", "throughput", "e2e"):
        fl, op = rt.phase("floor", test), rt.phase("runtime", test)
        if fl is None or op is None:
            continue
        a, b = op.summary(), fl.summary()
        text = (f"{test}: p50 {_ratio(a.p50, b.p50):.2f}x, p95 {_ratio(a.p95, b.p95):.2f}x")
        if test == "throughput":
            text += f", rate {_ratio(op.rate, fl.rate):.0%} of the floor"
            if op.drain_seconds is not None:
                sustained = op.ok / (op.seconds + op.drain_seconds)
                text += (f"; drain {op.drain_seconds:.1f} s, so runs finished at "
                         f"{sustained:.0f}/s")
        if test == "e2e" and op.accepted_at and fl.accepted_at:
            a202, fcreate = Summary.of(op.accepted_at), Summary.of(fl.accepted_at)
            text += (f" (of which to the `202` {_ms(a202.p50)} ms vs the floor's create "
                     f"{_ms(fcreate.p50)} ms = {_ratio(a202.p50, fcreate.p50):.2f}x, with no "
                     "other run in flight)")
        ratios.append(text)
    if ratios:
        lines += ["Runtime / floor: " + "; ".join(ratios) + ".", ""]
    for who in (FLOOR_EXEC, FLOOR_TWO):
        diag = []
        for test in ("accept", "throughput"):
            fx, op, fl = rt.phase(who, test), rt.phase("runtime", test), rt.phase("floor", test)
            if fx is None or op is None or fl is None:
                continue
            diag.append(f"{test}: p50 {_ratio(op.summary().p50, fx.summary().p50):.2f}x"
                        + (f", rate {_ratio(op.rate, fx.rate):.0%}" if test == "throughput"
                           else "")
                        + f" (itself against the floor: p50 "
                        f"{_ratio(fx.summary().p50, fl.summary().p50):.2f}x"
                        + (f", rate {_ratio(fx.rate, fl.rate):.0%}" if test == "throughput"
                           else "") + ")")
        if diag:
            lines += [f"Runtime / {who}: " + "; ".join(diag) + ".", ""]
    cpu_cols = ["runtime", "benchmark"] + (["etcd + kube-apiserver"]
                                           if rt.control_plane_cpu else [])
    lines += [
        "Where the work goes, per event: the kube-apiserver's own counters for "
        "`workflowruns` over each measurement (API calls per event, and the server's mean "
        "time per call), and CPU ms per event from /proc. A measurement lasts until every "
        "run it created is seen finished and the runtime then finished no execution for "
        f"{rt.quiet:g} s, so the runtime's execution and retention calls are in its row. The last "
        "column is the runtime's own counters over the measurement: runs it created / "
        "executions it finished.",
        "",
        "| measurement | who | POST | PATCH | GET | DELETE | not 2xx | apiserver ms per POST | "
        "apiserver ms per PATCH | " + " | ".join(f"{c} CPU ms" for c in cpu_cols)
        + " | runtime runs / executions |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|" + "---:|" * len(cpu_cols) + "---:|",
    ]
    for p in rt.phases:
        cpu = [_per_event(None if c not in p.cpu else p.cpu[c] * 1000, p) for c in cpu_cols]
        lines.append(
            f"| {p.test} | {p.who} | {_per_event(p.api_calls.get('POST'), p)} | "
            f"{_per_event(p.api_calls.get('PATCH'), p)} | {_per_event(p.api_calls.get('GET'), p)}"
            f" | {_per_event(p.api_calls.get('DELETE'), p)} | "
            + (", ".join(f"{k} {_per_event(v, p)}" for k, v in p.api_calls.items()
                         if " " in k and v) or "-") + " | "
            f"{_num(p.api_ms.get('POST'))} | {_num(p.api_ms.get('PATCH'))} | "
            + " | ".join(cpu) + f" | {p.runs_started:.0f} / {p.runs_finished:.0f}"
            + ("" if p.settled else " (still executing)") + " |")
    failed = sum(p.runs_failed for p in rt.phases)
    ran = rt.phases
    started, finished = sum(p.runs_started for p in ran), sum(p.runs_finished for p in ran)
    twice = ", ".join(f"{p.who} {p.test}: {p.runs_finished - p.runs_started:.0f}" for p in ran
                      if p.runs_finished > p.runs_started)
    lines += ["", f"The runtime's own counters over all measurements: {started:.0f} runs "
              f"created, {finished:.0f} executions finished, {failed:.0f} of them Failed"
              + (f"; **more executions than runs** (executed again after they had finished: "
                 f"{twice})" if twice else "") + f". This part took {rt.seconds:.0f} s "
              f"({rt.setup_seconds:.1f} s of setup).", ""]
    return lines


def _kept_notes(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError:
        return ""
    if NOTES_BEGIN in text and NOTES_END in text:
        return text.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0].strip("\n")
    return ""


def render(run: BenchRun, notes: str = "") -> str:
    lines: list[str] = [
        "# flowplane benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python -m bench.run`); every number below "
        "comes from one run on a real local control plane (etcd + kube-apiserver + "
        "kube-controller-manager, started fresh by the benchmark and stopped at the end) "
        "with the operator as a separate process, as in production.",
        "",
        f"- Command: `{run.command}`",
        f"- Date: {run.date}",
        f"- Duration: {run.duration_seconds / 60:.1f} min" + (" (quick run: tiny sizes)"
                                                             if run.quick else ""),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in run.machine.items()],
        "",
        "## Results against targets",
        "",
        "| what | target | result | verdict |",
        "|---|---|---|---|",
        *[f"| {w} | {t} | {r} | {_verdict(ok)} |" for w, t, r, ok in targets(run)],
        "",
    ]
    if run.errors:
        lines += ["**Errors during the run:**", "", *[f"- {e}" for e in run.errors], ""]

    if run.operator or run.floor:
        lines += ["## 1-2. Publish-to-live latency, operator vs floor", ""]
        first = run.operator or run.floor
        assert first is not None
        lines += [
            f"{first.workflows} workflows x {first.versions} versions; "
            f"{len(first.samples)} publishes, one at a time, flipping `spec.publishedVersion` "
            "round-robin (v1 -> v2 -> v3 -> v1 ...). Latency: from the spec patch returning "
            "to the arrival of the watch events showing BOTH the trigger Service annotation "
            "`flowplane.dev/active-version` and the Workflow's `status.activeVersion` at the "
            "new version. \"new plan\": the version's first publish (its plan ConfigMap is "
            "created); \"existing plan\": a rollback to a version whose plan exists.",
            "",
            "The **floor** is a direct client in the same run making the minimal API sequence "
            "of a publish sequentially with the official Python client (version status "
            "Compiling; create the plan ConfigMap if new; patch the Service annotations and "
            "selector; old version status; new version status; workflow status), timed from "
            "its own spec patch to the same two watch observations, in a namespace no "
            "operator watches.",
            "",
            "| who | publishes | n | p50 ms | p95 ms | max ms | mean ms | min ms |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for result in (run.floor, run.operator):
            if result is not None:
                lines += _latency_rows(result)
        if run.operator and run.floor:
            op, fl = run.operator.summary(), run.floor.summary()
            lines += ["", f"Operator / floor: p50 {op.p50 / fl.p50:.2f}x, "
                      f"p95 {op.p95 / fl.p95:.2f}x."]
            svc = Summary.of([s.service_at for s in run.operator.samples])
            wfs = Summary.of([s.workflow_at for s in run.operator.samples])
            lines += ["", f"Operator breakdown (p50): the Service event arrives "
                      f"{_ms(svc.p50)} ms after the spec patch returned, the Workflow status "
                      f"event {_ms(wfs.p50)} ms."]
        lines += [""]

    if run.cold:
        lines += [
            "## 3. Cold start at scale",
            "",
            "N workflows x 3 versions (`publishedVersion` 1 or 2, alternating) exist before "
            "the operator starts; one namespace per size (deleted before the next size), the "
            "operator started with `--namespace` on it. Time from the operator process start "
            "until every Workflow is converged (Ready=True, `status.observedGeneration` = "
            "`metadata.generation`, `status.activeVersion` = `spec.publishedVersion`), seen "
            "by a watch. Peak RSS is the operator process's VmHWM. The floor: the same "
            "first-reconcile writes for the same N workflows (10 per family: 3 adoptions, "
            "the Service, Compiling, the plan, 3 version statuses, the workflow status; "
            "`bench.latency.ColdFloor`) made by a direct client with 16 in flight, in another "
            "namespace of the same cluster, right after the operator's run.",
            "",
            "| workflows | objects | create s | first operator write s | converged s | "
            "floor s | x floor | "
            "Services wired | peak RSS MB | operator CPU s | etcd + apiserver CPU s | "
            "operator writes | reconciles | reconcile errors | decide() total s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in run.cold:
            conv = ("not converged "
                    f"({c.converged_count}/{c.workflows})" if c.converged_seconds is None
                    else f"{c.converged_seconds:.1f}")
            counters = c.operator
            lines.append(
                f"| {c.workflows} | {c.objects} | {c.create_seconds:.1f} | "
                f"{_num(c.first_write_seconds)} | {conv} | {_num(c.floor_seconds)} | "
                f"{_times_floor(c.converged_seconds, c.floor_seconds)} | {c.services_wired} | "
                f"{_mb(c.peak_rss_bytes)} | {_num(c.cpu_seconds_at_converged)} | "
                f"{_num(c.control_plane_cpu_seconds)} | {counters.get('writes', 0):.0f} | "
                f"{counters.get('reconciles', 0):.0f} | "
                f"{counters.get('reconcile_errors', 0):.0f} | "
                f"{_num(counters.get('decide_seconds'))} |")
        lines += [""]
        restarts = [c for c in run.cold if c.restart is not None]
        for c in restarts:
            r = c.restart
            assert r is not None
            lines += [
                f"Restart: the operator stopped and started again on the {c.workflows} converged "
                f"workflows reconciled every family once after "
                f"{_num(r.seconds)} s (first reconcile after {_num(r.first_reconcile_seconds)} s),"
                f" with {r.writes:.0f} writes ({r.reconciles:.0f} reconciles).",
                "",
            ]

    idle_runs = [c for c in run.cold if c.idle is not None]
    for c in idle_runs:
        idle = c.idle
        assert idle is not None
        lines += [
            "## 4. API writes at rest",
            "",
            f"{c.workflows} converged workflows; after the operator made no write for 3 s, "
            f"`apiserver_request_total` (verbs POST, PUT, PATCH, DELETE, APPLY) was scraped "
            f"from the kube-apiserver before and after {idle.seconds:.0f} s in which the "
            "benchmark wrote nothing. Writes to workflows, workflowversions, services, "
            "configmaps and events are the operator's (nothing else writes them here: the "
            "controller-manager runs only the garbage collector and the namespace "
            "controller, and no namespace was terminating); the apiserver's own Lease "
            "renewals are listed separately.",
            "",
            "| counter | writes |",
            "|---|---:|",
            f"| flowplane resources (apiserver) | {idle.flowplane_writes:.0f} |",
            f"| all resources (apiserver) | {idle.apiserver_writes_total:.0f} |",
            f"| operator's `flowplane_api_writes_total` | {idle.operator_writes:.0f} |",
            f"| operator reconciles (`flowplane_reconcile_duration_seconds_count`) | "
            f"{idle.operator_reconciles:.0f} |",
            "",
        ]
        if idle.by_resource:
            lines += ["Every write in the window, by verb and resource: "
                      + ", ".join(f"`{k}` {v:.0f}" for k, v in idle.by_resource.items()) + "."]
        if idle.terminating_namespaces:
            lines += ["", "Namespaces terminating during the window (their deletion writes "
                      "may be counted): " + ", ".join(idle.terminating_namespaces)]
        lines += [""]

    if run.compiler:
        lines += [
            "## 5. Compiler",
            "",
            "`bench/bench_compiler.py`: validate + compile random valid graphs (actions, "
            "branches, loops, delays, transforms; ~1.5 edges per node; templates referencing "
            "ancestors), in process.",
            "",
            "| nodes | edges | parse + canonical hash (median ms) | full validate + compile "
            "(median ms) | p95 ms | plan bytes |",
            "|---:|---:|---:|---:|---:|---:|",
            *[f"| {r.nodes} | {r.edges} | {r.validate_ms:.2f} | {r.compile_ms:.2f} | "
              f"{r.compile_p95_ms:.2f} | {r.plan_bytes} |" for r in run.compiler],
            "",
        ]

    if run.runtime is not None:
        lines += runtime_section(run.runtime)

    if run.profiles:
        lines += ["## Profiles (py-spy)", ""]
        for label, frames in run.profiles.items():
            who = "runtime" if label.startswith("runtime") else "operator"
            lines += [f"`{label}` ({who} process) - the most expensive frames (inclusive % of "
                      "samples, self %):",
                      "", "| inclusive % | self % | frame |", "|---:|---:|---|"]
            lines += [f"| {i:.1f} | {s:.1f} | `{f}` |" for f, i, s in frames]
            lines += [""]

    lines += ["## Analysis", "", NOTES_BEGIN, notes or "(none yet)", NOTES_END, ""]
    return "\n".join(lines)


def write(run: BenchRun, path: Path) -> None:
    notes = _kept_notes(path)
    path.write_text(render(run, notes))


def to_json(run: BenchRun) -> dict[str, Any]:
    return {
        "command": run.command, "date": run.date, "quick": run.quick, "machine": run.machine,
        "duration_seconds": run.duration_seconds,
        "compiler": [r.__dict__ for r in run.compiler],
        "floor": run.floor.to_json() if run.floor else None,
        "operator": run.operator.to_json() if run.operator else None,
        "cold": [c.to_json() for c in run.cold],
        "runtime": run.runtime.to_json() if run.runtime else None,
        "targets": [list(t) for t in targets(run)],
        "errors": run.errors,
    }

