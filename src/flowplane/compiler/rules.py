"""The graph rules (API.md, "Graph rules the compiler enforces"), all reported at once.

Errors come out in a fixed order of rule groups — triggers, nodes (input order),
edges (input order), cycles (by smallest node id), reachability, templates — so the
same input always yields the same list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from flowplane.compiler import errors as E
from flowplane.compiler.canonical import Parsed
from flowplane.compiler.durations import DURATION_HELP, parse_duration
from flowplane.compiler.errors import edge_path, error, join_path, node_path
from flowplane.compiler.graphalgo import (
    Ancestry,
    reachable,
    shortest_cycle_through,
    strongly_connected_components,
    topological_order,
)
from flowplane.compiler.templates import TemplateRef, find_references, template_problems
from flowplane.model.graph import (
    NODE_ID_PATTERN,
    OUT_PORTS,
    SYSTEM_TYPES,
    TRIGGER_TYPES,
    Node,
    Role,
)
from flowplane.model.resources import GraphError

_NODE_ID_RE = re.compile(NODE_ID_PATTERN)
MAX_CRON_CHARS = 256


@dataclass(frozen=True)
class RuleOutcome:
    errors: list[GraphError]
    order: list[str] | None
    """Topological order, only when no rule is broken."""
    trigger_type: str | None


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except Exception:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def valid_cron(expression: Any) -> bool:
    if not isinstance(expression, str) or len(expression) > MAX_CRON_CHARS:
        return False
    try:
        return bool(croniter.is_valid(expression))
    except Exception:
        return False


def _type_ok(node: Node) -> bool:
    if node.role == Role.TRIGGER:
        return node.type in TRIGGER_TYPES
    if node.role == Role.SYSTEM:
        return node.type in SYSTEM_TYPES
    return True


def _type_errors(pos: int, node: Node) -> list[GraphError]:
    if _type_ok(node):
        return []
    if node.role == Role.TRIGGER:
        allowed, what = TRIGGER_TYPES, "a trigger"
    else:
        allowed, what = SYSTEM_TYPES, "a system node"
    choices = ", ".join(allowed)
    if node.type is None:
        message = f'{what} needs a type ({choices}); node "{node.id}" has none'
    else:
        message = f'{what} type must be one of {choices}; node "{node.id}" has {_show(node.type)}'
    return [error(E.INVALID_NODE_TYPE, message, node=node.id, path=node_path(pos, "type"))]


def _config_errors(pos: int, node: Node, config: Any) -> list[GraphError]:
    cfg: dict[str, Any] = config if isinstance(config, dict) else {}
    nid = node.id
    out: list[GraphError] = []

    def missing(field: tuple[str, ...], message: str) -> None:
        out.append(error(E.MISSING_CONFIG, message, node=nid, path=node_path(pos, *field)))

    if node.role == Role.ACTION:
        if _blank(node.app):
            missing(("app",), f'action "{nid}" needs an app (e.g. slack)')
        if _blank(node.operation):
            missing(("operation",), f'action "{nid}" needs an operation (e.g. chat.postMessage)')
        return out
    if not _type_ok(node):
        return out
    kind = node.type
    if node.role == Role.TRIGGER and kind == "webhook":
        path = cfg.get("path")
        if not isinstance(path, str) or not path.strip():
            missing(
                ("config", "path"), f'webhook trigger "{nid}" needs config.path, e.g. "/submit"'
            )
        elif not path.startswith("/"):
            missing(
                ("config", "path"),
                f'webhook trigger "{nid}": config.path must start with "/", got {_show(path)}',
            )
    elif node.role == Role.TRIGGER and kind == "schedule":
        cron = cfg.get("cron")
        if _blank(cron):
            missing(
                ("config", "cron"), f'schedule trigger "{nid}" needs config.cron, e.g. "0 9 * * 1"'
            )
        elif not valid_cron(cron):
            out.append(
                error(
                    E.INVALID_CRON,
                    f'schedule trigger "{nid}": config.cron {_show(cron)} is not a valid cron '
                    'expression (e.g. "*/5 * * * *" or "@daily")',
                    node=nid,
                    path=node_path(pos, "config", "cron"),
                )
            )
    elif node.role == Role.SYSTEM and kind == "branch":
        if _blank(cfg.get("condition")):
            missing(("config", "condition"), f'branch "{nid}" needs config.condition')
    elif node.role == Role.SYSTEM and kind == "delay":
        duration = cfg.get("duration")
        if _blank(duration):
            missing(("config", "duration"), f'delay "{nid}" needs config.duration, e.g. "5m"')
        elif parse_duration(duration) is None:
            out.append(
                error(
                    E.INVALID_DURATION,
                    f'delay "{nid}": config.duration {_show(duration)} is not valid; '
                    + DURATION_HELP,
                    node=nid,
                    path=node_path(pos, "config", "duration"),
                )
            )
    return out


def _describe_node(node: Node) -> str:
    if node.role == Role.ACTION:
        return f'action "{node.id}"'
    return f'{node.type} node "{node.id}"'


def check_rules(parsed: Parsed) -> RuleOutcome:
    nodes = parsed.model.nodes
    edges = parsed.model.edges
    api_nodes: list[dict[str, Any]] = parsed.api.get("nodes", [])
    errors: list[GraphError] = []

    # Dense indices over unique ids; the first occurrence of an id defines the node.
    ids: list[str] = []
    index_of: dict[str, int] = {}
    first_pos: list[int] = []
    duplicate_positions: set[int] = set()
    for pos, node in enumerate(nodes):
        if node.id in index_of:
            duplicate_positions.add(pos)
        else:
            index_of[node.id] = len(ids)
            ids.append(node.id)
            first_pos.append(pos)
    n = len(ids)
    first = [nodes[p] for p in first_pos]

    # -- exactly one trigger
    trigger_positions = [pos for pos, node in enumerate(nodes) if node.role == Role.TRIGGER]
    if not trigger_positions:
        errors.append(
            error(
                E.NO_TRIGGER,
                "the graph needs exactly one trigger node (role: trigger); it has none",
                path="graph.nodes",
            )
        )
    else:
        primary = nodes[trigger_positions[0]].id
        for pos in trigger_positions[1:]:
            errors.append(
                error(
                    E.MULTIPLE_TRIGGERS,
                    f'the graph must have exactly one trigger; "{primary}" is the trigger, '
                    f'so "{nodes[pos].id}" cannot be one too',
                    node=nodes[pos].id,
                    path=node_path(pos),
                )
            )

    # -- per node: id, uniqueness, type, required config
    for pos, node in enumerate(nodes):
        if not isinstance(node.id, str) or not _NODE_ID_RE.match(node.id):
            errors.append(
                error(
                    E.INVALID_NODE_ID,
                    f"node id {_show(node.id)} must match {NODE_ID_PATTERN}",
                    node=node.id if isinstance(node.id, str) else None,
                    path=node_path(pos, "id"),
                )
            )
        if pos in duplicate_positions:
            errors.append(
                error(
                    E.DUPLICATE_NODE_ID,
                    f'node id "{node.id}" is already used by '
                    f"graph.nodes[{first_pos[index_of[node.id]]}]",
                    node=node.id,
                    path=node_path(pos, "id"),
                )
            )
        errors.extend(_type_errors(pos, node))
        errors.extend(_config_errors(pos, node, api_nodes[pos].get("config")))

    # -- edges
    succ: list[list[int]] = [[] for _ in range(n)]
    pairs: dict[tuple[int, int], int] = {}  # structural edge -> first edge position
    seen_edges: set[tuple[str, str, str | None]] = set()
    for pos, edge in enumerate(edges):
        key = (edge.source, edge.to, edge.port)
        if key in seen_edges:
            errors.append(
                error(
                    E.DUPLICATE_EDGE,
                    f"edge {edge.source} -> {edge.to}"
                    + (f' (port "{edge.port}")' if edge.port is not None else "")
                    + " is listed more than once",
                    node=edge.source,
                    path=edge_path(pos),
                )
            )
            continue
        seen_edges.add(key)
        unknown = False
        for field, name in (("from", edge.source), ("to", edge.to)):
            if name not in index_of:
                unknown = True
                errors.append(
                    error(
                        E.EDGE_UNKNOWN_NODE,
                        f"edge {field} {_show(name)} names no node in the graph",
                        path=edge_path(pos, field),
                    )
                )
        if unknown:
            continue
        if edge.source == edge.to:
            errors.append(
                error(
                    E.SELF_EDGE,
                    f'edge connects "{edge.source}" to itself; use a loop node for repetition',
                    node=edge.source,
                    path=edge_path(pos),
                )
            )
            continue
        u, v = index_of[edge.source], index_of[edge.to]
        upstream = first[u]
        into_trigger = first[v].role == Role.TRIGGER
        if into_trigger:
            errors.append(
                error(
                    E.EDGE_INTO_TRIGGER,
                    f'edge {edge.source} -> {edge.to} points into the trigger "{edge.to}"; '
                    "a trigger cannot have upstream nodes",
                    node=edge.to,
                    path=edge_path(pos),
                )
            )
        if _type_ok(upstream):
            ports = OUT_PORTS.get(upstream.type or "") if upstream.role == Role.SYSTEM else None
            if ports is not None and edge.port not in ports:
                wanted = " or ".join(f'"{p}"' for p in ports)
                got = "none" if edge.port is None else _show(edge.port)
                errors.append(
                    error(
                        E.INVALID_PORT,
                        f"edges out of {_describe_node(upstream)} need port {wanted}, got {got}",
                        node=upstream.id,
                        path=edge_path(pos, "port"),
                    )
                )
            elif ports is None and edge.port is not None:
                errors.append(
                    error(
                        E.INVALID_PORT,
                        f"{_describe_node(upstream)} has one unnamed out-port; "
                        f"remove port {_show(edge.port)} from its edge",
                        node=upstream.id,
                        path=edge_path(pos, "port"),
                    )
                )
        if not into_trigger and (u, v) not in pairs:
            pairs[(u, v)] = pos
            succ[u].append(v)

    # -- cycles (one error per strongly connected component)
    components = strongly_connected_components(succ)
    cycles = sorted((c for c in components if len(c) > 1), key=lambda c: min(ids[m] for m in c))
    for component in cycles:
        start = min(component, key=ids.__getitem__)
        members = set(component)
        cycle = shortest_cycle_through(start, succ, members, ids)
        loop_text = " -> ".join(ids[m] for m in [*cycle, start])
        message = f"cycle {loop_text}; repetition must use a loop node, not a back edge"
        if len(component) > len(cycle):
            message += (
                " (nodes on cycles here: " + ", ".join(sorted(ids[m] for m in component)) + ")"
            )
        closing = pairs.get((cycle[-1], start))
        errors.append(
            error(
                E.CYCLE,
                message,
                node=ids[start],
                path=edge_path(closing) if closing is not None else node_path(first_pos[start]),
            )
        )

    # -- reachability from the trigger(s)
    roots = [i for i in range(n) if first[i].role == Role.TRIGGER]
    if roots:
        seen = reachable(succ, roots)
        for i in range(n):
            if not seen[i]:
                errors.append(
                    error(
                        E.UNREACHABLE_NODE,
                        f'node "{ids[i]}" is not reachable from the trigger; connect it downstream '
                        "of the trigger or remove it",
                        node=ids[i],
                        path=node_path(first_pos[i]),
                    )
                )

    # -- templates: each parses as one expression, and references only ancestors
    refs: list[tuple[int, TemplateRef]] = []
    targets: set[int] = set()
    for pos, api_node in enumerate(api_nodes):
        for field in ("config", "inputs"):
            value = api_node.get(field)
            if value:
                for location, body, why in template_problems(value, (field,)):
                    suffix = join_path("", location)
                    errors.append(error(
                        E.INVALID_TEMPLATE,
                        f'{suffix.lstrip(".")} of "{nodes[pos].id}": the template '
                        f"{_show('{{' + body + '}}')} does not parse: {why}",
                        node=nodes[pos].id, path=node_path(pos) + suffix))
                for ref in find_references(value, (field,)):
                    refs.append((pos, ref))
                    if ref.node_id in index_of and ref.node_id != nodes[pos].id:
                        targets.add(index_of[nodes[pos].id])
    ancestry = Ancestry(succ, components, targets) if targets else None
    for pos, ref in refs:
        user = nodes[pos].id
        suffix = join_path("", ref.location)
        where = suffix[1:] if suffix.startswith(".") else suffix
        problem: str | None = None
        if ref.node_id == user:
            problem = "the node itself; a node can only use outputs of upstream nodes"
        elif ref.node_id not in index_of:
            problem = "not a node in the graph"
        elif ancestry is not None and not ancestry.is_ancestor(
            index_of[ref.node_id], index_of[user]
        ):
            problem = f'not upstream of "{user}"; only ancestors\' outputs are available'
        if problem is not None:
            errors.append(
                error(
                    E.INVALID_TEMPLATE_REFERENCE,
                    f'{where} of "{user}" references nodes.{ref.node_id}, which is {problem}',
                    node=user,
                    path=node_path(pos) + suffix,
                )
            )

    order: list[str] | None = None
    trigger_type: str | None = None
    if not errors:
        indices = topological_order(succ, ids)
        if indices is not None:
            order = [ids[i] for i in indices]
            trigger_type = nodes[trigger_positions[0]].type
    return RuleOutcome(errors=errors, order=order, trigger_type=trigger_type)
