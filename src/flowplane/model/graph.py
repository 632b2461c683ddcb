"""The workflow graph: one trigger plus downstream action/system nodes joined by edges.

These models define the API schema (the CRD is rendered from them). They are
deliberately permissive about *graph* rules (how many triggers, which ports, ...):
a draft may be work in progress, and the compiler reports every rule it breaks
with a stable code instead of the API server rejecting the whole object.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NODE_ID_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
MAX_NODES_HARD = 1000
"""Schema ceiling on nodes per graph; plan limits (operator settings) are usually lower."""
MAX_EDGES_HARD = 4000


class Role(StrEnum):
    TRIGGER = "trigger"
    ACTION = "action"
    SYSTEM = "system"


TRIGGER_TYPES: tuple[str, ...] = ("webhook", "schedule", "app")
SYSTEM_TYPES: tuple[str, ...] = ("branch", "loop", "transform", "delay", "ai")
OUT_PORTS: dict[str, tuple[str, ...]] = {"branch": ("true", "false"), "loop": ("body", "done")}
"""Named out-ports per node type; every other node has one unnamed out-port."""


class Node(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.role != 'trigger' || !has(self.type) || "
                    "self.type in ['webhook', 'schedule', 'app']",
                    "message": "a trigger's type must be webhook, schedule or app",
                },
                {
                    "rule": "self.role != 'system' || !has(self.type) || "
                    "self.type in ['branch', 'loop', 'transform', 'delay', 'ai']",
                    "message": "a system node's type must be branch, loop, transform, delay or ai",
                },
            ]
        },
    )

    id: str = Field(pattern=NODE_ID_PATTERN, max_length=63, description="Unique id in the graph.")
    role: Role = Field(description="trigger | action | system")
    type: str | None = Field(
        default=None,
        max_length=63,
        description="trigger: webhook|schedule|app; system: branch|loop|transform|delay|ai.",
    )
    app: str | None = Field(default=None, max_length=253, description="Action: the app.")
    operation: str | None = Field(
        default=None, max_length=253, description="Action: the app operation."
    )
    config: dict[str, Any] | None = Field(default=None, description="Free-form node config.")
    inputs: dict[str, Any] | None = Field(default=None, description="Free-form action inputs.")


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", max_length=63, description="Upstream node id.")
    to: str = Field(max_length=63, description="Downstream node id.")
    port: str | None = Field(
        default=None,
        max_length=16,
        description='Out-port of the upstream node: "true"/"false" (branch), "body"/"done" (loop).',
    )


class Graph(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.edges) || self.edges.all(e, e.from != e.to)",
                    "message": "an edge cannot connect a node to itself",
                },
            ]
        },
    )

    # A list-map keyed by id: the API server itself refuses duplicate ids, and
    # server-side apply (Argo CD, Flux) merges nodes by id instead of by position.
    nodes: list[Node] = Field(
        default_factory=list,
        max_length=MAX_NODES_HARD,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_EDGES_HARD)

    def to_api(self) -> dict[str, Any]:
        """The graph as it appears in the API (aliases, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
