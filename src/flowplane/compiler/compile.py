"""compile_graph: parse, check every rule and plan limit, and build the plan."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flowplane.compiler import errors as E
from flowplane.compiler.canonical import Parsed, parse
from flowplane.compiler.errors import PLAN_LIMIT_CODES, error, node_path
from flowplane.compiler.plan import DEFAULT_LIMITS, Plan, PlanLimits
from flowplane.compiler.rules import check_rules
from flowplane.model.graph import TRIGGER_TYPES, Role
from flowplane.model.resources import GraphError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompileResult:
    errors: tuple[GraphError, ...]
    """Every problem found, in a deterministic order."""
    graph_hash: str | None
    """Canonical hash whenever the input parses as a graph (even with rule errors)."""
    plan: Plan | None
    """Only when `errors` is empty."""

    @property
    def ok(self) -> bool:
        return not self.errors and self.plan is not None

    @property
    def invalid(self) -> bool:
        """A graph rule is broken (the version is Invalid)."""
        return any(e.code not in PLAN_LIMIT_CODES for e in self.errors)

    @property
    def limit_exceeded(self) -> bool:
        """The graph is valid but over the plan limits (the version Failed its plan check)."""
        return bool(self.errors) and all(e.code in PLAN_LIMIT_CODES for e in self.errors)


def _limit_errors(parsed: Parsed, limits: PlanLimits) -> list[GraphError]:
    out: list[GraphError] = []
    nodes = parsed.model.nodes
    if len(nodes) > limits.max_nodes:
        out.append(
            error(
                E.TOO_MANY_NODES,
                f"the graph has {len(nodes)} nodes; the plan allows at most {limits.max_nodes}",
                path="graph.nodes",
            )
        )
    for pos, node in enumerate(nodes):
        if (
            limits.allowed_trigger_types is not None
            and node.role == Role.TRIGGER
            and node.type in TRIGGER_TYPES
            and node.type not in limits.allowed_trigger_types
        ):
            allowed = ", ".join(sorted(limits.allowed_trigger_types)) or "none"
            out.append(
                error(
                    E.TRIGGER_TYPE_NOT_ALLOWED,
                    f'trigger type "{node.type}" is not allowed by the plan (allowed: {allowed})',
                    node=node.id,
                    path=node_path(pos, "type"),
                )
            )
        if (
            limits.allowed_apps is not None
            and node.app is not None
            and node.app.strip()
            and node.app not in limits.allowed_apps
        ):
            allowed = ", ".join(sorted(limits.allowed_apps)) or "none"
            out.append(
                error(
                    E.APP_NOT_ALLOWED,
                    f'app "{node.app}" is not allowed by the plan (allowed: {allowed})',
                    node=node.id,
                    path=node_path(pos, "app"),
                )
            )
    return out


def _too_large(size: int, limits: PlanLimits, exact: bool) -> GraphError:
    what = "the compiled plan is" if exact else "the canonical graph alone is"
    return error(
        E.PLAN_TOO_LARGE,
        f"{what} {size} bytes; plans are limited to {limits.max_plan_bytes} bytes "
        "(a ConfigMap must stay under 1 MiB)",
        path="graph",
    )


def _compile(raw: Any, limits: PlanLimits) -> CompileResult:
    parsed = parse(raw)
    if isinstance(parsed, list):
        return CompileResult(errors=tuple(parsed), graph_hash=None, plan=None)
    outcome = check_rules(parsed)
    errors = [*outcome.errors, *_limit_errors(parsed, limits)]
    plan: Plan | None = None
    if outcome.order is not None and outcome.trigger_type is not None:
        plan = Plan(
            graph=parsed.canonical,
            order=tuple(outcome.order),
            hash=parsed.hash,
            trigger_type=outcome.trigger_type,
            graph_json=parsed.canonical_json,
        )
        size = plan.configmap_bytes()
        if size > limits.max_plan_bytes:
            errors.append(_too_large(size, limits, exact=True))
    else:
        # No plan can be built; the graph alone is a lower bound of its size.
        size = len(parsed.canonical_json) + len("graph.json")
        if size > limits.max_plan_bytes:
            errors.append(_too_large(size, limits, exact=False))
    return CompileResult(
        errors=tuple(errors), graph_hash=parsed.hash, plan=plan if not errors else None
    )


def compile_graph(raw: Any, limits: PlanLimits = DEFAULT_LIMITS) -> CompileResult:
    """Validate `raw` (a WorkflowVersion's spec.graph) and compile it. Never raises."""
    try:
        return _compile(raw, limits)
    except Exception as exc:  # a bug must not take the operator down with it
        log.exception("graph compiler failed")
        return CompileResult(
            errors=(
                error(
                    E.SCHEMA_INVALID,
                    f"internal compiler error ({type(exc).__name__}); "
                    "the graph could not be checked",
                    path="graph",
                ),
            ),
            graph_hash=None,
            plan=None,
        )
