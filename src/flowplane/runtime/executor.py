"""The executor's decisions, pure over a plan and a run's recorded steps.

A run's status is its memory: `advance()` reads the recorded steps and says what comes
next (run this node, or the run is over), marking as Skipped every node none of whose
inputs was taken. Because the next move depends only on what was recorded, a replica
that resumes a run after a crash makes exactly the move the dead one would have, and
a finished step is never executed again.

Edges: a branch takes its `true` or `false` port by its result; a loop's `body` edges
are taken once per item inside the loop step and its `done` edges afterwards; every
other node's edges are taken when it succeeds. A node runs once all its inputs are
decided and at least one was taken (plan order is topological, so walking the order
decides inputs first).

Loop bodies: the nodes reachable from a loop's `body` port and not from its `done`
port. They run per item within the loop's step (their own step entries record the last
iteration), so a crash mid-loop re-runs that loop step as a whole (at-least-once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowplane.compiler.plan import PLAN_KEY, plan_from_configmap_data
from flowplane.model.run import RUN_OUTPUT_LIMIT, STEP_OUTPUT_LIMIT, StepPhase, StepStatus
from flowplane.runtime import templates
from flowplane.runtime.templates import TemplateFailure

DONE_PHASES = frozenset({StepPhase.SUCCEEDED, StepPhase.SKIPPED, StepPhase.FAILED})
PREVIEW_CHARS = 2048

# Step and run error codes (API constants: alerts and the plugin match on them).
STEP_FAILED = "StepFailed"
PLAN_NOT_FOUND = "PlanNotFound"
LOOP_ITEMS_NOT_A_LIST = "LoopItemsNotList"
TOO_MANY_ITEMS = "TooManyLoopItems"
INVALID_DURATION = "InvalidDuration"


@dataclass(frozen=True)
class PlanGraph:
    """A plan as the executor walks it (built once per (name, hash) and cached)."""

    name: str
    hash: str
    nodes: Mapping[str, Mapping[str, Any]]
    order: tuple[str, ...]
    incoming: Mapping[str, tuple[tuple[str, str | None], ...]]
    trigger: str
    bodies: Mapping[str, tuple[str, ...]]
    """loop id -> the nodes that run per item directly in its body (plan order)."""
    top: tuple[str, ...]
    """The nodes that run at the top level (plan order)."""

    def node_type(self, node_id: str) -> str:
        node = self.nodes.get(node_id) or {}
        return str(node.get("type") or node.get("role") or "")

    def trigger_config(self) -> Mapping[str, Any]:
        config = (self.nodes.get(self.trigger) or {}).get("config")
        return config if isinstance(config, Mapping) else {}


def _reach(starts: Iterable[str], outgoing: Mapping[str, list[tuple[str, str | None]]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(to for to, _ in outgoing.get(node, ()))
    return seen


def plan_graph(name: str, data: Any) -> PlanGraph | None:
    """The plan stored in a ConfigMap's `data`, or None when it is unreadable or tampered."""
    graph = plan_from_configmap_data(data)
    if graph is None:
        return None
    try:
        plan = json.loads(data[PLAN_KEY])
        order = tuple(str(n) for n in plan["order"])
        plan_hash = str(plan["hash"])
    except (KeyError, TypeError, ValueError):
        return None
    nodes = {str(n["id"]): n for n in graph.get("nodes", [])}
    if set(order) != set(nodes):
        return None
    outgoing: dict[str, list[tuple[str, str | None]]] = {n: [] for n in nodes}
    incoming: dict[str, list[tuple[str, str | None]]] = {n: [] for n in nodes}
    for edge in graph.get("edges", []):
        src, dst, port = str(edge["from"]), str(edge["to"]), edge.get("port")
        if src in nodes and dst in nodes:
            outgoing[src].append((dst, port))
            incoming[dst].append((src, port))
    triggers = [n for n in order if nodes[n].get("role") == "trigger"]
    trigger = triggers[0] if triggers else (order[0] if order else "")
    position = {n: i for i, n in enumerate(order)}
    if any(position[src] >= position[dst] for dst, ins in incoming.items() for src, _ in ins):
        return None  # an order that does not follow the edges was not made by the compiler
    full_body: dict[str, set[str]] = {}
    for node_id in order:
        if nodes[node_id].get("type") == "loop" and nodes[node_id].get("role") == "system":
            body = _reach([to for to, p in outgoing[node_id] if p == "body"], outgoing)
            done = _reach([to for to, p in outgoing[node_id] if p == "done"], outgoing)
            full_body[node_id] = body - done - {node_id}
    inner = set().union(*full_body.values()) if full_body else set()
    # A loop runs its body inside its own step, so it must wait for every input its body
    # takes from outside the loop: `after[loop]` adds those inputs as loop dependencies.
    after: dict[str, set[str]] = {}
    for loop_id, members in full_body.items():
        outside = {src for m in members for src, _ in incoming[m]} - members - {loop_id}
        after[loop_id] = outside
    bodies: dict[str, tuple[str, ...]] = {}
    for loop_id, members in full_body.items():
        nested = set().union(*(full_body[m] for m in members if m in full_body))
        bodies[loop_id] = _ordered(members - nested, incoming, after, position)
    return PlanGraph(
        name=name, hash=plan_hash, nodes=nodes, order=order,
        incoming={n: tuple(v) for n, v in incoming.items()}, trigger=trigger,
        bodies=bodies, top=_ordered(set(order) - inner, incoming, after, position),
    )


