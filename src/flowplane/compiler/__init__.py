"""The pure graph compiler: graph rules with stable error codes, canonical hash, plan.

No Kubernetes I/O. `compile_graph(raw)` never raises: anything that is not a graph
comes back as `SchemaInvalid` errors.
"""

from __future__ import annotations

from flowplane.compiler.canonical import canonical_graph, graph_hash
from flowplane.compiler.compile import CompileResult, compile_graph
from flowplane.compiler.durations import parse_duration
from flowplane.compiler.errors import ERROR_CODES, GRAPH_RULE_CODES, PLAN_LIMIT_CODES
from flowplane.compiler.plan import (
    DEFAULT_LIMITS,
    GRAPH_KEY,
    PLAN_KEY,
    Plan,
    PlanLimits,
    plan_from_configmap_data,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ERROR_CODES",
    "GRAPH_KEY",
    "GRAPH_RULE_CODES",
    "PLAN_KEY",
    "PLAN_LIMIT_CODES",
    "CompileResult",
    "Plan",
    "PlanLimits",
    "canonical_graph",
    "compile_graph",
    "graph_hash",
    "parse_duration",
    "plan_from_configmap_data",
]
