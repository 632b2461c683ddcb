"""The compiled plan: canonical graph + execution order, as stored in the plan ConfigMap."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flowplane.compiler.canonical import canonical_graph, canonical_json, hash_text

GRAPH_KEY = "graph.json"
PLAN_KEY = "plan.json"


@dataclass(frozen=True)
class PlanLimits:
    """What a tenant's plan allows (defaults from operator settings)."""

    max_nodes: int = 200
    allowed_trigger_types: frozenset[str] | None = None  # None = all
    allowed_apps: frozenset[str] | None = None  # None = any app
    max_plan_bytes: int = 900_000  # plan ConfigMap data must stay under the 1 MiB object limit


DEFAULT_LIMITS = PlanLimits()


@dataclass(frozen=True)
class Plan:
    graph: dict[str, Any]
    """Canonical graph in API form (nodes sorted by id, edges by (from, to, port))."""
    order: tuple[str, ...]
    """Topological execution order (Kahn, ties broken by node id)."""
    hash: str
    """`sha256:<hex>` of the canonical graph JSON (equals the hash of `graph.json`)."""
    trigger_type: str
    graph_json: str | None = field(default=None, repr=False, compare=False)
    """The canonical JSON of `graph` when already known (saves re-serialising it)."""

    @property
    def steps(self) -> int:
        return len(self.order)

    @cached_property
    def _data(self) -> dict[str, str]:
        nodes = {node["id"]: node for node in self.graph.get("nodes", [])}
        following: dict[str, list[dict[str, str]]] = {node_id: [] for node_id in nodes}
        for edge in self.graph.get("edges", []):
            link = {"to": edge["to"]}
            if edge.get("port") is not None:
                link["port"] = edge["port"]
            following.setdefault(edge["from"], []).append(link)
        steps: list[dict[str, Any]] = []
        trigger_id = ""
        for node_id in self.order:
            node = nodes[node_id]
            if node.get("role") == "trigger":
                trigger_id = node_id
            step: dict[str, Any] = {"id": node_id, "role": node.get("role")}
            for key in ("type", "app", "operation"):
                if node.get(key) is not None:
                    step[key] = node[key]
            step["next"] = following.get(node_id, [])
            steps.append(step)
        plan = {
            "hash": self.hash,
            "order": list(self.order),
            "trigger": {"id": trigger_id, "type": self.trigger_type},
            "steps": steps,
        }
        graph_text = self.graph_json if self.graph_json is not None else canonical_json(self.graph)
        return {GRAPH_KEY: graph_text, PLAN_KEY: canonical_json(plan)}

    def configmap_data(self) -> dict[str, str]:
        """`data` of the plan ConfigMap: `graph.json` (canonical graph) and `plan.json`."""
        return dict(self._data)

    def configmap_bytes(self) -> int:
        """Size of the ConfigMap data as stored (keys + UTF-8 values)."""
        return data_bytes(self._data)


def data_bytes(data: Mapping[str, str]) -> int:
    return sum(
        len(k.encode("utf-8")) + len(v.encode("utf-8", "surrogatepass")) for k, v in data.items()
    )


def plan_from_configmap_data(data: Any) -> dict[str, Any] | None:
    """The canonical graph stored in a plan ConfigMap's `data`, or None if unreadable.

    When `plan.json` carries a hash it must match `graph.json` byte for byte (plans are
    immutable; a mismatch means the ConfigMap was tampered with or truncated).
    """
    try:
        if not isinstance(data, Mapping):
            return None
        text = data.get(GRAPH_KEY)
        if not isinstance(text, str):
            return None
        raw = json.loads(text)
        plan_text = data.get(PLAN_KEY)
        if plan_text is not None:
            if not isinstance(plan_text, str):
                return None
            plan = json.loads(plan_text)
            if not isinstance(plan, dict):
                return None
            stored_hash = plan.get("hash")
            if stored_hash is not None and stored_hash != hash_text(text):
                return None
        return canonical_graph(raw)
    except Exception:  # invalid JSON, too deep, non-ASCII bytes in a hash: unreadable
        return None
