"""Property tests for the runtime's pure modules: hostile input never breaks them, and a
run's next move is always one the recorded steps allow."""

from __future__ import annotations

import math
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from flowplane.compiler import compile_graph
from flowplane.model.resources import ANN_ACTIVE_VERSION, ANN_PLAN, ANN_PLAN_HASH, ANN_TRIGGER_TYPE
from flowplane.model.run import StepPhase, StepStatus
from flowplane.runtime.executor import PlanGraph, advance, plan_graph, steps_by_node
from flowplane.runtime.pinning import MAX_VERSION, Pin, pin_from_service
from flowplane.runtime.routing import Accept, Refusal, decide, parse_host
from flowplane.runtime.templates import TemplateFailure, render
from tests.unit.runtime_plans import action, graph, plan_data, schedule, webhook

Json = dict[str, Any]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=15,
)

# ------------------------------------------------------------------ routing

_PLANS = [
    plan_graph("p1", plan_data(graph([webhook("t", "/submit", "POST"), action("a")],
                                     [("t", "a")]))),
    plan_graph("p2", plan_data(graph([webhook("t", "/", None), action("a")], [("t", "a")]))),
    plan_graph("p3", plan_data(graph([schedule("t"), action("a")], [("t", "a")]))),
]
hosts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.builds(lambda a, b, suffix, port: f"{a}.{b}{suffix}{port}",
              st.text(max_size=10), st.text(max_size=10),
              st.sampled_from(["", ".svc", ".svc.cluster.local", ".", ".SVC"]),
              st.sampled_from(["", ":8080", ":", ":x", "::1"])),
)
short = st.text(max_size=10)
pins = st.one_of(st.none(), st.builds(Pin, short, st.integers(), short, short, short))


@SETTINGS
@given(host=hosts, method=st.text(max_size=10), path=st.text(max_size=30),
       service=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_scalars)),
       pin=pins, plan=st.sampled_from([None, *_PLANS]),
       content_length=st.one_of(st.none(), st.integers()),
       max_body_bytes=st.integers())
def test_decide_never_raises(host: str | None, method: str, path: str, service: Any,
                             pin: Pin | None, plan: PlanGraph | None,
                             content_length: int | None, max_body_bytes: int) -> None:
    answer = decide(host, method, path, service, pin, plan, content_length, max_body_bytes)
    if isinstance(answer, Accept):
        assert answer.pin is pin and answer.plan is plan
        assert parse_host(host) is not None and service is not None
        assert content_length is None or content_length <= max_body_bytes
    else:
        assert isinstance(answer, Refusal)
        assert answer.status in {404, 405, 413, 503}
        assert answer.message and isinstance(answer.body(), dict)


@SETTINGS
@given(host=st.one_of(hosts, st.text()))
def test_parse_host_never_raises(host: str | None) -> None:
    target = parse_host(host)
    if target is not None:
        svc, ns = target
        assert svc and ns and "." not in svc and "." not in ns
        assert svc == svc.lower() and ns == ns.lower()


dns_labels = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@SETTINGS
@given(svc=dns_labels, ns=dns_labels,
       suffix=st.sampled_from(["", ".svc", ".svc.cluster.local"]),
       port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
       upper=st.booleans())
def test_parse_host_reads_every_documented_form(svc: str, ns: str, suffix: str, port: str,
                                                upper: bool) -> None:
    host = f"{svc}.{ns}{suffix}{port}"
    assume(ns not in ("svc",) or suffix)  # "<svc>.svc" alone names no namespace
    assert parse_host(host.upper() if upper else host) == (svc, ns)


# ------------------------------------------------------------------ templates

FRAGMENTS = [
    "nodes", "nodes.form", "nodes.form.output", "nodes.form.output.body", ".", "[", "]", "(",
    ")", "'", '"', "run", "run.name", "loop", "loop.item", " ", "+", "-", "*", "**", "/", "//",
    "%", "~", "|", "length", "list", "default('x')", "upper", "join(',')", "==", "!=", "and",
    "or", "not", "in", "is", "defined", "none", "true", "1", "0", "10", "1000", "'a'", "[1]",
    "{'a': 1}", "range(5)", "__class__", "mro", "lipsum", "cycler", "self", "{", "}", "{%",
    "%}", "{#", "#}", "\x00", "if", "else",
]
bodies = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=10).map(
    "".join)
template_texts = st.builds(lambda pre, body, post: f"{pre}{{{{{body}}}}}{post}",
                           st.text(max_size=6), bodies, st.text(max_size=6))
