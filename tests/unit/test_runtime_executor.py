"""executor: the next move of a run, decided from its recorded steps only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowplane.compiler.plan import GRAPH_KEY, PLAN_KEY
from flowplane.model.run import RUN_OUTPUT_LIMIT, STEP_OUTPUT_LIMIT, StepPhase, StepStatus
from flowplane.runtime.executor import (
    ALWAYS_RECORDED,
    LOOP_ITEMS_NOT_A_LIST,
    PREVIEW_CHARS,
    TOO_MANY_ITEMS,
    Next,
    Outcome,
    PlanGraph,
    RunInfo,
    Scope,
    advance,
    cap_output,
    evaluate_branch,
    evaluate_transform,
    json_size,
    loop_items,
    ordered,
    outputs_of,
    plan_graph,
    run_budget_left,
    steps_by_node,
)
from flowplane.runtime.templates import TEMPLATE_ERROR
from tests.unit.runtime_plans import (
    action,
    branch,
    graph,
    loop,
    phases,
    plan_data,
    plan_of,
    recorded,
    transform,
    webhook,
)

S, F, K, P, R = "Succeeded", "Failed", "Skipped", "Pending", "Running"
YES, NO = {"result": True}, {"result": False}

LINEAR = plan_of([webhook("t"), action("a"), action("b"), action("c")],
                 [("t", "a"), ("a", "b"), ("b", "c")])
# t -> check -true-> yes -> after -> join ; check -false-> no -> only-no ; no -> join
BRANCHY = plan_of(
    [webhook("t"), branch("check"), action("yes"), action("after"), action("no"),
     action("only-no"), action("join"), action("tail")],
    [("t", "check"), ("check", "yes", "true"), ("yes", "after"), ("check", "no", "false"),
     ("no", "only-no"), ("after", "join"), ("no", "join"), ("join", "tail")],
)
# t -> gate -false-> each -body-> item -> item2 ; each -done-> summary ; item2 -> summary
LOOPY = plan_of(
    [webhook("t"), branch("gate"), loop("each"), action("item"), action("item2"),
     action("summary")],
    [("t", "gate"), ("gate", "each", "false"), ("each", "item", "body"), ("item", "item2"),
     ("each", "summary", "done"), ("item2", "summary")],
)
# t -> outer -body-> inner -body-> leaf ; inner -done-> after-inner ; outer -done-> end
NESTED = plan_of(
    [webhook("t"), loop("outer"), loop("inner"), action("leaf"), action("after-inner"),
     action("end")],
    [("t", "outer"), ("outer", "inner", "body"), ("inner", "leaf", "body"),
     ("inner", "after-inner", "done"), ("outer", "end", "done")],
)


# ------------------------------------------------------------------ plan_graph


def test_plan_graph_reads_the_compiled_plan() -> None:
    data = plan_data(graph([webhook("t"), action("b"), action("a")], [("t", "b"), ("t", "a")]))
    plan = plan_graph("wf-v1-plan", data)
    assert plan is not None
    assert plan.name == "wf-v1-plan"
    assert plan.hash == json.loads(data[PLAN_KEY])["hash"]
    assert plan.order == ("t", "a", "b")
    assert plan.trigger == "t"
    assert plan.top == plan.order
    assert plan.bodies == {}
    assert plan.incoming == {"t": (), "a": (("t", None),), "b": (("t", None),)}
    assert plan.node_type("t") == "webhook" and plan.node_type("a") == "action"
    assert plan.trigger_config() == {"path": "/submit", "method": "POST"}


def _tamper(data: dict[str, str], key: str, change: Any) -> dict[str, str]:
    out = dict(data)
    value = json.loads(out[key])
    change(value)
    out[key] = json.dumps(value)
    return out


BASE = plan_data(graph([webhook("t"), action("a")], [("t", "a")]))


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        "not a mapping",
        {GRAPH_KEY: BASE[GRAPH_KEY]},
        {PLAN_KEY: BASE[PLAN_KEY]},
        {GRAPH_KEY: "{not json", PLAN_KEY: BASE[PLAN_KEY]},
        {GRAPH_KEY: BASE[GRAPH_KEY], PLAN_KEY: "[]"},
        _tamper(BASE, GRAPH_KEY, lambda g: g["nodes"][0].update(app="evil")),
        _tamper(BASE, GRAPH_KEY, lambda g: g["nodes"][1]["config"].update(path="/other")),
        _tamper(BASE, PLAN_KEY, lambda p: p.update(hash="sha256:" + "0" * 64)),
        _tamper(BASE, PLAN_KEY, lambda p: p.pop("hash")),
        _tamper(BASE, PLAN_KEY, lambda p: p.pop("order")),
        _tamper(BASE, PLAN_KEY, lambda p: p.update(order=["t"])),
        _tamper(BASE, PLAN_KEY, lambda p: p.update(order=["t", "a", "ghost"])),
        {GRAPH_KEY: BASE[GRAPH_KEY] + " ", PLAN_KEY: BASE[PLAN_KEY]},
    ],
    ids=["none", "empty", "string", "no-plan-json", "no-graph-json", "graph-not-json",
         "plan-not-object", "node-changed", "config-changed", "hash-changed", "no-hash",
         "no-order", "order-misses-a-node", "order-names-a-ghost", "graph-bytes-changed"],
)
def test_plan_graph_refuses_unreadable_or_tampered_data(data: Any) -> None:
    assert plan_graph("p", data) is None


def test_plan_graph_refuses_an_order_that_is_not_topological() -> None:
    assert plan_graph("p", _tamper(BASE, PLAN_KEY, lambda p: p.update(order=["a", "t"]))) is None


def test_plan_graph_loop_bodies() -> None:
    assert LOOPY.bodies == {"each": ("item", "item2")}
    assert LOOPY.top == ("t", "gate", "each", "summary")
    assert NESTED.bodies == {"outer": ("inner", "after-inner"), "inner": ("leaf",)}
    assert NESTED.top == ("t", "outer", "end")


@pytest.mark.parametrize(
    ("nodes", "edges", "bodies", "top"),
    [
        ([webhook("t"), loop("each"), action("per"), action("after")],
         [("t", "each"), ("each", "per", "body"), ("each", "after", "done")],
         {"each": ("per",)}, ("t", "each", "after")),
        ([webhook("t"), loop("each"), action("per"), action("per2"), action("after")],
         [("t", "each"), ("each", "per", "body"), ("per", "per2"), ("each", "after", "done")],
         {"each": ("per", "per2")}, ("t", "each", "after")),
        ([webhook("t"), loop("each"), action("both"), action("per")],
         [("t", "each"), ("each", "per", "body"), ("per", "both"), ("each", "both", "done")],
         {"each": ("per",)}, ("t", "each", "both")),
        ([webhook("t"), loop("each"), action("both")],
         [("t", "each"), ("each", "both", "body"), ("each", "both", "done")],
         {"each": ()}, ("t", "each", "both")),
        ([webhook("t"), loop("each")], [("t", "each")], {"each": ()}, ("t", "each")),
        ([webhook("t"), loop("outer"), loop("inner"), action("leaf"), action("after-inner"),
          action("end")],
         [("t", "outer"), ("outer", "inner", "body"), ("inner", "leaf", "body"),
          ("inner", "after-inner", "done"), ("outer", "end", "done")],
         {"outer": ("inner", "after-inner"), "inner": ("leaf",)}, ("t", "outer", "end")),
        ([webhook("t"), loop("a"), loop("b"), action("x"), action("y")],
         [("t", "a"), ("a", "b", "done"), ("b", "x", "body"), ("a", "y", "body")],
         {"a": ("y",), "b": ("x",)}, ("t", "a", "b")),
    ],
    ids=["body-and-done", "body-chain", "reachable-from-body-and-done-is-top",
         "same-node-on-both-ports", "empty-loop", "nested-loops", "loop-after-a-loop"],
)
def test_plan_graph_bodies_and_top(nodes: list[Any], edges: list[tuple[str, ...]],
                                   bodies: dict[str, tuple[str, ...]],
                                   top: tuple[str, ...]) -> None:
    plan = plan_of(nodes, edges)
    assert dict(plan.bodies) == bodies
    assert plan.top == top
    for members in plan.bodies.values():
        assert list(members) == sorted(members, key=plan.order.index)


# ------------------------------------------------------------------ advance


def _advance(plan: PlanGraph, *entries: Any) -> tuple[Next, dict[str, str]]:
    steps = recorded(plan, *entries)
    nxt = advance(plan, steps)
    return nxt, phases(steps)


@pytest.mark.parametrize(
    ("entries", "nxt", "after"),
    [
        ((), Next("t"), {"t": P, "a": P, "b": P, "c": P}),
        ((("t", S),), Next("a"), {"t": S, "a": P, "b": P, "c": P}),
        ((("t", S), ("a", S)), Next("b"), {"t": S, "a": S, "b": P, "c": P}),
        ((("t", S), ("a", S), ("b", S), ("c", S)), Next(None), {"t": S, "a": S, "b": S, "c": S}),
        ((("t", S), ("a", R)), Next("a"), {"t": S, "a": R, "b": P, "c": P}),
        ((("t", R),), Next("t"), {"t": R, "a": P, "b": P, "c": P}),
        ((("t", S), ("a", F)), Next(None, failed="a"), {"t": S, "a": F, "b": K, "c": K}),
        ((("t", S), ("a", S), ("b", F)), Next(None, failed="b"),
         {"t": S, "a": S, "b": F, "c": K}),
        ((("t", F),), Next(None, failed="t"), {"t": F, "a": K, "b": K, "c": K}),
    ],
    ids=["fresh", "after-trigger", "resume-midway", "all-done", "in-flight-runs-again",
         "trigger-in-flight", "failure-skips-the-rest", "late-failure", "trigger-failed"],
)
def test_advance_linear(entries: tuple[Any, ...], nxt: Next, after: dict[str, str]) -> None:
    got, state = _advance(LINEAR, *entries)
    assert got == nxt
    assert state == after


@pytest.mark.parametrize(
    ("entries", "nxt", "skipped"),
    [
        ((("t", S), ("check", S, YES)), Next("yes"), {"no", "only-no"}),
        ((("t", S), ("check", S, YES), ("yes", S), ("after", S)), Next("join"),
         {"no", "only-no"}),
        # plan order is t, check, no, only-no, yes, after, join, tail: a skip is recorded
        # when the walk passes the node
        ((("t", S), ("check", S, NO)), Next("no"), set()),
        ((("t", S), ("check", S, NO), ("no", S)), Next("only-no"), set()),
        ((("t", S), ("check", S, NO), ("no", S), ("only-no", S)), Next("join"),
         {"yes", "after"}),
        ((("t", S), ("check", S, YES), ("yes", S), ("after", S), ("join", S), ("tail", S)),
         Next(None), {"no", "only-no"}),
        ((("t", S), ("check", S, {"result": "yes"})), Next("yes"), {"no", "only-no"}),
        ((("t", S), ("check", S, {})), Next("no"), set()),
        ((("t", S), ("check", S, {}), ("no", S), ("only-no", S)), Next("join"),
         {"yes", "after"}),
        ((("t", S), ("check", F)), Next(None, failed="check"),
         {"yes", "after", "no", "only-no", "join", "tail"}),
    ],
    ids=["true-skips-false-side", "join-runs-with-one-skipped-input", "false-skips-true-side",
         "false-chain", "join-after-false-side", "done", "truthy-result", "no-result-is-false",
         "no-result-skips-the-true-side",
         "branch-failed"],
)
def test_advance_branches(entries: tuple[Any, ...], nxt: Next, skipped: set[str]) -> None:
    assert BRANCHY.order == ("t", "check", "no", "only-no", "yes", "after", "join", "tail")
    got, state = _advance(BRANCHY, *entries)
    assert got == nxt
    assert {n for n, p in state.items() if p == K} == skipped


def test_advance_skips_a_join_whose_inputs_were_all_skipped() -> None:
    plan = plan_of(
        [webhook("t"), branch("b1"), action("x"), action("y"), action("join")],
        [("t", "b1"), ("b1", "x", "true"), ("b1", "y", "true"), ("x", "join"), ("y", "join")],
    )
    got, state = _advance(plan, ("t", S), ("b1", S, NO))
    assert got == Next(None)
    assert state == {"t": S, "b1": S, "x": K, "y": K, "join": K}


@pytest.mark.parametrize(
    ("entries", "nxt", "after"),
    [
        ((("t", S), ("gate", S, YES)), Next(None),
         {"t": S, "gate": S, "each": K, "item": K, "item2": K, "summary": K}),
        ((("t", S), ("gate", S, NO)), Next("each"),
         {"t": S, "gate": S, "each": P, "item": P, "item2": P, "summary": P}),
        ((("t", S), ("gate", S, NO), ("each", S, {"items": []}), ("item", K), ("item2", K)),
         Next("summary"),
         {"t": S, "gate": S, "each": S, "item": K, "item2": K, "summary": P}),
        ((("t", S), ("gate", S, NO), ("each", S), ("item", S), ("item2", S)), Next("summary"),
         {"t": S, "gate": S, "each": S, "item": S, "item2": S, "summary": P}),
        ((("t", S), ("gate", S, NO), ("each", F), ("item", F)), Next(None, failed="each"),
         {"t": S, "gate": S, "each": F, "item": F, "item2": K, "summary": K}),
    ],
    ids=["skipped-loop-skips-its-body", "loop-runs", "empty-loop-then-done",
         "loop-done-then-after", "failure-in-the-body"],
)
def test_advance_loops(entries: tuple[Any, ...], nxt: Next, after: dict[str, str]) -> None:
    got, state = _advance(LOOPY, *entries)
    assert got == nxt
    assert state == after


def test_advance_never_returns_body_nodes() -> None:
    assert _advance(NESTED, ("t", S))[0] == Next("outer")
    got, state = _advance(NESTED, ("t", S), ("outer", S))
    assert got == Next("end")
    assert state["inner"] == P and state["leaf"] == P


def test_a_skipped_outer_loop_skips_nested_bodies() -> None:
    plan = plan_of(
        [webhook("t"), branch("gate"), loop("outer"), loop("inner"), action("leaf"),
         action("after-inner")],
        [("t", "gate"), ("gate", "outer", "true"), ("outer", "inner", "body"),
         ("inner", "leaf", "body"), ("inner", "after-inner", "done")],
    )
    got, state = _advance(plan, ("t", S), ("gate", S, NO))
    assert got == Next(None)
    assert state == {"t": S, "gate": S, "outer": K, "inner": K, "leaf": K, "after-inner": K}


def test_a_loop_waits_for_the_inputs_of_its_body() -> None:
    plan = plan_of([webhook("t"), loop("l"), action("z"), action("b")],
                   [("t", "l"), ("t", "z"), ("l", "b", "body"), ("z", "b")])
    got, _ = _advance(plan, ("t", S))
    assert got == Next("z")


def test_resume_walks_forward_and_never_repeats_a_finished_step() -> None:
    plan = BRANCHY
    steps = steps_by_node(plan, [])
    seen: list[str] = []
    outputs = {"check": NO}
    while (nxt := advance(plan, steps)).node is not None:
        node = nxt.node
        assert node not in seen
        seen.append(node)
        steps[node] = steps[node].model_copy(update={"phase": StepPhase.SUCCEEDED,
                                                     "output": outputs.get(node, {})})
        # a crash here: the next replica rebuilds the steps from what was recorded
        steps = steps_by_node(plan, ordered(plan, steps))
    assert seen == ["t", "check", "no", "only-no", "join", "tail"]
    assert nxt == Next(None)
    assert {n for n, s in steps.items() if s.phase == StepPhase.SKIPPED} == {"yes", "after"}


def test_steps_by_node() -> None:
    steps = steps_by_node(LINEAR, [StepStatus(node="a", phase=StepPhase.SUCCEEDED),
                                   StepStatus(node="ghost", phase=StepPhase.FAILED)])
    assert list(steps) == list(LINEAR.order)
    assert steps["a"].phase == StepPhase.SUCCEEDED
    assert {steps[n].phase for n in ("t", "b", "c")} == {StepPhase.PENDING}
    assert outputs_of(recorded(LINEAR, ("t", S, {"body": 1}), ("a", F, {"x": 1}))) == {
        "t": {"body": 1}}


# ------------------------------------------------------------------ bounded outputs


@pytest.mark.parametrize(
    ("size", "budget", "cut"),
    [
        (100, RUN_OUTPUT_LIMIT, False),
        (STEP_OUTPUT_LIMIT, RUN_OUTPUT_LIMIT, False),
        (STEP_OUTPUT_LIMIT + 1, RUN_OUTPUT_LIMIT, True),
        (1000, 1000, False),
        (1000, 999, True),
        (1000, 0, True),
        (1000, -500, True),
        (STEP_OUTPUT_LIMIT * 4, RUN_OUTPUT_LIMIT, True),
        (ALWAYS_RECORDED, 0, False),
    ],
    ids=["small", "exactly-the-step-limit", "one-over", "exactly-the-budget",
         "one-over-the-budget", "budget-exhausted", "budget-overdrawn", "large",
         "tiny-outputs-are-always-recorded"],
)
def test_cap_output(size: int, budget: int, cut: bool) -> None:
    output = {"text": "x" * (size - len('{"text":""}'))}
    assert json_size(output) == size
    recorded_output, truncated = cap_output(output, budget)
    assert truncated is cut
    if not cut:
        assert recorded_output == output
        return
    assert set(recorded_output) == {"preview", "bytes"}
    assert recorded_output["bytes"] == size
    assert len(recorded_output["preview"]) <= min(PREVIEW_CHARS, max(0, budget))
    assert json.dumps(output).startswith(recorded_output["preview"])
    assert json_size(recorded_output) <= PREVIEW_CHARS + 64


def test_run_budget_left() -> None:
    steps = [StepStatus(node="a", output={"x": 1}), StepStatus(node="b"),
             StepStatus(node="c", output="abc")]
    assert run_budget_left(steps) == RUN_OUTPUT_LIMIT - json_size({"x": 1}) - json_size("abc")


def test_a_branch_decided_after_the_budget_is_spent_takes_its_port() -> None:
    plan = BRANCHY
    scope = Scope(RunInfo("r", "ns", "wf", 1))
    outcome = evaluate_branch(plan, "check", scope)
    assert outcome.ok and outcome.output == YES
    output, _ = cap_output(outcome.output, run_budget=0)  # what the worker records
    got, _ = _advance(plan, ("t", S), ("check", S, output))
    assert got == Next("yes")


# ------------------------------------------------------------------ node evaluation

RUN = RunInfo("form-to-slack-r7x2k", "team-a", "form-to-slack", 3)


def _scope(body: Any = None, loop_: dict[str, Any] | None = None) -> Scope:
    return Scope(RUN, {"form": {"method": "POST", "body": body}}, loop_)


def _single(node: dict[str, Any]) -> PlanGraph:
    return plan_of([webhook("form"), node], [("form", node["id"])])


@pytest.mark.parametrize(
    ("condition", "body", "result"),
    [
        ("{{ nodes.form.output.body.email != '' }}", {"email": "a@b.c"}, True),
        ("{{ nodes.form.output.body.email != '' }}", {}, False),
        ("{{ nodes.form.output.body.email != '' }}", None, False),
        ("{{ nodes.form.output.body.n > 2 }}", {"n": 3}, True),
        ("{{ nodes.form.output.body.flag }}", {"flag": "false"}, False),
        ("{{ nodes.form.output.body.flag }}", {"flag": "no"}, False),
        ("{{ nodes.form.output.body.flag }}", {"flag": "yes"}, True),
        ("{{ run.version == 3 }}", None, True),
        ("plain text", None, True),
        ("{{ nodes.form.output.body.tags | length > 0 }}", {"tags": []}, False),
    ],
    ids=["has-email", "no-email", "no-body", "compare", "text-false", "text-no", "text-yes",
         "run", "plain-text", "filter"],
)
def test_evaluate_branch(condition: str, body: Any, result: bool) -> None:
    outcome = evaluate_branch(_single(branch("check", condition)), "check", _scope(body))
    assert outcome == Outcome(True, {"result": result})


def test_evaluate_branch_template_error() -> None:
    outcome = evaluate_branch(_single(branch("check", "{{ 1 / 0 }}")), "check", _scope())
    assert not outcome.ok
    assert outcome.code == TEMPLATE_ERROR
    assert "ZeroDivisionError" in outcome.message


@pytest.mark.parametrize(
    ("output", "body", "expected"),
    [
        ({"email": "{{ nodes.form.output.body.email }}", "n": 1},
         {"email": "a@b.c"}, {"email": "a@b.c", "n": 1}),
        ({"deep": {"list": ["{{ run.name }}", "x-{{ run.version }}"]}}, None,
         {"deep": {"list": ["form-to-slack-r7x2k", "x-3"]}}),
        ({"tags": "{{ nodes.form.output.body.tags }}"}, {"tags": ["a"]}, {"tags": ["a"]}),
        ({"missing": "{{ nodes.form.output.body.nope }}"}, {}, {"missing": None}),
        ({}, None, {}),
        ("{{ nodes.form.output.body }}", {"a": 1}, {"a": 1}),
        ("{{ nodes.form.output.body.n }}", {"n": 5}, {"value": 5}),
        ("text", None, {"value": "text"}),
    ],
    ids=["fields", "nested", "native-list", "missing-is-null", "empty", "whole-mapping",
         "scalar-wrapped", "text-wrapped"],
)
def test_evaluate_transform(output: Any, body: Any, expected: Any) -> None:
    outcome = evaluate_transform(_single(transform("shape", output)), "shape", _scope(body))
    assert outcome == Outcome(True, expected)


def test_evaluate_transform_without_output_config() -> None:
    plan = _single({"id": "shape", "role": "system", "type": "transform"})
    assert evaluate_transform(plan, "shape", _scope()) == Outcome(True, {})


def test_evaluate_transform_template_error() -> None:
    plan = _single(transform("shape", {"a": {"b": "{{ ''.__class__ }}"}}))
    outcome = evaluate_transform(plan, "shape", _scope())
    assert (outcome.ok, outcome.code) == (False, TEMPLATE_ERROR)


@pytest.mark.parametrize(
    ("items", "body", "max_items", "expected"),
    [
        ("{{ nodes.form.output.body.rows }}", {"rows": [1, 2, 3]}, 10, [1, 2, 3]),
        ("{{ nodes.form.output.body.rows }}", {"rows": []}, 10, []),
        ("{{ nodes.form.output.body.rows }}", {"rows": [1, 2, 3]}, 3, [1, 2, 3]),
        ([1, "{{ run.version }}"], None, 10, [1, 3]),
        ("{{ range(3) | list }}", None, 10, [0, 1, 2]),
        ("{{ nodes.form.output.body.rows }}", {"rows": [1, 2, 3, 4]}, 3, TOO_MANY_ITEMS),
        ("{{ nodes.form.output.body.rows }}", {"rows": {"a": 1}}, 10, LOOP_ITEMS_NOT_A_LIST),
        ("{{ nodes.form.output.body.rows }}", {"rows": "1,2"}, 10, LOOP_ITEMS_NOT_A_LIST),
        ("{{ nodes.form.output.body.rows }}", {}, 10, LOOP_ITEMS_NOT_A_LIST),
        ("rows: {{ nodes.form.output.body.rows }}", {"rows": [1]}, 10, LOOP_ITEMS_NOT_A_LIST),
        (None, None, 10, LOOP_ITEMS_NOT_A_LIST),
        (5, None, 10, LOOP_ITEMS_NOT_A_LIST),
        # The compiler refuses templates that do not parse (InvalidTemplate); one that
        # parses can still fail when rendered, e.g. with a filter that does not exist.
        ("{{ nodes.form.output.body.rows | nosuchfilter }}", {}, 10, TEMPLATE_ERROR),
    ],
    ids=["list", "empty-list", "exactly-max", "literal-list", "range", "too-many", "mapping",
         "text", "missing", "mixed-text", "no-items", "number", "render-error"],
)
def test_loop_items(items: Any, body: Any, max_items: int, expected: Any) -> None:
    plan = _single(loop("each", items))
    got = loop_items(plan, "each", _scope(body), max_items)
    if isinstance(expected, list):
        assert got == expected
    else:
        assert isinstance(got, Outcome)
        assert (got.ok, got.code) == (False, expected)
        assert got.message


def test_loop_items_see_the_loop_scope() -> None:
    plan = _single(transform("shape", {"item": "{{ loop.item.id }}", "i": "{{ loop.index }}"}))
    outcome = evaluate_transform(plan, "shape", _scope(loop_={"item": {"id": 9}, "index": 4}))
    assert outcome == Outcome(True, {"item": 9, "i": 4})
