"""Pure rendering of a workflow graph as Mermaid or Graphviz DOT.

Branch and loop out-ports become edge labels; the trigger is drawn distinctly (stadium
shape and a `trigger` class in Mermaid, a filled bold ellipse in DOT), branches as
diamonds and loops as hexagons. Graphs that break rules (drafts) still render: an
edge to an unknown node draws that node dashed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowplane.cli.graphdiff import describe_node

FORMATS = ("mermaid", "dot")
TRIGGER_FILL = "#e3f2fd"
TRIGGER_STROKE = "#1565c0"


def _nodes_and_edges(
    graph: Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], list[tuple[str, str, str | None]]]:
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, Mapping)]
    edges = []
    for e in graph.get("edges") or []:
        if isinstance(e, Mapping):
            port = e.get("port")
            edges.append((str(e.get("from", "")), str(e.get("to", "")),
                          None if port is None else str(port)))
    return nodes, edges


def _subtitle(node: Mapping[str, Any]) -> str:
    if node.get("role") == "action":
        return ": ".join(str(node[k]) for k in ("app", "operation") if node.get(k)) or "action"
    return str(node.get("type") or node.get("role") or "?")


def _unknown_targets(nodes: list[Mapping[str, Any]],
                     edges: list[tuple[str, str, str | None]]) -> list[str]:
    known = {str(n.get("id", "")) for n in nodes}
    missing: list[str] = []
    for source, target, _ in edges:
        for end in (source, target):
            if end not in known and end not in missing:
                missing.append(end)
    return missing


# ------------------------------------------------------------------ mermaid


class _MermaidIds:
    """Node ids made safe for Mermaid (letters, digits, underscores), kept unique."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def __call__(self, node_id: str) -> str:
        if node_id not in self._ids:
            base = "n_" + (re.sub(r"[^A-Za-z0-9_]", "_", node_id) or "empty")
            candidate, n = base, 1
            while candidate in self._ids.values():
                n += 1
                candidate = f"{base}_{n}"
            self._ids[node_id] = candidate
        return self._ids[node_id]


_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "&": "#38;", "<": "#60;", ">": "#62;",
                     "|": "#124;", "\n": " "}


def _mermaid_text(text: str) -> str:
    """Mermaid entity codes for characters that would end a label or an edge text."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text)


def to_mermaid(graph: Mapping[str, Any], title: str | None = None) -> str:
    nodes, edges = _nodes_and_edges(graph)
    ids = _MermaidIds()
    lines = []
    if title:
        lines.append(f"%% {title}".replace("\n", " "))
    lines.append("flowchart TD")
    triggers = []
    for node in nodes:
        node_id = str(node.get("id", ""))
        label = f'"{_mermaid_text(node_id)}<br/>{_mermaid_text(_subtitle(node))}"'
        kind = node.get("type")
        if node.get("role") == "trigger":
            shape = f"([{label}])"
            triggers.append(ids(node_id))
        elif kind == "branch":
            shape = f"{{{label}}}"
        elif kind == "loop":
            shape = f"{{{{{label}}}}}"
        elif node.get("role") == "system":
            shape = f"({label})"
        else:
            shape = f"[{label}]"
        lines.append(f"    {ids(node_id)}{shape}")
    missing = _unknown_targets(nodes, edges)
    for node_id in missing:
        lines.append(f'    {ids(node_id)}["{_mermaid_text(node_id)}<br/>unknown"]')
    for source, target, port in edges:
        arrow = f"-->|{_mermaid_text(port)}|" if port is not None else "-->"
        lines.append(f"    {ids(source)} {arrow} {ids(target)}")
    lines.append(f"    classDef trigger fill:{TRIGGER_FILL},stroke:{TRIGGER_STROKE},"
                 "stroke-width:3px")
    if triggers:
        lines.append(f"    class {','.join(triggers)} trigger")
    if missing:
        lines.append("    classDef unknown stroke-dasharray:5 5")
        lines.append(f"    class {','.join(ids(m) for m in missing)} unknown")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ dot


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Mapping[str, Any], name: str = "workflow") -> str:
    nodes, edges = _nodes_and_edges(graph)
    lines = [
        f"digraph {_dot_string(name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in nodes:
        node_id = str(node.get("id", ""))
        attrs = [f"label={_dot_string(node_id + chr(10) + _subtitle(node))}"]
        kind = node.get("type")
        if node.get("role") == "trigger":
            attrs += ["shape=ellipse", 'style="filled,bold"', f'fillcolor="{TRIGGER_FILL}"',
                      f'color="{TRIGGER_STROKE}"', "penwidth=2"]
        elif kind == "branch":
            attrs.append("shape=diamond")
        elif kind == "loop":
            attrs.append("shape=hexagon")
        lines.append(f"    {_dot_string(node_id)} [{', '.join(attrs)}];")
    for node_id in _unknown_targets(nodes, edges):
        lines.append(f"    {_dot_string(node_id)} "
                     f"[label={_dot_string(node_id + chr(10) + 'unknown')}, style=dashed];")
    for source, target, port in edges:
        suffix = f" [label={_dot_string(port)}]" if port is not None else ""
        lines.append(f"    {_dot_string(source)} -> {_dot_string(target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Mapping[str, Any], fmt: str, title: str) -> str:
    if fmt == "mermaid":
        return to_mermaid(graph, title)
    if fmt == "dot":
        return to_dot(graph, title)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "describe_node", "render", "to_dot", "to_mermaid"]
