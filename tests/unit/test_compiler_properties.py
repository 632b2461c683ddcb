"""Property tests for the compiler: random and adversarial input never breaks it."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from flowplane.compiler import (
    ERROR_CODES,
    PLAN_LIMIT_CODES,
    CompileResult,
    PlanLimits,
    canonical_graph,
    compile_graph,
    graph_hash,
    plan_from_configmap_data,
)

Json = dict[str, Any]

POOL = ["t", "a", "b", "c", "d", "e", "loop-1", "x9"]
"""A small id pool, so duplicates, collisions and references to real nodes are common."""

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.one_of(
    st.sampled_from(POOL),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
)
HOSTILE_ROLES = ("trigger", "action", "system", "boss", "", "Trigger")
hostile_ids = st.one_of(ids, st.text(max_size=70), st.integers(), st.none())

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
)
template_strings = st.builds(
    lambda pre, ref, post, bracket: (
        f"{pre}{{{{ nodes['{ref}'].output }}}}{post}"
        if bracket
        else f"{pre}{{{{ nodes.{ref}.output }}}}{post}"
    ),
    st.text(max_size=5),
    st.one_of(st.sampled_from(POOL), st.text(max_size=8)),
    st.text(max_size=5),
    st.booleans(),
)
json_values = st.recursive(
    st.one_of(json_scalars, template_strings),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)

config_values = st.fixed_dictionaries(
    {},
    optional={
        "path": st.sampled_from(["/hook", "hook", "", None, 5]),
        "cron": st.sampled_from(["*/5 * * * *", "@daily", "61 * * * *", "", None, 7]),
        "condition": st.one_of(template_strings, st.sampled_from(["", None, True])),
        "duration": st.sampled_from(["5m", "PT5M", "1h30m", "0s", "soon", "", None, 30]),
        "extra": json_values,
    },
)


@st.composite
def nodes(
    draw: st.DrawFn,
    node_id: st.SearchStrategy[Any] = ids,
    roles: tuple[str, ...] = ("trigger", "action", "system", "system", "action"),
) -> Json:
    node: Json = {
        "id": draw(node_id),
        "role": draw(st.sampled_from(roles)),
    }
    kind = draw(
        st.sampled_from(
            [None, "webhook", "schedule", "app", "branch", "loop", "transform", "delay", "ai", "x"]
        )
    )
    if kind is not None:
        node["type"] = kind
    if draw(st.booleans()):
        node["app"] = draw(st.sampled_from(["slack", "github", "", " "]))
    if draw(st.booleans()):
        node["operation"] = draw(st.sampled_from(["post", ""]))
    if draw(st.booleans()):
        node["config"] = draw(config_values)
    if draw(st.booleans()):
        node["inputs"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    return node


ports = st.sampled_from([None, None, None, "true", "false", "body", "done", "x", ""])


@st.composite
def edges(draw: st.DrawFn, endpoint: st.SearchStrategy[Any] = ids) -> Json:
    out: Json = {"from": draw(endpoint), "to": draw(endpoint)}
    port = draw(ports)
    if port is not None:
        out["port"] = port
    return out


graphs = st.builds(
    lambda n, e: {"nodes": n, "edges": e},
    st.lists(nodes(), max_size=12),
    st.lists(edges(), max_size=20),
)


@st.composite
def hostile_graphs(draw: st.DrawFn) -> Any:
    """Graph-shaped values with wrong types, missing and extra fields."""
    base: Json = {}
    if draw(st.booleans()):
        base["nodes"] = draw(
            st.one_of(
                st.lists(st.one_of(nodes(hostile_ids, HOSTILE_ROLES), json_values), max_size=6),
                json_values,
            )
        )
    if draw(st.booleans()):
        base["edges"] = draw(
            st.one_of(st.lists(st.one_of(edges(hostile_ids), json_values), max_size=6), json_values)
        )
    if draw(st.integers(0, 5)) == 0:
        base[draw(st.text(max_size=5))] = draw(json_values)
    return base


@st.composite
def unique_graphs(draw: st.DrawFn) -> Json:
    """Well-formed graphs with unique ids, mostly valid: one trigger, a random DAG
    over the rest, sometimes with rule-breaking extras."""
    n = draw(st.integers(1, 25))
    names = [f"n{i}" for i in range(n)]
    nodes_: list[Json] = [
        {"id": names[0], "role": "trigger", "type": "webhook", "config": {"path": "/p"}}
    ]
    for i in range(1, n):
        kind = draw(st.sampled_from(["action", "branch", "loop", "transform", "delay"]))
        node: Json
        if kind == "action":
            node = {"id": names[i], "role": "action", "app": "slack", "operation": "op"}
        else:
            node = {"id": names[i], "role": "system", "type": kind}
            node["config"] = {"condition": "x"} if kind == "branch" else {"duration": "1m"}
        nodes_.append(node)
    edges_: list[Json] = []
    parent_of = [0] * n
    for i in range(1, n):
        parent_of[i] = draw(st.integers(0, i - 1))
        edges_.append({"from": names[parent_of[i]], "to": names[i]})
    for i in range(1, n):
        if draw(st.booleans()):
            ancestors = [parent_of[i]]
            while ancestors[-1] != 0:
                ancestors.append(parent_of[ancestors[-1]])
            anywhere = draw(st.integers(0, 19)) == 0
            ref = draw(st.integers(0, n - 1) if anywhere else st.sampled_from(ancestors))
            nodes_[i]["inputs"] = {"v": f"{{{{ nodes.{names[ref]}.output }}}}"}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 6]))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        edges_.append({"from": names[a], "to": names[b]})
    for e in edges_:
        upstream = nodes_[names.index(e["from"])]
        if upstream.get("type") == "branch":
            e["port"] = draw(st.sampled_from(["true", "false"]))
        elif upstream.get("type") == "loop":
            e["port"] = draw(st.sampled_from(["body", "done"]))
    if draw(st.integers(0, 4)) == 0:
        nodes_.append({"id": "extra-trigger", "role": "trigger", "type": "schedule"})
    return {"nodes": nodes_, "edges": edges_}


limits_strategy = st.builds(
    PlanLimits,
    max_nodes=st.integers(0, 50),
    allowed_trigger_types=st.one_of(
        st.none(), st.frozensets(st.sampled_from(["webhook", "schedule", "app"]))
    ),
    allowed_apps=st.one_of(st.none(), st.frozensets(st.sampled_from(["slack", "github"]))),
    max_plan_bytes=st.integers(0, 5000),
)


def check_invariants(raw: Any, result: CompileResult) -> None:
    assert isinstance(result, CompileResult)
    assert all(e.code in ERROR_CODES for e in result.errors)
    assert all(e.message for e in result.errors)
    assert all(not e.message.startswith("internal compiler error") for e in result.errors)
    assert (not result.errors) == (result.plan is not None) == result.ok
    assert result.invalid == any(e.code not in PLAN_LIMIT_CODES for e in result.errors)
    assert not (result.invalid and result.limit_exceeded)
    assert result.graph_hash == graph_hash(raw)
    if result.graph_hash is None:
        assert result.errors and all(e.code == "SchemaInvalid" for e in result.errors)
    else:
        assert all(e.code != "SchemaInvalid" for e in result.errors)
    for err in result.errors:
        json.dumps(err.model_dump())  # status-ready
    plan = result.plan
    if plan is not None:
        assert plan.hash == result.graph_hash
        ids = [n["id"] for n in plan.graph["nodes"]]
        assert sorted(plan.order) == sorted(ids) and len(set(ids)) == len(ids)
        position = {node_id: i for i, node_id in enumerate(plan.order)}
        for e in plan.graph["edges"]:
            assert position[e["from"]] < position[e["to"]]
        assert plan_from_configmap_data(plan.configmap_data()) == plan.graph


@SETTINGS
@given(graphs, limits_strategy)
def test_random_graphs_never_raise(raw: Json, limits: PlanLimits) -> None:
    before = copy.deepcopy(raw)
    result = compile_graph(raw, limits)
    assert raw == before  # input untouched
    check_invariants(raw, result)
    assert compile_graph(copy.deepcopy(raw), limits) == result  # deterministic


@SETTINGS
@given(hostile_graphs())
def test_hostile_graphs_never_raise(raw: Any) -> None:
    check_invariants(raw, compile_graph(raw))


@SETTINGS
@given(json_values)
def test_any_json_never_raises(raw: Any) -> None:
    result = compile_graph(raw)
    check_invariants(raw, result)
    if not isinstance(raw, dict):
        assert [e.code for e in result.errors] == ["SchemaInvalid"]
        assert result.graph_hash is None


@SETTINGS
@given(unique_graphs(), st.randoms(use_true_random=False))
def test_order_independent(raw: Json, rng: random.Random) -> None:
    shuffled = copy.deepcopy(raw)
    rng.shuffle(shuffled["nodes"])
    rng.shuffle(shuffled["edges"])
    first, second = compile_graph(raw), compile_graph(shuffled)
    check_invariants(raw, first)
    assert first.graph_hash == second.graph_hash is not None
    assert sorted(e.code for e in first.errors) == sorted(e.code for e in second.errors)
    assert first.plan == second.plan


@SETTINGS
@given(unique_graphs())
def test_canonical_graph_is_a_fixpoint(raw: Json) -> None:
    canonical = canonical_graph(raw)
    assert canonical is not None
    assert canonical_graph(canonical) == canonical
    assert graph_hash(canonical) == graph_hash(raw)
    assert sorted(e.code for e in compile_graph(canonical).errors) == sorted(
        e.code for e in compile_graph(raw).errors
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 1000), st.data())
def test_deep_chains_with_back_edges(n: int, data: st.DataObject) -> None:
    names = [f"n{i}" for i in range(n)]
    nodes_: list[Json] = [{"id": "n0", "role": "trigger", "type": "app"}] + [
        {"id": name, "role": "action", "app": "a", "operation": "o"} for name in names[1:]
    ]
    edges_ = [{"from": names[i], "to": names[i + 1]} for i in range(n - 1)]
    back = data.draw(st.booleans())
    if back and n > 2:
        lo = data.draw(st.integers(1, n - 2))
        hi = data.draw(st.integers(lo + 1, n - 1))
        edges_.append({"from": names[hi], "to": names[lo]})
    raw = {"nodes": nodes_, "edges": edges_}
    result = compile_graph(raw, PlanLimits(max_nodes=1000))
    check_invariants(raw, result)
    if back and n > 2:
        assert [e.code for e in result.errors] == ["Cycle"]
    else:
        assert result.ok and result.plan is not None and result.plan.order == tuple(names)


@settings(max_examples=10, deadline=None)
@given(st.integers(1001, 1500))
def test_over_hard_node_ceiling_is_schema_invalid(n: int) -> None:
    raw = {"nodes": [{"id": f"n{i}", "role": "action"} for i in range(n)], "edges": []}
    result = compile_graph(raw)
    assert [(e.code, e.path) for e in result.errors] == [("SchemaInvalid", "graph.nodes")]


@SETTINGS
@given(st.text(), st.text(max_size=40))
def test_unicode_everywhere(text: str, node_id: str) -> None:
    raw = {
        "nodes": [
            {"id": "t", "role": "trigger", "type": "webhook", "config": {"path": "/" + text}},
            {
                "id": node_id,
                "role": "action",
                "app": text[:200],
                "operation": "x",
                "inputs": {text: f"{{{{ nodes.{node_id} }}}} {{{{ nodes['{text}'] }}}}"},
            },
        ],
        "edges": [{"from": "t", "to": node_id}],
    }
    result = compile_graph(raw)
    check_invariants(raw, result)
    if result.plan is not None:
        data = result.plan.configmap_data()
        assert all(v.isascii() for v in data.values())


@SETTINGS
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=50), json_values)))
def test_plan_from_configmap_data_never_raises(data: Any) -> None:
    result = plan_from_configmap_data(data)
    assert result is None or canonical_graph(result) == result


def test_strategies_reach_valid_plans() -> None:
    # Guard against strategies that only ever produce broken graphs.
    found = find(unique_graphs(), lambda g: compile_graph(g).ok and len(g["nodes"]) > 5)
    assert compile_graph(found).plan is not None
