"""`kubectl flowplane` (console script `kubectl-flowplane`): publish, roll back, inspect,
start and replay runs; `lint` checks YAML files offline (flowplane.cli.lint).

Exit codes: 0 done, 1 the operation failed or was rejected (unknown workflow, version or
run, blocked by a safety pause or an archive, a publish or replay rejected, nothing live
to run, a run that failed, a wait that timed out), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from flowplane.cli import graphdiff, lint, render, runs, status, table
from flowplane.cli.api import Api, Obj
from flowplane.cli.status import OperationError, Outcome
from flowplane.model.resources import (
    ANN_RESUME,
    ANN_REVERT,
    SAFETY_MESSAGE_MAX,
    SAFETY_REASON_MAX,
)
from flowplane.model.run import ANN_REPLAY, RunPhase, TriggerKind
from flowplane.runtime.pinning import (
    TRIGGER_SUFFIX,
    pin_from_service,
    random_run_name,
    run_body,
    synthetic_event,
)

PROG = "kubectl flowplane"
POLL_SECONDS = 0.25
DEFAULT_TIMEOUT = 60.0
MAX_DATA_BYTES = 1024 * 1024
"""A manual run's event body, as compact JSON: the runtime's default request-body limit."""
MAX_TOKEN = 253
"""status.lastReplay.token's maxLength in the WorkflowRun CRD."""
CREATE_ATTEMPTS = 5


# ------------------------------------------------------------------ helpers


