"""Mermaid and DOT rendering: shapes, port labels, a distinct trigger, escaping.

The DOT output is parsed back with pydot, so it is valid Graphviz syntax.
"""

from __future__ import annotations

from typing import Any

import pydot
import pytest

from flowplane.cli.render import render, to_dot, to_mermaid

# pydot's parser calls pyparsing APIs that newer pyparsing releases deprecate.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
        {"id": "has-email", "role": "system", "type": "branch", "config": {"condition": "x"}},
        {"id": "each-row", "role": "system", "type": "loop", "config": {"items": "y"}},
        {"id": "wait", "role": "system", "type": "delay", "config": {"duration": "5m"}},
        {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage"},
    ],
    "edges": [
        {"from": "form", "to": "has-email"},
        {"from": "has-email", "to": "each-row", "port": "true"},
        {"from": "has-email", "to": "notify", "port": "false"},
        {"from": "each-row", "to": "wait", "port": "body"},
        {"from": "each-row", "to": "notify", "port": "done"},
    ],
}


def test_mermaid_shapes_ports_and_trigger_class() -> None:
    text = to_mermaid(GRAPH, "form-to-slack v2")
    lines = text.splitlines()
    assert lines[:2] == ["%% form-to-slack v2", "flowchart TD"]
    assert '    n_form(["form<br/>webhook"])' in lines  # stadium
    assert '    n_has_email{"has-email<br/>branch"}' in lines  # diamond
    assert '    n_each_row{{"each-row<br/>loop"}}' in lines  # hexagon
    assert '    n_wait("wait<br/>delay")' in lines  # rounded
    assert '    n_notify["notify<br/>slack: chat.postMessage"]' in lines
    assert "    n_form --> n_has_email" in lines
    assert "    n_has_email -->|true| n_each_row" in lines
    assert "    n_has_email -->|false| n_notify" in lines
    assert "    n_each_row -->|body| n_wait" in lines
    assert "    n_each_row -->|done| n_notify" in lines
    assert "    class n_form trigger" in lines
    assert any(line.startswith("    classDef trigger ") for line in lines)
    assert text.endswith("\n")


def test_mermaid_escapes_and_keeps_ids_unique() -> None:
    graph = {
        "nodes": [{"id": "a-b", "role": "trigger", "type": "webhook"},
                  {"id": "a_b", "role": "action", "app": 'say "hi"', "operation": "x|y<z>#"}],
        "edges": [{"from": "a-b", "to": "a_b"}, {"from": "a_b", "to": "ghost"}],
    }
    text = to_mermaid(graph)
    assert "    n_a_b([" in text and "    n_a_b_2[" in text
    assert 'say #quot;hi#quot;: x#124;y#60;z#62;#35;' in text
    assert "n_a_b --> n_a_b_2" in text
    assert '    n_ghost["ghost<br/>unknown"]' in text  # an edge to nowhere still renders
    assert "class n_ghost unknown" in text
    assert not text.startswith("%%")


def test_dot_is_valid_and_styled() -> None:
    text = to_dot(GRAPH, "form-to-slack v2")
    (graph,) = pydot.graph_from_dot_data(text)
    assert graph.get_name() == '"form-to-slack v2"'
    nodes = {n.get_name().strip('"'): n for n in graph.get_nodes()
             if n.get_name() not in ("node", "edge")}
    assert set(nodes) == {"form", "has-email", "each-row", "wait", "notify"}
    trigger = nodes["form"]
    assert trigger.get("shape") == "ellipse"
    assert "filled" in trigger.get("style") and "bold" in trigger.get("style")
    assert nodes["has-email"].get("shape") == "diamond"
    assert nodes["each-row"].get("shape") == "hexagon"
    assert nodes["notify"].get("label") == '"notify\\nslack: chat.postMessage"'
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')): e.get("label")
             for e in graph.get_edges()}
    assert edges == {("form", "has-email"): None, ("has-email", "each-row"): '"true"',
                     ("has-email", "notify"): '"false"', ("each-row", "wait"): '"body"',
                     ("each-row", "notify"): '"done"'}


def test_dot_escapes_quotes_and_draws_unknown_nodes_dashed() -> None:
    graph = {"nodes": [{"id": "t", "role": "trigger", "type": "webhook"},
                       {"id": "q", "role": "action", "app": 'a"b\\c', "operation": "op"}],
             "edges": [{"from": "t", "to": "q"}, {"from": "q", "to": "ghost"}]}
    text = to_dot(graph)
    (parsed,) = pydot.graph_from_dot_data(text)
    ghost = parsed.get_node('"ghost"')[0]
    assert ghost.get("style") == "dashed"
    assert 'a\\"b\\\\c: op' in text


def test_empty_graph_and_render_dispatch() -> None:
    assert to_mermaid({}) == "flowchart TD\n    classDef trigger fill:#e3f2fd,stroke:#1565c0," \
                             "stroke-width:3px\n"
    assert pydot.graph_from_dot_data(to_dot({}))
    assert render(GRAPH, "mermaid", "t").startswith("%% t\n")
    assert render(GRAPH, "dot", "t").startswith('digraph "t" {')
    with pytest.raises(ValueError, match="unknown format"):
        render(GRAPH, "svg", "t")
