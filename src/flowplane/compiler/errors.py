"""Stable error codes the compiler emits, and small helpers to build GraphErrors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from flowplane.model.resources import GraphError

# Schema: the input does not even parse as a graph.
SCHEMA_INVALID = "SchemaInvalid"
# Graph rules.
NO_TRIGGER = "NoTrigger"
MULTIPLE_TRIGGERS = "MultipleTriggers"
INVALID_NODE_ID = "InvalidNodeId"
DUPLICATE_NODE_ID = "DuplicateNodeId"
INVALID_NODE_TYPE = "InvalidNodeType"
EDGE_UNKNOWN_NODE = "EdgeUnknownNode"
EDGE_INTO_TRIGGER = "EdgeIntoTrigger"
SELF_EDGE = "SelfEdge"
DUPLICATE_EDGE = "DuplicateEdge"
UNREACHABLE_NODE = "UnreachableNode"
CYCLE = "Cycle"
INVALID_PORT = "InvalidPort"
MISSING_CONFIG = "MissingConfig"
INVALID_CRON = "InvalidCron"
INVALID_DURATION = "InvalidDuration"
INVALID_TEMPLATE_REFERENCE = "InvalidTemplateReference"
INVALID_TEMPLATE = "InvalidTemplate"
# Plan limits (operator settings / tenant plan), not graph rules.
TOO_MANY_NODES = "TooManyNodes"
TRIGGER_TYPE_NOT_ALLOWED = "TriggerTypeNotAllowed"
APP_NOT_ALLOWED = "AppNotAllowed"
PLAN_TOO_LARGE = "PlanTooLarge"

PLAN_LIMIT_CODES: frozenset[str] = frozenset(
    {TOO_MANY_NODES, TRIGGER_TYPE_NOT_ALLOWED, APP_NOT_ALLOWED, PLAN_TOO_LARGE}
)
"""Codes that mean "over the plan limits" rather than "the graph is wrong"."""

GRAPH_RULE_CODES: frozenset[str] = frozenset(
    {
        SCHEMA_INVALID,
        NO_TRIGGER,
        MULTIPLE_TRIGGERS,
        INVALID_NODE_ID,
        DUPLICATE_NODE_ID,
        INVALID_NODE_TYPE,
        EDGE_UNKNOWN_NODE,
        EDGE_INTO_TRIGGER,
        SELF_EDGE,
        DUPLICATE_EDGE,
        UNREACHABLE_NODE,
        CYCLE,
        INVALID_PORT,
        MISSING_CONFIG,
        INVALID_CRON,
        INVALID_DURATION,
        INVALID_TEMPLATE_REFERENCE,
        INVALID_TEMPLATE,
    }
)

ERROR_CODES: frozenset[str] = GRAPH_RULE_CODES | PLAN_LIMIT_CODES
"""Every code the compiler can emit."""


def error(
    code: str, message: str, *, node: str | None = None, path: str | None = None
) -> GraphError:
    return GraphError(code=code, node=node, path=path, message=message)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(base: str, parts: Iterable[str | int]) -> str:
    """`graph` + ("nodes", 3, "config", "a b") -> `graph.nodes[3].config["a b"]`."""
    out = [base]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def node_path(index: int, *field: str) -> str:
    return join_path(f"graph.nodes[{index}]", field)


def edge_path(index: int, *field: str) -> str:
    return join_path(f"graph.edges[{index}]", field)