def _ordered(members: set[str], incoming: Mapping[str, list[tuple[str, str | None]]],
             after: Mapping[str, set[str]], position: Mapping[str, int]) -> tuple[str, ...]:
    """`members` in plan order, except that a loop moves after its body's outside inputs.

    An outside input of a body may itself sit inside another scope (a body member of an
    enclosing loop, or a node only reachable through a loop); it is then represented by
    the member of `members` that runs it, found by walking the dependency's position.
    """
    pending = sorted(members, key=position.__getitem__)
    done: list[str] = []
    placed: set[str] = set()
    while pending:
        for node in pending:
            needs = {src for src, _ in incoming.get(node, ()) if src in members}
            needs |= {src for src in after.get(node, ()) if src in members}
            if needs <= placed:
                done.append(node)
                placed.add(node)
                pending.remove(node)
                break
        else:  # cannot happen for a compiled (acyclic) plan; keep plan order then
            done.extend(pending)
            break
    return tuple(done)


# ------------------------------------------------------------------ edges and the next move


def edge_taken(plan: PlanGraph, src: str, port: str | None, step: StepStatus | None,
               active_loops: frozenset[str] = frozenset()) -> bool:
    if step is None or step.phase != StepPhase.SUCCEEDED:
        return False
    kind = plan.node_type(src)
    if kind == "branch":
        result = step.output.get("result") if isinstance(step.output, Mapping) else None
        return port == ("true" if result else "false")
    if kind == "loop":
        return port == ("body" if src in active_loops else "done")
    return True


def should_run(plan: PlanGraph, node_id: str, steps: Mapping[str, StepStatus],
               active_loops: frozenset[str] = frozenset()) -> bool:
    """At least one input edge of `node_id` is taken (its inputs are decided by plan order)."""
    return any(edge_taken(plan, src, port, steps.get(src), active_loops)
               for src, port in plan.incoming.get(node_id, ()))


@dataclass(frozen=True)
class Next:
    """Run `node` next; `node` None means the run is over, failed when `failed` names a node."""

    node: str | None
    failed: str | None = None


def _skip(plan: PlanGraph, node_id: str, steps: dict[str, StepStatus]) -> None:
    steps[node_id] = steps[node_id].model_copy(update={"phase": StepPhase.SKIPPED})
    for member in plan.bodies.get(node_id, ()):
        _skip(plan, member, steps)


def advance(plan: PlanGraph, steps: dict[str, StepStatus]) -> Next:
    """Mark the nodes that cannot run Skipped (in place) and say what runs next."""
    for node_id in plan.top:
        step = steps[node_id]
        if step.phase in (StepPhase.SUCCEEDED, StepPhase.SKIPPED):
            continue
        if step.phase == StepPhase.FAILED:
            skip_rest(plan, steps)
            return Next(None, failed=node_id)
        if node_id == plan.trigger or should_run(plan, node_id, steps):
            return Next(node_id)
        _skip(plan, node_id, steps)
    return Next(None)


def skip_rest(plan: PlanGraph, steps: dict[str, StepStatus]) -> None:
    """After a failure: every step not yet decided is Skipped."""
    for node_id in plan.order:
        if steps[node_id].phase not in DONE_PHASES:
            steps[node_id] = steps[node_id].model_copy(update={"phase": StepPhase.SKIPPED})


def steps_by_node(plan: PlanGraph, recorded: Sequence[StepStatus]) -> dict[str, StepStatus]:
    """The recorded steps keyed by node, with a Pending entry for any node not recorded."""
    known = {s.node: s for s in recorded}
    return {n: known.get(n) or StepStatus(node=n) for n in plan.order}