def fresh_token() -> str:
    """A new action token: any new value is a new request for the operator."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _out(text: str) -> None:
    print(text, flush=True)


def _workflow_and_versions(api: Api, name: str) -> tuple[Obj, list[Obj]]:
    """The workflow and its versions. Versions may exist before their workflow (GitOps)."""
    wf = api.workflow_or_none(name)
    versions = api.versions(name)
    if wf is None:
        if not versions:
            raise OperationError(f'workflow "{name}" not found in namespace "{api.namespace}"')
        print(f"warning: workflow {name} does not exist (yet); showing its versions",
              file=sys.stderr)
        wf = {"metadata": {"name": name}}
    return wf, versions


def _poll(read: Callable[[str], Obj], describe: Callable[[Obj], str], name: str,
          check: Callable[[Obj], Outcome | None], timeout: float, what: str) -> Outcome:
    """Read `name` until `check` has an outcome; on timeout say where things stand."""
    deadline = time.monotonic() + timeout
    while True:
        obj = read(name)
        outcome = check(obj)
        if outcome is not None:
            return outcome
        if time.monotonic() >= deadline:
            raise OperationError(f"timed out after {timeout:g}s waiting for {what}; "
                                 f"{describe(obj)}")
        time.sleep(POLL_SECONDS)


def _wait(api: Api, name: str, check: Callable[[Obj], Outcome | None], timeout: float,
          what: str) -> Outcome:
    return _poll(api.workflow, status.describe_ready, name, check, timeout, what)


def _wait_run(api: Api, name: str, check: Callable[[Obj], Outcome | None], timeout: float,
              what: str) -> Outcome:
    return _poll(api.run, runs.describe_progress, name, check, timeout, what)


# ------------------------------------------------------------------ commands


def cmd_versions(api: Api, args: argparse.Namespace) -> int:
    wf, versions = _workflow_and_versions(api, args.workflow)
    if not versions:
        print(f"No versions found for workflow {args.workflow} in namespace {api.namespace}.",
              file=sys.stderr)
        return 0
    live_name = (wf.get("status") or {}).get("activeVersionName")
    rows = table.version_rows(versions, status.live_version(wf), datetime.now(UTC),
                              live_name if isinstance(live_name, str) else None)
    _out(table.format_table(table.VERSION_HEADERS, rows))
    return 0


def _publish(api: Api, args: argparse.Namespace, *, rollback: bool) -> int:
    name, number = args.workflow, args.version
    wf = api.workflow(name)
    verb = "rolling back" if rollback else "publishing"
    if (why := status.blocker(wf, verb)) is not None:
        raise OperationError(why)
    version = status.require_version(api.versions(name), number, name)
    if rollback:
        status.check_rollback(wf, version)
    patched = api.patch_workflow(name, {"spec": {"publishedVersion": number}})
    what = "rollback to" if rollback else "publish of"
    _out(f"workflow/{name}: {what} v{number} ({status.name_of(version)}) requested")
    if not args.wait:
        return 0
    generation = int(patched["metadata"]["generation"])
    outcome = _wait(api, name, lambda w: status.publish_outcome(w, number, generation),
                    args.timeout, f"v{number} to go live")
    if outcome.ok:
        if status.is_suspended(api.workflow(name)):
            _out(f"workflow/{name}: v{number} is active; trigger unwired while suspended")
        else:
            _out(f"workflow/{name}: v{number} is live")
        return 0
    raise OperationError(f"workflow/{name}: {what} v{number} was rejected ({outcome.reason}): "
                         f"{outcome.message}")


def cmd_publish(api: Api, args: argparse.Namespace) -> int:
    return _publish(api, args, rollback=False)


def cmd_rollback(api: Api, args: argparse.Namespace) -> int:
    return _publish(api, args, rollback=True)


def cmd_deactivate(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    wf = api.workflow(name)
    # Allowed while paused: nothing live is the safest state (the pause stays).
    wanted = (wf.get("spec") or {}).get("publishedVersion")
    if wanted is None and status.live_version(wf) is None:
        _out(f"workflow/{name}: nothing is live; nothing to deactivate")
        return 0
    patched = api.patch_workflow(name, {"spec": {"publishedVersion": None}})
    _out(f"workflow/{name}: deactivation requested")
    if not args.wait:
        return 0
    generation = int(patched["metadata"]["generation"])
    outcome = _wait(api, name, lambda w: status.deactivate_outcome(w, generation),
                    args.timeout, "the workflow to be deactivated")
    if outcome.ok:
        paused = " (still paused by a safety check)" if status.is_paused(api.workflow(name)) else ""
        _out(f"workflow/{name}: deactivated; nothing is live{paused}")
        return 0
    raise OperationError(f"workflow/{name}: deactivation was rejected ({outcome.reason}): "
                         f"{outcome.message}")


def cmd_new_draft(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    wf = api.workflow(name)
    versions = api.versions(name)
    source_number = args.source if args.source is not None else status.live_version(wf)
    if source_number is None:
        raise OperationError(f"workflow {name} has no live version to copy; "
                             "name one with --from N")
    source = status.require_version(versions, source_number, name)
    number = status.next_version_number(versions)
    taken = {status.name_of(v) for v in versions}
    for _ in range(10):
        draft = status.draft_name(name, number, taken)
        body = status.new_draft_body(name, api.namespace, number, draft, source)
        try:
            api.create_version(body)
        except OperationError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiException) and cause.status == 409:
                taken.add(draft)  # the name belongs to another workflow's version
                continue
            raise
        _out(f"workflowversion/{draft} created: v{number} \"Draft from v{source_number}\"; "
             f"publish it with `{PROG} publish {name} {number}`")
        return 0
    raise OperationError(f"could not find a free name for v{number} of workflow {name}")


def cmd_revert(api: Api, args: argparse.Namespace) -> int:
    version = api.version(args.version_name)
    number = table.version_number(version)
    workflow = str(((version.get("spec") or {}).get("workflowRef") or {}).get("name", ""))
    wf = api.workflow(workflow)
    live = status.live_version(wf)
    if live is None:
        raise OperationError(f"no version of workflow {workflow} is live, so there is no "
                             "published graph to revert to")
    if number == live:
        raise OperationError(f"v{number} is the live version of workflow {workflow}; "
                             "there is nothing to revert")
    token = fresh_token()
    api.patch_version(args.version_name, {"metadata": {"annotations": {ANN_REVERT: token}}})
    _out(f"workflowversion/{args.version_name}: revert to the graph of live v{live} requested "
         f"(token {token})")
    return 0


def cmd_resume(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    wf = api.workflow(name)
    if not status.is_paused(wf):
        _out(f"workflow/{name} is not paused by a safety check; nothing to resume")
        return 0
    token = fresh_token()
    api.patch_workflow(name, {"metadata": {"annotations": {ANN_RESUME: token}}})
    _out(f"workflow/{name}: resume requested (token {token})")
    if not args.wait:
        return 0
    outcome = _wait(api, name, lambda w: status.resume_outcome(w, token), args.timeout,
                    "the resume")
    if outcome.ok:
        _out(f"workflow/{name}: resumed; {outcome.message}")
        return 0
    raise OperationError(f"workflow/{name}: resumed, but not Ready ({outcome.reason}): "
                         f"{outcome.message}")


def cmd_trip(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    api.workflow(name)
    safety = {"tripped": True, "reason": args.reason,
              "message": args.message or f"tripped with {PROG} trip"}
    api.patch_workflow(name, {"status": {"safety": safety}}, status=True)
    _out(f"workflow/{name}: safety pause tripped ({args.reason}); the trigger is unwired and "
         f"publishing is blocked until `{PROG} resume {name}`")
    return 0


def cmd_diff(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    _, versions = _workflow_and_versions(api, name)
    old = status.require_version(versions, args.old, name)
    new = status.require_version(versions, args.new, name)
    old_graph = (old.get("spec") or {}).get("graph")
    new_graph = (new.get("spec") or {}).get("graph")
    old_name = f"v{args.old} ({status.name_of(old)})"
    new_name = f"v{args.new} ({status.name_of(new)})"
    if args.unified:
        text = graphdiff.unified_diff(old_graph, new_graph, old_name, new_name)
        sys.stdout.write(text or "no differences\n")
    else:
        sys.stdout.write(graphdiff.format_diff(graphdiff.diff_graphs(old_graph, new_graph),
                                               old_name, new_name))
    return 0


def cmd_graph(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    wf, versions = _workflow_and_versions(api, name)
    number = args.version if args.version is not None else status.live_version(wf)
    if number is None:
        raise OperationError(f"workflow {name} has no live version; name one: "
                             f"{PROG} graph {name} N")
    version = status.require_version(versions, number, name)
    graph = (version.get("spec") or {}).get("graph") or {}
    sys.stdout.write(render.render(graph, args.format, f"{name} v{number}"))
    return 0


def cmd_runs(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    items = api.runs(name)
    if not items:
        api.workflow(name)  # an unknown workflow is an error, a workflow without runs is not
        print(f"No runs found for workflow {name} in namespace {api.namespace}.",
              file=sys.stderr)
        return 0
    rows = runs.run_rows(items, datetime.now(UTC), args.limit)
    _out(table.format_table(runs.RUN_HEADERS, rows))
    return 0


def cmd_run(api: Api, args: argparse.Namespace) -> int:
    name = args.workflow
    wf = api.workflow(name)
    if status.is_paused(wf):
        raise OperationError(f"workflow {name} cannot start a run: {runs.paused_reason(wf)}")
    service = f"{name}{TRIGGER_SUFFIX}"
    annotations = api.service_annotations(service)
    pin = pin_from_service(service, annotations)
    if pin is None:
        raise OperationError(runs.not_live_reason(wf, annotations is not None))
    uid = (wf.get("metadata") or {}).get("uid")
    event = synthetic_event(body=args.data)
    for _ in range(CREATE_ATTEMPTS):
        run_name = random_run_name(name)
        body = run_body(name=run_name, pin=pin, trigger=TriggerKind.MANUAL, event=event,
                        workflow_uid=str(uid) if uid else None)
        try:
            api.create_run(body)
        except OperationError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiException) and cause.status == 409:
                continue  # a random name clash: draw another
            raise
        break
    else:
        raise OperationError(f"could not find a free run name for workflow {name}")
    _out(f"run {run_name} started on v{pin.version}")
    if not args.wait:
        return 0
    outcome = _wait_run(api, run_name, runs.run_outcome, args.timeout,
                        f"run {run_name} to finish")
    if outcome.ok:
        _out(f"run {run_name} succeeded" + (f" in {outcome.message}" if outcome.message else ""))
        return 0
    raise OperationError(f"run {run_name} failed: {outcome.message}")


def cmd_replay(api: Api, args: argparse.Namespace) -> int:
    name = args.run
    run = api.run(name)
    if not runs.is_finished(run):
        phase = runs.run_phase(run) or RunPhase.PENDING
        raise OperationError(f"run {name} is {table.clean(phase, 16)}; only a finished run "
                             "(Succeeded or Failed) can be replayed")
    token = args.token or fresh_token()
    done = runs.replay_outcome(run, token)
    if done is None:
        api.patch_run(name, {"metadata": {"annotations": {ANN_REPLAY: token}}})
        _out(f"workflowrun/{name}: replay requested (token {token})")
        if not args.wait:
            return 0
        done = _wait_run(api, name, lambda r: runs.replay_outcome(r, token), args.timeout,
                         f"the replay of run {name}")
    else:
        # The runtime acts once per token: report what it did with this one.
        _out(f"workflowrun/{name}: token {token} was already handled")
    if done.ok:
        _out(f"replayed as {done.message}")
        return 0
    raise OperationError(f"replay rejected: {done.reason}: {done.message}")


def cmd_logs(api: Api, args: argparse.Namespace) -> int:
    run = api.run(args.run)
    _out(runs.format_logs(run, datetime.now(UTC)))
    return 0


# ------------------------------------------------------------------ arguments


def _at_least_one(what: str, too_small: str) -> Callable[[str], int]:
    """An argparse type for an integer >= 1, with the usage errors saying what it counts."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{too_small}: {text!r}")
        return value
    return parse


