"""Unit tests for the graph compiler: one case per error code, plan, hash, ConfigMap data."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from typing import Any

import pytest

from flowplane.compiler import (
    ERROR_CODES,
    PLAN_LIMIT_CODES,
    CompileResult,
    PlanLimits,
    canonical_graph,
    compile_graph,
    graph_hash,
    parse_duration,
    plan_from_configmap_data,
)
from flowplane.compiler.templates import references_in_text
from flowplane.model.graph import Graph, Node, Role

Json = dict[str, Any]

SEED: Json = {
    "nodes": [
        {
            "id": "form",
            "role": "trigger",
            "type": "webhook",
            "config": {"path": "/submit", "method": "POST"},
        },
        {
            "id": "has-email",
            "role": "system",
            "type": "branch",
            "config": {"condition": "{{ nodes.form.output.body.email != '' }}"},
        },
        {
            "id": "notify",
            "role": "action",
            "app": "slack",
            "operation": "chat.postMessage",
            "inputs": {"channel": "#forms", "text": "New: {{ nodes.form.output.body.email }}"},
        },
    ],
    "edges": [
        {"from": "form", "to": "has-email"},
        {"from": "has-email", "to": "notify", "port": "true"},
    ],
}


def seed() -> Json:
    return copy.deepcopy(SEED)


def trig(node_id: str = "t", kind: str = "webhook", **config: Any) -> Json:
    if not config:
        config = {"path": "/hook"} if kind == "webhook" else {}
        if kind == "schedule":
            config = {"cron": "*/5 * * * *"}
    return {"id": node_id, "role": "trigger", "type": kind, "config": config}


def act(node_id: str, **extra: Any) -> Json:
    return {"id": node_id, "role": "action", "app": "slack", "operation": "post", **extra}


def system(node_id: str, kind: str | None, **config: Any) -> Json:
    node: Json = {"id": node_id, "role": "system"}
    if kind is not None:
        node["type"] = kind
    if not config and kind == "branch":
        config = {"condition": "{{ true }}"}
    if not config and kind == "delay":
        config = {"duration": "5m"}
    if config:
        node["config"] = config
    return node


def edge(a: str, b: str, port: str | None = None) -> Json:
    out: Json = {"from": a, "to": b}
    if port is not None:
        out["port"] = port
    return out


def graph(nodes: list[Json], edges: list[Json]) -> Json:
    return {"nodes": nodes, "edges": edges}


def chain(n: int) -> Json:
    nodes = [trig("t")] + [
        act(f"n{i}", inputs={"text": f"{{{{ nodes.{'t' if i == 0 else f'n{i - 1}'}.output }}}}"})
        for i in range(n - 1)
    ]
    edges = [edge("t", "n0")] + [edge(f"n{i}", f"n{i + 1}") for i in range(n - 2)]
    return graph(nodes, edges)


def codes(result: CompileResult) -> list[str]:
    return [e.code for e in result.errors]


# --------------------------------------------------------------------------- happy path


def test_seed_example_compiles() -> None:
    result = compile_graph(seed())
    assert result.ok, result.errors
    assert result.errors == ()
    assert not result.invalid and not result.limit_exceeded
    plan = result.plan
    assert plan is not None
    assert plan.order == ("form", "has-email", "notify")
    assert plan.steps == 3
    assert plan.trigger_type == "webhook"
    assert plan.hash == result.graph_hash
    assert plan.hash.startswith("sha256:") and len(plan.hash) == len("sha256:") + 64


def test_configmap_data_shape_and_hash() -> None:
    plan = compile_graph(seed()).plan
    assert plan is not None
    data = plan.configmap_data()
    assert set(data) == {"graph.json", "plan.json"}
    assert json.loads(data["graph.json"]) == plan.graph
    assert plan.hash == "sha256:" + hashlib.sha256(data["graph.json"].encode()).hexdigest()
    stored = json.loads(data["plan.json"])
    assert stored["hash"] == plan.hash
    assert stored["order"] == ["form", "has-email", "notify"]
    assert stored["trigger"] == {"id": "form", "type": "webhook"}
    steps = {s["id"]: s for s in stored["steps"]}
    assert [s["id"] for s in stored["steps"]] == ["form", "has-email", "notify"]
    assert steps["form"] == {
        "id": "form",
        "role": "trigger",
        "type": "webhook",
        "next": [{"to": "has-email"}],
    }
    assert steps["has-email"]["next"] == [{"to": "notify", "port": "true"}]
    assert steps["notify"] == {
        "id": "notify",
        "role": "action",
        "app": "slack",
        "operation": "chat.postMessage",
        "next": [],
    }
    # Returned data is a copy: mutating it does not change the plan.
    data["graph.json"] = "x"
    assert plan.configmap_data()["graph.json"] != "x"


def test_canonical_graph_form() -> None:
    raw = seed()
    raw["nodes"].reverse()
    raw["nodes"][0]["config"] = None
    raw["nodes"][0]["inputs"] = {}
    canonical = canonical_graph(raw)
    assert canonical is not None
    assert [n["id"] for n in canonical["nodes"]] == ["form", "has-email", "notify"]
    notify = canonical["nodes"][2]
    assert "config" not in notify and "inputs" not in notify
    assert "port" not in canonical["edges"][0]
    assert canonical["edges"][1] == {"from": "has-email", "to": "notify", "port": "true"}


def test_hash_is_independent_of_order_and_spelling() -> None:
    base = graph_hash(seed())
    assert base is not None
    shuffled = seed()
    rng = random.Random(7)
    rng.shuffle(shuffled["nodes"])
    shuffled["edges"].reverse()
    for node in shuffled["nodes"]:
        node.update({k: v for k, v in reversed(list(node.items()))})
    assert graph_hash(shuffled) == base
    spelled = seed()
    spelled["nodes"][2]["config"] = {}  # empty config == no config
    spelled["nodes"][1]["app"] = None  # null == absent
    spelled["edges"][0] = {"source": "form", "to": "has-email", "port": None}
    assert graph_hash(spelled) == base
    assert compile_graph(shuffled).plan == compile_graph(seed()).plan
    changed = seed()
    changed["nodes"][2]["inputs"]["channel"] = "#other"
    assert graph_hash(changed) != base


def test_order_is_kahn_with_id_tie_break() -> None:
    raw = graph(
        [trig("t"), act("c"), act("a"), act("b"), act("z")],
        [edge("t", "c"), edge("t", "b"), edge("t", "a"), edge("a", "z"), edge("c", "z")],
    )
    result = compile_graph(raw)
    assert result.plan is not None
    assert result.plan.order == ("t", "a", "b", "c", "z")


def test_loop_and_branch_ports_compile() -> None:
    raw = graph(
        [
            trig("t", "schedule", cron="0 9 * * 1"),
            system("each", "loop", items="{{ nodes.t.output.rows }}"),
            system("wait", "delay", duration="PT5M"),
            system("check", "branch", condition="{{ nodes.each.item.ok }}"),
            act("yes", inputs={"x": ["{{ nodes.check.output }}", {"y": "{{ nodes.t.output }}"}]}),
            act("no"),
            system("shape", "transform"),
        ],
        [
            edge("t", "each"),
            edge("each", "wait", "body"),
            edge("wait", "check"),
            edge("check", "yes", "true"),
            edge("check", "no", "false"),
            edge("each", "shape", "done"),
        ],
    )
    result = compile_graph(raw)
    assert result.ok, result.errors
    assert result.plan is not None
    assert result.plan.trigger_type == "schedule"
    order = result.plan.order
    for e in raw["edges"]:
        assert order.index(e["from"]) < order.index(e["to"])


def test_deep_chain_compiles_without_recursion() -> None:
    result = compile_graph(chain(1000), PlanLimits(max_nodes=1000))
    assert result.ok, result.errors[:3]
    assert result.plan is not None
    assert result.plan.order[0] == "t" and result.plan.order[-1] == "n998"


# --------------------------------------------------------------------------- ConfigMap


def test_plan_from_configmap_data_roundtrip() -> None:
    plan = compile_graph(seed()).plan
    assert plan is not None
    data = plan.configmap_data()
    assert plan_from_configmap_data(data) == plan.graph
    assert graph_hash(plan_from_configmap_data(data)) == plan.hash
    assert plan_from_configmap_data({"graph.json": data["graph.json"]}) == plan.graph


@pytest.mark.parametrize(
    "data",
    [
        None,
        "x",
        {},
        {"graph.json": "{not json"},
        {"graph.json": "[]"},
        {"graph.json": '{"nodes": 5}'},
        {"graph.json": 5},
        {"graph.json": '{"nodes": [], "edges": []}', "plan.json": '{"hash": "sha256:00"}'},
        {"graph.json": '{"nodes": [], "edges": []}', "plan.json": "nope"},
        {"graph.json": "[" * 100_000 + "]" * 100_000},
    ],
)
def test_plan_from_configmap_data_unreadable(data: Any) -> None:
    assert plan_from_configmap_data(data) is None


def test_plan_from_configmap_data_detects_tampering() -> None:
    plan = compile_graph(seed()).plan
    assert plan is not None
    data = plan.configmap_data()
    data["graph.json"] = data["graph.json"].replace("#forms", "#evil")
    assert plan_from_configmap_data(data) is None


# --------------------------------------------------------------------------- every error code

Case = tuple[str, Json, PlanLimits, str | None, str]
"""(code, graph, limits, expected node, expected path)"""

_DEFAULT = PlanLimits()


def _with(mutate: Any) -> Json:
    raw = seed()
    mutate(raw)
    return raw


CASES: list[Case] = [
    (
        "SchemaInvalid",
        _with(lambda g: g["nodes"][1].update(role="boss")),
        _DEFAULT,
        None,
        "graph.nodes[1].role",
    ),
    ("NoTrigger", graph([act("a")], []), _DEFAULT, None, "graph.nodes"),
    (
        "MultipleTriggers",
        _with(lambda g: g["nodes"].append(trig("form2"))),
        _DEFAULT,
        "form2",
        "graph.nodes[3]",
    ),
    (
        "DuplicateNodeId",
        _with(lambda g: g["nodes"].append(act("notify"))),
        _DEFAULT,
        "notify",
        "graph.nodes[3].id",
    ),
    (
        "InvalidNodeType",
        _with(lambda g: g["nodes"][0].update(type="email")),
        _DEFAULT,
        "form",
        "graph.nodes[0].type",
    ),
    (
        "EdgeUnknownNode",
        _with(lambda g: g["edges"].append(edge("notify", "ghost"))),
        _DEFAULT,
        None,
        "graph.edges[2].to",
    ),
    (
        "EdgeIntoTrigger",
        _with(lambda g: g["edges"].append(edge("notify", "form"))),
        _DEFAULT,
        "form",
        "graph.edges[2]",
    ),
    (
        "SelfEdge",
        _with(lambda g: g["edges"].append(edge("notify", "notify"))),
        _DEFAULT,
        "notify",
        "graph.edges[2]",
    ),
    (
        "DuplicateEdge",
        _with(lambda g: g["edges"].append(edge("form", "has-email"))),
        _DEFAULT,
        "form",
        "graph.edges[2]",
    ),
    (
        "UnreachableNode",
        _with(lambda g: g["nodes"].append(act("orphan"))),
        _DEFAULT,
        "orphan",
        "graph.nodes[3]",
    ),
    (
        "Cycle",
        graph(
            [trig("t"), act("a"), act("b"), act("c")],
            [edge("t", "a"), edge("a", "b"), edge("b", "c"), edge("c", "a")],
        ),
        _DEFAULT,
        "a",
        "graph.edges[3]",
    ),
    (
        "InvalidPort",
        _with(lambda g: g["edges"][1].update(port="yes")),
        _DEFAULT,
        "has-email",
        "graph.edges[1].port",
    ),
    (
        "MissingConfig",
        _with(lambda g: g["nodes"][1].pop("config")),
        _DEFAULT,
        "has-email",
        "graph.nodes[1].config.condition",
    ),
    (
        "InvalidCron",
        graph([trig("t", "schedule", cron="61 * * * *"), act("a")], [edge("t", "a")]),
        _DEFAULT,
        "t",
        "graph.nodes[0].config.cron",
    ),
    (
        "InvalidDuration",
        graph(
            [trig("t"), system("wait", "delay", duration="soon"), act("a")],
            [edge("t", "wait"), edge("wait", "a")],
        ),
        _DEFAULT,
        "wait",
        "graph.nodes[1].config.duration",
    ),
    (
        "InvalidTemplateReference",
        _with(lambda g: g["nodes"][2]["inputs"].update(text="{{ nodes.ghost.output }}")),
        _DEFAULT,
        "notify",
        "graph.nodes[2].inputs.text",
    ),
    (
        "InvalidTemplate",
        _with(lambda g: g["nodes"][2]["inputs"].update(text="New: {{ {{ }} }}")),
        _DEFAULT,
        "notify",
        "graph.nodes[2].inputs.text",
    ),
    ("TooManyNodes", seed(), PlanLimits(max_nodes=2), None, "graph.nodes"),
    (
        "TriggerTypeNotAllowed",
        seed(),
        PlanLimits(allowed_trigger_types=frozenset({"schedule"})),
        "form",
        "graph.nodes[0].type",
    ),
    (
        "AppNotAllowed",
        seed(),
        PlanLimits(allowed_apps=frozenset({"github"})),
        "notify",
        "graph.nodes[2].app",
    ),
    ("PlanTooLarge", seed(), PlanLimits(max_plan_bytes=200), None, "graph"),
]


@pytest.mark.parametrize(
    ("code", "raw", "limits", "node", "path"), CASES, ids=[c[0] for c in CASES]
)
def test_error_code(code: str, raw: Json, limits: PlanLimits, node: str | None, path: str) -> None:
    result = compile_graph(raw, limits)
    assert codes(result) == [code], result.errors
    (err,) = result.errors
    assert err.node == node
    assert err.path == path
    assert err.message and len(err.message) > 10
    assert result.plan is None and not result.ok
    if code in PLAN_LIMIT_CODES:
        assert result.limit_exceeded and not result.invalid
    else:
        assert result.invalid and not result.limit_exceeded
    if code == "SchemaInvalid":
        assert result.graph_hash is None
    else:
        assert result.graph_hash == graph_hash(raw) is not None


def test_every_code_has_a_case() -> None:
    # InvalidNodeId has its own test: pydantic's pattern normally catches it first.
    assert {c[0] for c in CASES} | {"InvalidNodeId"} == set(ERROR_CODES)


def test_invalid_node_id_reaching_the_rules() -> None:
    nodes = [
        Node(id="t", role=Role.TRIGGER, type="webhook", config={"path": "/x"}),
        Node.model_construct(id="Bad_Id", role=Role.ACTION, app="a", operation="b"),
    ]
    bad = Graph.model_construct(nodes=nodes, edges=[])
    result = compile_graph(bad)
    err = next(e for e in result.errors if e.code == "InvalidNodeId")
    assert err.node == "Bad_Id"
    assert err.path == "graph.nodes[1].id"


def test_invalid_node_id_from_dict_is_schema_invalid() -> None:
    raw = _with(lambda g: g["nodes"][2].update(id="Notify!"))
    result = compile_graph(raw)
    assert codes(result) == ["SchemaInvalid"]
    assert result.errors[0].path == "graph.nodes[2].id"


# --------------------------------------------------------------------------- details per rule


@pytest.mark.parametrize(
    "raw",
    [None, 5, "graph", [], [1, 2], {"nodes": "x"}, {"nodes": [], "edges": [], "extra": 1}],
)
def test_schema_invalid_inputs(raw: Any) -> None:
    result = compile_graph(raw)
    assert result.errors and all(e.code == "SchemaInvalid" for e in result.errors)
    assert result.graph_hash is None and result.plan is None
    assert all(e.path and e.path.startswith("graph") for e in result.errors)


def test_schema_errors_are_all_reported_with_paths() -> None:
    raw = {
        "nodes": [
            {"id": "t", "role": "trigger", "type": "webhook", "bogus": 1},
            {"role": "action"},
            {"id": 7, "role": "action"},
        ],
        "edges": [{"from": "t"}],
    }
    result = compile_graph(raw)
    paths = {e.path for e in result.errors}
    assert {
        "graph.nodes[0].bogus",
        "graph.nodes[1].id",
        "graph.nodes[2].id",
        "graph.edges[0].to",
    } <= paths


def test_unserialisable_config_is_schema_invalid() -> None:
    circular: Json = {}
    circular["self"] = circular
    raw = seed()
    raw["nodes"][2]["inputs"] = circular
    result = compile_graph(raw)
    assert codes(result) == ["SchemaInvalid"] and result.graph_hash is None
    deep: list[Any] = []
    cursor = deep
    for _ in range(5000):
        cursor.append([])
        cursor = cursor[0]
    raw = seed()
    raw["nodes"][2]["inputs"] = {"deep": deep}
    assert codes(compile_graph(raw)) == ["SchemaInvalid"]


def test_no_trigger_does_not_also_report_unreachable() -> None:
    result = compile_graph(graph([act("a"), act("b")], [edge("a", "b")]))
    assert codes(result) == ["NoTrigger"]


def test_multiple_triggers_one_error_per_extra() -> None:
    raw = graph(
        [trig("a"), trig("b"), trig("c", "schedule"), act("x")],
        [edge("a", "x"), edge("b", "x"), edge("c", "x")],
    )
    result = compile_graph(raw)
    assert [(e.code, e.node, e.path) for e in result.errors] == [
        ("MultipleTriggers", "b", "graph.nodes[1]"),
        ("MultipleTriggers", "c", "graph.nodes[2]"),
    ]


@pytest.mark.parametrize(
    ("node", "path"),
    [
        ({"id": "t", "role": "trigger"}, "graph.nodes[0].type"),
        ({"id": "t", "role": "trigger", "type": "branch"}, "graph.nodes[0].type"),
    ],
)
def test_invalid_trigger_type(node: Json, path: str) -> None:
    result = compile_graph(graph([node, act("a")], [edge("t", "a")]))
    assert [(e.code, e.node, e.path) for e in result.errors] == [("InvalidNodeType", "t", path)]


@pytest.mark.parametrize("kind", [None, "webhook", "sleep"])
def test_invalid_system_type(kind: str | None) -> None:
    result = compile_graph(graph([trig(), system("s", kind)], [edge("t", "s")]))
    assert [(e.code, e.node, e.path) for e in result.errors] == [
        ("InvalidNodeType", "s", "graph.nodes[1].type")
    ]


def test_edge_with_both_ends_unknown() -> None:
    result = compile_graph(_with(lambda g: g["edges"].append(edge("x", "y"))))
    assert [(e.code, e.path) for e in result.errors] == [
        ("EdgeUnknownNode", "graph.edges[2].from"),
        ("EdgeUnknownNode", "graph.edges[2].to"),
    ]


def test_edge_into_trigger_is_not_also_a_cycle() -> None:
    result = compile_graph(_with(lambda g: g["edges"].append(edge("has-email", "form", "false"))))
    assert codes(result) == ["EdgeIntoTrigger"]


def test_cycle_reported_once_per_cycle_with_ids() -> None:
    raw = graph(
        [trig("t"), act("a"), act("b"), act("c"), act("d"), act("e")],
        [
            edge("t", "a"),
            edge("a", "b"),
            edge("b", "a"),
            edge("b", "a"),  # duplicate: its own error, not a second cycle
            edge("t", "c"),
            edge("c", "d"),
            edge("d", "e"),
            edge("e", "c"),
            edge("d", "c"),
        ],
    )
    result = compile_graph(raw)
    cycles = [e for e in result.errors if e.code == "Cycle"]
    assert [e.node for e in cycles] == ["a", "c"]
    assert "a -> b -> a" in cycles[0].message
    assert "c -> d -> c" in cycles[1].message
    assert "c, d, e" in cycles[1].message
    assert codes(result).count("DuplicateEdge") == 1


def test_cycle_unreachable_from_trigger() -> None:
    raw = graph([trig("t"), act("a"), act("b")], [edge("a", "b"), edge("b", "a")])
    assert sorted(codes(compile_graph(raw))) == ["Cycle", "UnreachableNode", "UnreachableNode"]


def test_long_cycle_no_recursion() -> None:
    raw = chain(1000)
    raw["edges"].append(edge("n998", "n0"))
    result = compile_graph(raw, PlanLimits(max_nodes=1000))
    assert codes(result) == ["Cycle"]
    assert result.errors[0].node == "n0"


def test_unreachable_each_node_once() -> None:
    raw = _with(
        lambda g: g["nodes"].extend([act("x"), act("y")]) or g["edges"].append(edge("x", "y"))
    )
    result = compile_graph(raw)
    assert [(e.code, e.node) for e in result.errors] == [
        ("UnreachableNode", "x"),
        ("UnreachableNode", "y"),
    ]


@pytest.mark.parametrize(
    ("upstream", "port", "ok"),
    [
        (system("b", "branch"), "true", True),
        (system("b", "branch"), "false", True),
        (system("b", "branch"), None, False),
        (system("b", "branch"), "body", False),
        (system("b", "loop"), "body", True),
        (system("b", "loop"), "done", True),
        (system("b", "loop"), "true", False),
        (system("b", "loop"), None, False),
        (system("b", "transform"), None, True),
        (system("b", "transform"), "true", False),
        (act("b"), None, True),
        (act("b"), "done", False),
        (system("b", "delay"), "", False),
    ],
)
def test_ports(upstream: Json, port: str | None, ok: bool) -> None:
    raw = graph([trig(), upstream, act("z")], [edge("t", "b"), edge("b", "z", port)])
    result = compile_graph(raw)
    if ok:
        assert result.ok, result.errors
    else:
        assert [(e.code, e.node, e.path) for e in result.errors] == [
            ("InvalidPort", "b", "graph.edges[1].port")
        ]


def test_trigger_edges_have_no_port() -> None:
    raw = _with(lambda g: g["edges"][0].update(port="true"))
    assert [(e.code, e.node) for e in compile_graph(raw).errors] == [("InvalidPort", "form")]


@pytest.mark.parametrize(
    ("node", "path"),
    [
        (trig("s", "webhook", method="POST"), "graph.nodes[0].config.path"),
        (trig("s", "webhook", path="submit"), "graph.nodes[0].config.path"),
        (trig("s", "webhook", path=5), "graph.nodes[0].config.path"),
        (trig("s", "schedule", timezone="UTC"), "graph.nodes[0].config.cron"),
        (trig("s", "schedule", cron="  "), "graph.nodes[0].config.cron"),
        (system("s", "branch", condition=""), "graph.nodes[0].config.condition"),
        (system("s", "delay", note="x"), "graph.nodes[0].config.duration"),
        ({"id": "s", "role": "action", "operation": "post"}, "graph.nodes[0].app"),
        ({"id": "s", "role": "action", "app": "slack"}, "graph.nodes[0].operation"),
        ({"id": "s", "role": "action", "app": " ", "operation": "x"}, "graph.nodes[0].app"),
    ],
)
def test_missing_config(node: Json, path: str) -> None:
    result = compile_graph(graph([node], []))
    missing = [(e.node, e.path) for e in result.errors if e.code == "MissingConfig"]
    assert missing == [("s", path)]


def test_action_missing_both_app_and_operation() -> None:
    result = compile_graph(graph([trig(), {"id": "a", "role": "action"}], [edge("t", "a")]))
    assert [(e.code, e.path) for e in result.errors] == [
        ("MissingConfig", "graph.nodes[1].app"),
        ("MissingConfig", "graph.nodes[1].operation"),
    ]


@pytest.mark.parametrize(
    ("cron", "valid"),
    [
        ("*/5 * * * *", True),
        ("0 9 * * 1-5", True),
        ("@daily", True),
        ("61 * * * *", False),
        ("* * * *", False),
        ("every day", False),
        (5, False),
        (["* * * * *"], False),
        ("* " * 500, False),
    ],
)
def test_cron(cron: Any, valid: bool) -> None:
    raw = graph([trig("t", "schedule", cron=cron), act("a")], [edge("t", "a")])
    result = compile_graph(raw)
    assert codes(result) == ([] if valid else ["InvalidCron"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("PT5M", 300),
        ("pt5m", 300),
        ("P1D", 86400),
        ("P1W", 604800),
        ("P1DT2H", 93600),
        ("PT0.5S", 0.5),
        (" 10s ", 10),
    ],
)
def test_parse_duration_valid(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0s",
        "PT0S",
        "P",
        "PT",
        "P1DT",
        "P1M",
        "P1Y",
        "5",
        "5x",
        "m5",
        "5s5m",
        "-5s",
        "1 h",
        "9" * 100 + "s",
        30,
        None,
        True,
        ["5m"],
        {"m": 5},
    ],
)
def test_parse_duration_invalid(value: Any) -> None:
    assert parse_duration(value) is None


def test_invalid_duration_error() -> None:
    raw = graph(
        [trig(), system("w", "delay", duration=30), act("a")], [edge("t", "w"), edge("w", "a")]
    )
    result = compile_graph(raw)
    assert [(e.code, e.node, e.path) for e in result.errors] == [
        ("InvalidDuration", "w", "graph.nodes[1].config.duration")
    ]
    assert "30s" in result.errors[0].message


# --------------------------------------------------------------------------- templates


def _template_graph(text: Any) -> Json:
    return graph(
        [trig("t"), act("a"), act("b"), act("c", inputs={"v": text}), act("d")],
        [edge("t", "a"), edge("a", "c"), edge("t", "b"), edge("c", "d")],
    )


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("{{ nodes.a.output }}", []),
        ("{{ nodes.t.output.body }} and {{ nodes.a.output }}", []),
        ("{{ nodes['a'].output }}", []),
        ('{{ nodes["t"].output }}', []),
        ("nodes.b outside a template", []),
        ("{{ mynodes.b }} {{ x.nodes.b }}", []),
        ("{{ nodes.b.output }}", ["b"]),
        ("{{ nodes.d.output }}", ["d"]),
        ("{{ nodes.c.output }}", ["c"]),
        ("{{ nodes.ghost }}", ["ghost"]),
        ("{{ nodes.ghost }} {{ nodes.ghost }}", ["ghost"]),
        ("{{ nodes.b }} {{ nodes.a }} {{ nodes['d'] }}", ["b", "d"]),
        ("{{\n nodes.b\n}}", ["b"]),
        ("{{ nodes.fórm }}", ["fórm"]),
    ],
)
def test_template_references(text: str, bad: list[str]) -> None:
    result = compile_graph(_template_graph(text))
    errors = [e for e in result.errors if e.code == "InvalidTemplateReference"]
    assert [e.node for e in errors] == ["c"] * len(bad)
    assert [e.path for e in errors] == ["graph.nodes[3].inputs.v"] * len(bad)
    for err, ref in zip(errors, bad, strict=True):
        assert f"nodes.{ref}" in err.message
    assert codes(result) == ["InvalidTemplateReference"] * len(bad)


def test_template_in_nested_config_paths() -> None:
    value = {"list": ["ok", {"deep key": "{{ nodes.b.x }}"}], "n": 5, "none": None}
    result = compile_graph(_template_graph(value))
    assert [e.path for e in result.errors] == ['graph.nodes[3].inputs.v.list[1]["deep key"]']


def test_template_in_config_of_system_node() -> None:
    raw = _with(lambda g: g["nodes"][1]["config"].update(condition="{{ nodes.notify.ok }}"))
    result = compile_graph(raw)
    assert [(e.code, e.node, e.path) for e in result.errors] == [
        ("InvalidTemplateReference", "has-email", "graph.nodes[1].config.condition")
    ]


def test_references_in_text() -> None:
    assert references_in_text("{{ nodes.a.x + nodes.b-c.y }} {{ nodes['d e'] }}") == [
        "a",
        "b-c",
        "d e",
    ]
    assert references_in_text("no templates nodes.a") == []
    assert references_in_text("{{ unterminated nodes.a") == []


# --------------------------------------------------------------------------- all at once, limits


def test_all_errors_reported_at_once() -> None:
    raw = graph(
        [
            trig("form", path="submit"),
            trig("form2", "schedule", cron="nope"),
            system("a", "branch"),
            system("b", "delay", duration="5x"),
            {"id": "c", "role": "action", "inputs": {"t": "{{ nodes.zz }}"}},
            system("a", "wat"),
        ],
        [
            edge("form", "a", "true"),
            edge("a", "b"),
            edge("b", "c"),
            edge("c", "a"),
            edge("c", "form"),
            edge("c", "c"),
            edge("q", "c"),
            edge("a", "b"),
        ],
    )
    limits = PlanLimits(max_nodes=3, allowed_trigger_types=frozenset({"webhook"}))
    result = compile_graph(raw, limits)
    assert codes(result) == [
        "MultipleTriggers",
        "MissingConfig",
        "InvalidCron",
        "InvalidDuration",
        "MissingConfig",
        "MissingConfig",
        "DuplicateNodeId",
        "InvalidNodeType",
        "InvalidPort",
        "InvalidPort",
        "EdgeIntoTrigger",
        "SelfEdge",
        "EdgeUnknownNode",
        "DuplicateEdge",
        "Cycle",
        "InvalidTemplateReference",
        "TooManyNodes",
        "TriggerTypeNotAllowed",
    ]
    assert result.invalid and not result.limit_exceeded
    assert result.graph_hash is not None and result.plan is None
    assert compile_graph(raw, limits) == result  # deterministic


def test_limits_only() -> None:
    limits = PlanLimits(
        max_nodes=1,
        allowed_trigger_types=frozenset(),
        allowed_apps=frozenset({"github"}),
        max_plan_bytes=100,
    )
    result = compile_graph(seed(), limits)
    assert codes(result) == [
        "TooManyNodes",
        "TriggerTypeNotAllowed",
        "AppNotAllowed",
        "PlanTooLarge",
    ]
    assert result.limit_exceeded and not result.invalid and result.plan is None
    assert result.graph_hash == graph_hash(seed())


def test_plan_too_large_with_rule_errors_uses_graph_size() -> None:
    raw = _with(lambda g: g["nodes"].append(act("orphan", inputs={"blob": "x" * 5000})))
    result = compile_graph(raw, PlanLimits(max_plan_bytes=4000))
    assert codes(result) == ["UnreachableNode", "PlanTooLarge"]
    assert "canonical graph" in result.errors[-1].message


def test_default_limits_allow_200_nodes() -> None:
    assert compile_graph(chain(200)).ok
    result = compile_graph(chain(201))
    assert codes(result) == ["TooManyNodes"]


def test_app_trigger_app_is_checked() -> None:
    raw = graph(
        [{"id": "t", "role": "trigger", "type": "app", "app": "github"}, act("a")],
        [edge("t", "a")],
    )
    assert compile_graph(raw).ok
    result = compile_graph(raw, PlanLimits(allowed_apps=frozenset({"slack"})))
    assert [(e.code, e.node, e.path) for e in result.errors] == [
        ("AppNotAllowed", "t", "graph.nodes[0].app")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "{{" * 200_000,
        "{{ " + "nodes['" * 100_000 + " }}",
        "{{ " + "nodes." * 100_000 + " }}",
        "{{ nodes." * 50_000 + "}}",
    ],
)
@pytest.mark.timeout(60)  # a hang guard (a quadratic scan of these takes minutes), not a target
def test_hostile_template_strings_compile(text: str) -> None:
    raw = seed()
    raw["nodes"][2]["inputs"]["text"] = text
    result = compile_graph(raw)
    assert result.graph_hash is not None
    assert {e.code for e in result.errors} <= {"InvalidTemplateReference", "InvalidTemplate",
                                                "PlanTooLarge"}