contexts = st.builds(
    lambda body, extra: {"nodes": {"form": {"output": {"body": body}}, **extra},
                         "run": {"name": "r", "version": 1}},
    json_values,
    st.dictionaries(st.text(max_size=5), st.builds(lambda o: {"output": o}, json_values),
                    max_size=3),
)
finite_scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                           st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
config_values = st.recursive(  # what a graph's config/inputs can hold: JSON
    st.one_of(finite_scalars, template_texts),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=10,
)


def is_json_shaped(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_shaped(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_shaped(v) for k, v in value.items())
    return False


@SETTINGS
@given(value=config_values, context=contexts)
def test_render_raises_only_template_failure(value: Any, context: Json) -> None:
    try:
        result = render(value, context)
    except TemplateFailure as exc:
        assert str(exc)
        return
    if isinstance(value, str | dict | list):
        assert is_json_shaped(result)


@SETTINGS
@given(text=template_texts, context=contexts)
def test_render_text_raises_only_template_failure(text: str, context: Json) -> None:
    try:
        result = render(text, context)
    except TemplateFailure:
        return
    assert is_json_shaped(result)


@SETTINGS
@given(value=json_values, context=contexts)
def test_values_without_templates_render_to_themselves(value: Any, context: Json) -> None:
    assume("{{" not in repr(value))
    result = render(value, context)
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(result, float) and math.isnan(result)
    elif not _has_nan(value):
        assert result == _str_keys(value)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


def _str_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


# ------------------------------------------------------------------ executor


@st.composite
def dags(draw: st.DrawFn) -> Json:
    """A webhook trigger plus nodes with edges only from earlier to later nodes."""
    n = draw(st.integers(1, 9))
    names = ["t"] + [f"n{i}" for i in range(1, n)]
    nodes: list[Json] = [webhook("t", "/p")]
    kinds = ["t"]
    for name in names[1:]:
        kind = draw(st.sampled_from(["action", "branch", "loop", "transform"]))
        kinds.append(kind)
        if kind == "action":
            nodes.append(action(name))
        elif kind == "branch":
            nodes.append({"id": name, "role": "system", "type": "branch",
                          "config": {"condition": "{{ true }}"}})
        elif kind == "loop":
            nodes.append({"id": name, "role": "system", "type": "loop",
                          "config": {"items": "{{ [1] }}"}})
        else:
            nodes.append({"id": name, "role": "system", "type": "transform",
                          "config": {"output": {}}})
    pairs: set[tuple[int, int]] = set()
    for i in range(1, n):
        pairs.add((draw(st.integers(0, i - 1)), i))
    for _ in range(draw(st.integers(0, n))):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 1))
        if a < b:
            pairs.add((a, b))
    edges: list[tuple[str, ...]] = []
    for a, b in sorted(pairs):
        if kinds[a] == "branch":
            edges.append((names[a], names[b], draw(st.sampled_from(["true", "false"]))))
        elif kinds[a] == "loop":
            edges.append((names[a], names[b], draw(st.sampled_from(["body", "done"]))))
        else:
            edges.append((names[a], names[b]))
    return graph(nodes, edges)


def compiled(raw: Json) -> PlanGraph:
    result = compile_graph(raw)
    assume(result.ok and result.plan is not None)
    assert result.plan is not None
    plan = plan_graph("p", result.plan.configmap_data())
    assert plan is not None
    return plan


step_phases = st.sampled_from(list(StepPhase))
branch_outputs = st.one_of(st.builds(lambda r: {"result": r}, st.booleans()), st.none(),
                           st.just({}), json_values)