_positive_int = _at_least_one("version number", "version numbers start at 1")
_limit = _at_least_one("number of runs", "the limit must be at least 1")


def _timeout(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be positive")
    return value


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_value(text: str, source: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise argparse.ArgumentTypeError(f"{source} is not valid JSON: {exc}") from None
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_DATA_BYTES:
        raise argparse.ArgumentTypeError(
            f"{source} is {size} bytes of JSON; the limit is {MAX_DATA_BYTES} bytes")
    return value


def _json_data(text: str) -> Any:
    return _json_value(text, "the data")


def _json_file(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc}") from None
    return _json_value(text, "stdin" if path == "-" else path)


def _token(text: str) -> str:
    if not text or len(text) > MAX_TOKEN or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"a token is 1 to {MAX_TOKEN} printable characters: {text!r}")
    return text


def _reason(text: str) -> str:
    if not status.REASON_PATTERN.match(text) or len(text) > SAFETY_REASON_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid reason: use one CamelCase word such as RunRateExceeded "
            f"(at most {SAFETY_REASON_MAX} characters)")
    return text


def _safety_message(text: str) -> str:
    if len(text) > SAFETY_MESSAGE_MAX:
        raise argparse.ArgumentTypeError(
            f"the message has {len(text)} characters; at most {SAFETY_MESSAGE_MAX} are allowed")
    return text


