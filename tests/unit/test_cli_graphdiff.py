"""Graph diff: canonical comparison, node field changes, edges with ports."""

from __future__ import annotations

import copy
from typing import Any

from flowplane.cli.graphdiff import (
    MISSING,
    FieldChange,
    diff_graphs,
    format_diff,
    format_edge,
    unified_diff,
)

V1: dict[str, Any] = {
    "nodes": [
        {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
        {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage",
         "inputs": {"channel": "#forms", "text": "New form"}},
    ],
    "edges": [{"from": "form", "to": "notify"}],
}
V2: dict[str, Any] = {
    "nodes": [
        {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
        {"id": "has-email", "role": "system", "type": "branch",
         "config": {"condition": "{{ nodes.form.output.body.email != '' }}"}},
        {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage",
         "inputs": {"channel": "#forms", "text": "New: {{ nodes.form.output.body.email }}"}},
    ],
    "edges": [{"from": "form", "to": "has-email"},
              {"from": "has-email", "to": "notify", "port": "true"}],
}


def test_same_graph_in_another_order_has_no_differences() -> None:
    shuffled = copy.deepcopy(V2)
    shuffled["nodes"].reverse()
    shuffled["edges"].reverse()
    shuffled["nodes"][0]["config"] = {}  # empty config is the same as none
    assert shuffled["nodes"][0]["id"] == "notify"
    shuffled["nodes"][0].pop("config")
    d = diff_graphs(V2, shuffled)
    assert d.empty
    assert "no differences" in format_diff(d, "v2", "v2b")
    assert unified_diff(V2, shuffled, "a", "b") == ""


def test_nodes_added_changed_and_edges_with_ports() -> None:
    d = diff_graphs(V1, V2)
    assert [n["id"] for n in d.nodes_added] == ["has-email"]
    assert d.nodes_removed == ()
    (changed,) = d.nodes_changed
    assert changed.id == "notify"
    assert changed.fields == (FieldChange("inputs.text", "New form",
                                          "New: {{ nodes.form.output.body.email }}"),)
    assert d.edges_added == (("form", "has-email", None), ("has-email", "notify", "true"))
    assert d.edges_removed == (("form", "notify", None),)
    text = format_diff(d, "v1 (wf-v1)", "v2 (wf-v2)")
    assert text.splitlines()[:2] == ["--- v1 (wf-v1)", "+++ v2 (wf-v2)"]
    assert "  + has-email (system/branch)" in text
    assert "  ~ notify" in text
    assert '      inputs.text: "New form" -> "New: {{ nodes.form.output.body.email }}"' in text
    assert "  + has-email -[true]-> notify" in text
    assert "  - form -> notify" in text
    assert text.endswith("1 node(s) added, 0 removed, 1 changed; 2 edge(s) added, 1 removed\n")


def test_reverse_diff_removes_and_fields_that_appear_or_vanish() -> None:
    d = diff_graphs(V2, V1)
    assert [n["id"] for n in d.nodes_removed] == ["has-email"]
    assert "  - has-email (system/branch)" in format_diff(d, "a", "b")
    a = {"nodes": [{"id": "t", "role": "trigger", "type": "schedule",
                    "config": {"cron": "* * * * *"}}], "edges": []}
    b = {"nodes": [{"id": "t", "role": "trigger", "type": "webhook",
                    "config": {"path": "/x"}}], "edges": []}
    (change,) = diff_graphs(a, b).nodes_changed
    assert change.fields == (FieldChange("config.cron", "* * * * *", MISSING),
                             FieldChange("config.path", MISSING, "/x"),
                             FieldChange("type", "schedule", "webhook"))
    assert '<absent> -> "/x"' in format_diff(diff_graphs(a, b), "a", "b")


def test_graphs_that_do_not_parse_are_compared_as_written() -> None:
    broken = {"nodes": [{"id": "Bad Id!", "role": "trigger"}, "not a node"],
              "edges": [{"from": "Bad Id!", "to": "ghost", "port": "x"}]}
    d = diff_graphs(broken, V1)
    assert [n["id"] for n in d.nodes_removed] == ["Bad Id!"]
    assert ("Bad Id!", "ghost", "x") in d.edges_removed
    assert diff_graphs(None, None).empty
    assert [n["id"] for n in diff_graphs(None, V1).nodes_added] == ["form", "notify"]


def test_unified_diff_is_a_line_diff_of_canonical_json() -> None:
    text = unified_diff(V1, V2, "v1", "v2")
    assert text.startswith("--- v1\n+++ v2\n")
    assert '+      "id": "has-email",\n' in text
    assert all(line[:1] in "@+- " for line in text.splitlines())


def test_format_edge() -> None:
    assert format_edge(("a", "b", None)) == "a -> b"
    assert format_edge(("loop", "step", "body")) == "loop -[body]-> step"


def test_long_values_are_truncated() -> None:
    a = {"nodes": [{"id": "t", "role": "trigger", "type": "webhook",
                    "config": {"path": "/" + "x" * 200}}], "edges": []}
    b = copy.deepcopy(a)
    b["nodes"][0]["config"]["path"] = "/y"
    line = next(x for x in format_diff(diff_graphs(a, b), "a", "b").splitlines()
                if "config.path" in x)
    assert len(line) < 120 and 'xxx... -> "/y"' in line