@FEW
@given(raw=dags(), data=st.data())
def test_advance_never_returns_a_finished_node(raw: Json, data: st.DataObject) -> None:
    plan = compiled(raw)
    recorded = []
    for node in plan.order:
        if data.draw(st.booleans()):
            phase = data.draw(step_phases)
            output = data.draw(branch_outputs) if phase == StepPhase.SUCCEEDED else None
            recorded.append(StepStatus(node=node, phase=phase, output=output))
    steps = steps_by_node(plan, recorded)
    before = {n: s.phase for n, s in steps.items()}
    nxt = advance(plan, steps)
    after = {n: s.phase for n, s in steps.items()}
    # recorded top-level outcomes are never rewritten; the rest only ever becomes Skipped
    # (a loop that cannot run takes its body with it, whatever the body's entries say)
    for node in plan.order:
        if before[node] != after[node]:
            assert after[node] == StepPhase.SKIPPED
            assert node not in plan.top or before[node] in (StepPhase.PENDING,
                                                            StepPhase.RUNNING)
    if nxt.node is not None:
        assert nxt.failed is None
        assert nxt.node in plan.top
        assert before[nxt.node] in (StepPhase.PENDING, StepPhase.RUNNING)
        assert after[nxt.node] == before[nxt.node]
        # every top-level node before it is decided
        for node in plan.top[: plan.top.index(nxt.node)]:
            assert after[node] in (StepPhase.SUCCEEDED, StepPhase.SKIPPED)
    elif nxt.failed is not None:
        assert after[nxt.failed] == StepPhase.FAILED
        assert all(p != StepPhase.PENDING and p != StepPhase.RUNNING for p in after.values())
    else:
        assert all(after[n] in (StepPhase.SUCCEEDED, StepPhase.SKIPPED) for n in plan.top)


@FEW
@given(raw=dags(), data=st.data())
def test_a_run_walks_each_node_at_most_once(raw: Json, data: st.DataObject) -> None:
    plan = compiled(raw)
    steps = steps_by_node(plan, [])
    seen: list[str] = []
    for _ in range(len(plan.order) + 1):
        nxt = advance(plan, steps)
        if nxt.node is None:
            break
        assert nxt.node not in seen
        seen.append(nxt.node)
        fail = data.draw(st.integers(0, 9)) == 0
        output: Any = {}
        if plan.node_type(nxt.node) == "branch":
            output = {"result": data.draw(st.booleans())}
        steps[nxt.node] = steps[nxt.node].model_copy(update={
            "phase": StepPhase.FAILED if fail else StepPhase.SUCCEEDED, "output": output})
        # a replica resuming from the recorded list makes the same next move
        resumed = steps_by_node(plan, [steps[n] for n in plan.order])
        assert advance(plan, dict(resumed)) == advance(plan, dict(steps))
    else:
        pytest.fail("the run never finished")
    assert seen[0] == plan.trigger
    assert all(s.phase != StepPhase.PENDING for n, s in steps.items() if n in plan.top)


# ------------------------------------------------------------------ pinning

ascii_text = st.text(alphabet=string.printable, max_size=12)
version_texts = st.one_of(ascii_text, st.integers(-5, 2**60).map(str),
                          st.sampled_from(["", "0", "1", "007", str(MAX_VERSION),
                                           str(MAX_VERSION + 1), "9" * 30]))


def annotation_dicts(values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    known = st.fixed_dictionaries({}, optional={
        ANN_ACTIVE_VERSION: st.one_of(version_texts, values),
        ANN_PLAN: values, ANN_PLAN_HASH: values, ANN_TRIGGER_TYPE: values})
    return st.builds(lambda k, extra: {**extra, **k}, known,
                     st.dictionaries(values, values, max_size=3))


def _check_pin(service: str, annotations: dict[str, str]) -> None:
    pin = pin_from_service(service, annotations)
    if pin is None:
        return
    assert service.endswith("-trigger") and pin.workflow == service[: -len("-trigger")]
    assert 1 <= pin.version <= MAX_VERSION
    assert str(int(annotations[ANN_ACTIVE_VERSION])) == str(pin.version)
    assert (pin.plan, pin.plan_hash) == (annotations[ANN_PLAN], annotations[ANN_PLAN_HASH])
    assert pin.trigger_type == (annotations.get(ANN_TRIGGER_TYPE) or "")


services = st.one_of(st.sampled_from(["wf-trigger", "-trigger", "wf", ""]),
                     st.text(max_size=10).map(lambda s: s + "-trigger"), st.text(max_size=10))


@SETTINGS
@given(service=services, annotations=st.one_of(st.none(), annotation_dicts(ascii_text)))
def test_pin_from_service_is_total_over_ascii_annotations(
        service: str, annotations: dict[str, str] | None) -> None:
    _check_pin(service, annotations or {})


@FEW
@example(service="wf-trigger", annotations={ANN_ACTIVE_VERSION: "³", ANN_PLAN: "p",
                                            ANN_PLAN_HASH: "h"})
@given(service=services, annotations=annotation_dicts(st.text(max_size=12)))
def test_pin_from_service_is_total_over_any_annotations(
        service: str, annotations: dict[str, str]) -> None:
    _check_pin(service, annotations)