def _connection_flags(top_level: bool) -> argparse.ArgumentParser:
    """kubectl's connection flags, accepted before or after the command."""
    flags = argparse.ArgumentParser(add_help=False)
    default: Any = None if top_level else argparse.SUPPRESS
    flags.add_argument("--kubeconfig", default=default, metavar="PATH",
                       help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    flags.add_argument("--context", default=default, help="kubeconfig context to use")
    flags.add_argument("-n", "--namespace", default=default,
                       help="namespace (default: the context's namespace)")
    return flags


def _wait_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true",
                        help=f"wait until {what} (Ready=True) or rejected, and print the outcome")
    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds to wait with --wait (default: %(default)g)")


def _run_wait_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until {what}")
    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds to wait with --wait (default: %(default)g)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[_connection_flags(True)],
        description="Manage flowplane Workflows, their versions and their runs.",
        epilog="Exit codes: 0 done; 1 the operation failed or was rejected; 2 wrong usage.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    flags = [_connection_flags(False)]

    def add(name: str, help_text: str, fn: Callable[[Api, argparse.Namespace], int]
            ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=flags, help=help_text, description=help_text)
        cmd.set_defaults(func=fn)
        return cmd

    p = add("versions", "list a workflow's versions; LIVE marks the active one", cmd_versions)
    p.add_argument("workflow", metavar="WF")

    p = add("publish", "make version N live (spec.publishedVersion = N)", cmd_publish)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("version", metavar="N", type=_positive_int)
    _wait_flags(p, "it is live")

    p = add("rollback", "make an earlier live (Inactive) version N live again", cmd_rollback)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("version", metavar="N", type=_positive_int)
    _wait_flags(p, "it is live")

    p = add("deactivate", "take the live version down; nothing stays live", cmd_deactivate)
    p.add_argument("workflow", metavar="WF")
    _wait_flags(p, "nothing is live")

    p = add("new-draft", "create the next version as a copy of the live version (or --from N)",
            cmd_new_draft)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("--from", dest="source", metavar="N", type=_positive_int,
                   help="copy the graph of version N instead of the live version")

    p = add("revert", "replace a draft's graph with the live version's graph", cmd_revert)
    p.add_argument("version_name", metavar="VERSION",
                   help="WorkflowVersion name, e.g. form-to-slack-v4")

    p = add("resume", "clear a safety pause and restore the wiring", cmd_resume)
    p.add_argument("workflow", metavar="WF")
    _wait_flags(p, "the workflow is resumed and Ready")

    p = add("trip", "trip the safety pause: unwire the trigger and block publishing", cmd_trip)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("--reason", required=True, type=_reason,
                   help="CamelCase reason, e.g. RunRateExceeded")
    p.add_argument("--message", default="", type=_safety_message,
                   help=f"human-readable details (at most {SAFETY_MESSAGE_MAX} characters)")

    p = add("diff", "compare the graphs of versions N and M", cmd_diff)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("old", metavar="N", type=_positive_int)
    p.add_argument("new", metavar="M", type=_positive_int)
    p.add_argument("--unified", action="store_true",
                   help="unified diff of the canonical graph JSON instead of a summary")

    p = add("graph", "draw a version's graph (default: the live version)", cmd_graph)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("version", metavar="N", type=_positive_int, nargs="?")
    p.add_argument("--format", "-f", choices=render.FORMATS, default="mermaid",
                   help="output format (default: %(default)s)")

    p = add("runs", "list a workflow's runs, newest first", cmd_runs)
    p.add_argument("workflow", metavar="WF")
    p.add_argument("--limit", type=_limit, metavar="N", help="show only the N newest runs")

    p = add("run", "start a manual run on the live version", cmd_run)
    p.set_defaults(usage_error=p.error)
    p.add_argument("workflow", metavar="WF")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--data", type=_json_data, metavar="JSON",
                      help="the event body, as JSON (default: null)")
    data.add_argument("--data-file", metavar="PATH",
                      help="read the event body as JSON from PATH (- for stdin)")
    _run_wait_flags(p, "the run has Succeeded (exit 0) or Failed (exit 1)")

    p = add("replay", "run a finished run's event again, on the version live now", cmd_replay)
    p.add_argument("run", metavar="RUN", help="WorkflowRun name")
    p.add_argument("--token", type=_token,
                   help="the replay request's token (default: a fresh one); the runtime "
                        "replays once per token")
    _run_wait_flags(p, "the runtime has started the replay (exit 0) or rejected it (exit 1)")

    p = add("logs", "show a run and its steps: phase, duration, output or error", cmd_logs)
    p.add_argument("run", metavar="RUN", help="WorkflowRun name")

    # Offline: no API connection (main() runs it before connecting); also `flowplane-lint`.
    lint_help = "check Workflow/WorkflowVersion YAML files offline with the operator's compiler"
    p = sub.add_parser("lint", parents=flags, help=lint_help, description=lint_help,
                       epilog="Exit codes: 0 no errors (warnings allowed); 1 errors found; "
                              "2 wrong usage.")
    lint.add_arguments(p, namespace_flag=False)
    p.set_defaults(func=None, offline=lint.run, usage_error=p.error)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "offline", None) is not None:
        offline: int = args.offline(args, args.usage_error)
        return offline
    if getattr(args, "data_file", None) is not None:
        # Read after parsing, so conflicting flags are reported before the file is read.
        try:
            args.data = _json_file(args.data_file)
        except argparse.ArgumentTypeError as exc:
            args.usage_error(f"argument --data-file: {exc}")  # exits 2
    try:
        api = Api(args.kubeconfig, args.context, args.namespace)
    except OperationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        code: int = args.func(api, args)
        return code
    except OperationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        api.close()


if __name__ == "__main__":
    sys.exit(main())