def ordered(plan: PlanGraph, steps: Mapping[str, StepStatus]) -> list[StepStatus]:
    return [steps[n] for n in plan.order]


# ------------------------------------------------------------------ template context


@dataclass(frozen=True)
class RunInfo:
    name: str
    namespace: str
    workflow: str
    version: int

    def as_context(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "workflow": self.workflow,
                "version": self.version}


@dataclass
class Scope:
    """What templates see: outputs so far, the run, and the loop item when in a body."""

    run: RunInfo
    outputs: dict[str, Any] = field(default_factory=dict)
    loop: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "nodes": {n: {"output": o} for n, o in self.outputs.items()},
            "run": self.run.as_context(),
        }
        if self.loop is not None:
            ctx["loop"] = self.loop
        return ctx


def outputs_of(steps: Mapping[str, StepStatus]) -> dict[str, Any]:
    return {n: s.output for n, s in steps.items() if s.phase == StepPhase.SUCCEEDED}


# ------------------------------------------------------------------ pure node evaluation


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output: Any = None
    code: str = ""
    message: str = ""

    @classmethod
    def fail(cls, code: str, message: str) -> Outcome:
        return cls(False, None, code, message)


def node_config(plan: PlanGraph, node_id: str, key: str = "config") -> Mapping[str, Any]:
    value = (plan.nodes.get(node_id) or {}).get(key)
    return value if isinstance(value, Mapping) else {}


def evaluate_branch(plan: PlanGraph, node_id: str, scope: Scope) -> Outcome:
    try:
        value = templates.render(node_config(plan, node_id).get("condition"), scope.context())
    except TemplateFailure as exc:
        return Outcome.fail(templates.TEMPLATE_ERROR, str(exc))
    return Outcome(True, {"result": templates.truthy(value)})


def evaluate_transform(plan: PlanGraph, node_id: str, scope: Scope) -> Outcome:
    try:
        value = templates.render(node_config(plan, node_id).get("output", {}), scope.context())
    except TemplateFailure as exc:
        return Outcome.fail(templates.TEMPLATE_ERROR, str(exc))
    return Outcome(True, value if isinstance(value, Mapping) else {"value": value})


def loop_items(plan: PlanGraph, node_id: str, scope: Scope, max_items: int) -> list[Any] | Outcome:
    try:
        items = templates.render(node_config(plan, node_id).get("items"), scope.context())
    except TemplateFailure as exc:
        return Outcome.fail(templates.TEMPLATE_ERROR, str(exc))
    if not isinstance(items, list):
        return Outcome.fail(LOOP_ITEMS_NOT_A_LIST,
                            f"config.items rendered to {type(items).__name__}, not a list")
    if len(items) > max_items:
        return Outcome.fail(TOO_MANY_ITEMS, f"{len(items)} items; at most {max_items} per loop")
    return items


def render_inputs(plan: PlanGraph, node_id: str, key: str,
                  scope: Scope) -> dict[str, Any] | Outcome:
    try:
        value = templates.render(dict(node_config(plan, node_id, key)), scope.context())
    except TemplateFailure as exc:
        return Outcome.fail(templates.TEMPLATE_ERROR, str(exc))
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ bounded outputs


ALWAYS_RECORDED = 256
"""Outputs this small are recorded whatever the run's budget, so a branch's result or a
tiny status is never lost to truncation (the run may pass its budget by this much)."""


def json_size(value: Any) -> int:
    """Bytes of `value` as JSON; never raises (an unserialisable value counts as huge)."""
    try:
        return len(json.dumps(value, separators=(",", ":"), default=str).encode())
    except (ValueError, TypeError, RecursionError, OverflowError):
        return 2**62


def cap_output(output: Any, run_budget: int, limit: int = STEP_OUTPUT_LIMIT) -> tuple[Any, bool]:
    """The output as recorded (a preview past the step or run budget) and whether it was cut."""
    size = json_size(output)
    if size <= ALWAYS_RECORDED or size <= min(limit, run_budget):
        return output, False
    try:
        text = json.dumps(output, default=str)[:PREVIEW_CHARS]
    except (ValueError, TypeError, RecursionError, OverflowError):
        text = repr(output)[:PREVIEW_CHARS]
    return {"preview": text[: max(0, min(PREVIEW_CHARS, run_budget))], "bytes": size}, True


def run_budget_left(steps: Iterable[StepStatus]) -> int:
    return RUN_OUTPUT_LIMIT - sum(json_size(s.output) for s in steps if s.output is not None)
