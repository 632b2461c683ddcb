"""Pure structural diff of two workflow graphs: nodes added/removed/changed, edges added/removed.

Both graphs are compared in canonical form (the compiler's: empty config/inputs dropped),
so reordering nodes or edges is not a change. A graph that does not even parse is
compared as written. `unified_diff` is the line-based fallback over canonical JSON.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowplane.compiler import canonical_graph

Edge = tuple[str, str, str | None]


class _Missing:
    """Stands for a field that one side does not have."""

    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class NodeChange:
    id: str
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True)
class GraphDiff:
    nodes_added: tuple[Mapping[str, Any], ...] = ()
    nodes_removed: tuple[Mapping[str, Any], ...] = ()
    nodes_changed: tuple[NodeChange, ...] = ()
    edges_added: tuple[Edge, ...] = ()
    edges_removed: tuple[Edge, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.nodes_added or self.nodes_removed or self.nodes_changed
                    or self.edges_added or self.edges_removed)


def normalise(raw: Any) -> dict[str, Any]:
    """The canonical graph, or the raw nodes/edges lists when it does not parse."""
    canonical = canonical_graph(raw)
    if canonical is not None:
        return canonical
    raw = raw if isinstance(raw, Mapping) else {}
    nodes = [n for n in raw.get("nodes") or [] if isinstance(n, Mapping)]
    edges = [e for e in raw.get("edges") or [] if isinstance(e, Mapping)]
    return {"nodes": nodes, "edges": edges}


def _nodes(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(n.get("id", "")): n for n in graph.get("nodes", [])}


def _edges(graph: Mapping[str, Any]) -> list[Edge]:
    edges: list[Edge] = []
    for e in graph.get("edges", []):
        port = e.get("port")
        edge = (str(e.get("from", "")), str(e.get("to", "")), None if port is None else str(port))
        if edge not in edges:
            edges.append(edge)
    return edges


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key in sorted(value, key=str):
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Leaf-level changes between two nodes, as dotted paths (lists compare whole)."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten({k: v for k, v in old.items() if k != "id"}, "", a)
    _flatten({k: v for k, v in new.items() if k != "id"}, "", b)
    changes = []
    for path in sorted(set(a) | set(b)):
        before, after = a.get(path, MISSING), b.get(path, MISSING)
        if before is MISSING or after is MISSING or before != after:
            changes.append(FieldChange(path, before, after))
    return tuple(changes)


def diff_graphs(old_raw: Any, new_raw: Any) -> GraphDiff:
    old, new = normalise(old_raw), normalise(new_raw)
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    changed = []
    for node_id in sorted(set(old_nodes) & set(new_nodes)):
        fields = field_changes(old_nodes[node_id], new_nodes[node_id])
        if fields:
            changed.append(NodeChange(node_id, fields))
    old_edges, new_edges = _edges(old), _edges(new)
    return GraphDiff(
        nodes_added=tuple(new_nodes[i] for i in sorted(set(new_nodes) - set(old_nodes))),
        nodes_removed=tuple(old_nodes[i] for i in sorted(set(old_nodes) - set(new_nodes))),
        nodes_changed=tuple(changed),
        edges_added=tuple(e for e in new_edges if e not in old_edges),
        edges_removed=tuple(e for e in old_edges if e not in new_edges),
    )


def describe_node(node: Mapping[str, Any]) -> str:
    """`role/type` for triggers and system nodes, `action app.operation` for actions."""
    role = str(node.get("role", "?"))
    if role == "action":
        what = ": ".join(str(node[k]) for k in ("app", "operation") if node.get(k))
        return f"action {what}".rstrip()
    return f"{role}/{node['type']}" if node.get("type") else role


def format_edge(edge: Edge) -> str:
    source, target, port = edge
    return f"{source} -[{port}]-> {target}" if port is not None else f"{source} -> {target}"


def _value(value: Any, width: int = 80) -> str:
    if value is MISSING:
        return "<absent>"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_diff(d: GraphDiff, old_name: str, new_name: str) -> str:
    """A readable report; ends with a newline."""
    lines = [f"--- {old_name}", f"+++ {new_name}"]
    if d.empty:
        lines.append("no differences")
        return "\n".join(lines) + "\n"
    if d.nodes_added or d.nodes_removed or d.nodes_changed:
        lines.append("nodes:")
        lines += [f"  + {n.get('id')} ({describe_node(n)})" for n in d.nodes_added]
        lines += [f"  - {n.get('id')} ({describe_node(n)})" for n in d.nodes_removed]
        for change in d.nodes_changed:
            lines.append(f"  ~ {change.id}")
            lines += [f"      {f.path}: {_value(f.old)} -> {_value(f.new)}" for f in change.fields]
    if d.edges_added or d.edges_removed:
        lines.append("edges:")
        lines += [f"  + {format_edge(e)}" for e in d.edges_added]
        lines += [f"  - {format_edge(e)}" for e in d.edges_removed]
    summary = (f"{len(d.nodes_added)} node(s) added, {len(d.nodes_removed)} removed, "
               f"{len(d.nodes_changed)} changed; {len(d.edges_added)} edge(s) added, "
               f"{len(d.edges_removed)} removed")
    lines.append(summary)
    return "\n".join(lines) + "\n"


def unified_diff(old_raw: Any, new_raw: Any, old_name: str, new_name: str) -> str:
    """`diff -u` of the canonical graphs as indented JSON; empty when they are equal."""
    a = json.dumps(normalise(old_raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    b = json.dumps(normalise(new_raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return "".join(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))
