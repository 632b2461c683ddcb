"""Real plans for the runtime's unit tests: graphs compiled by the compiler, read back by
`executor.plan_graph` from the plan ConfigMap data, exactly as the runtime sees them."""

from __future__ import annotations

from typing import Any

from flowplane.compiler import compile_graph
from flowplane.model.run import StepPhase, StepStatus
from flowplane.runtime.executor import PlanGraph, plan_graph, steps_by_node

Json = dict[str, Any]


def webhook(node_id: str = "form", path: str = "/submit", method: str | None = "POST") -> Json:
    config: Json = {"path": path}
    if method is not None:
        config["method"] = method
    return {"id": node_id, "role": "trigger", "type": "webhook", "config": config}


def schedule(node_id: str = "tick", cron: str = "*/5 * * * *") -> Json:
    return {"id": node_id, "role": "trigger", "type": "schedule", "config": {"cron": cron}}


def action(node_id: str, **inputs: Any) -> Json:
    node: Json = {"id": node_id, "role": "action", "app": "slack", "operation": "post"}
    if inputs:
        node["inputs"] = inputs
    return node


def branch(node_id: str, condition: str = "{{ true }}") -> Json:
    return {"id": node_id, "role": "system", "type": "branch", "config": {"condition": condition}}


def loop(node_id: str, items: Any = "{{ [1, 2] }}") -> Json:
    return {"id": node_id, "role": "system", "type": "loop", "config": {"items": items}}


def transform(node_id: str, output: Any) -> Json:
    return {"id": node_id, "role": "system", "type": "transform", "config": {"output": output}}


def graph(nodes: list[Json], edges: list[tuple[str, ...]]) -> Json:
    out: Json = {"nodes": nodes, "edges": []}
    for e in edges:
        edge: Json = {"from": e[0], "to": e[1]}
        if len(e) > 2:
            edge["port"] = e[2]
        out["edges"].append(edge)
    return out


def plan_data(raw: Json) -> dict[str, str]:
    """The plan ConfigMap `data` the operator stores for `raw` (which must compile)."""
    result = compile_graph(raw)
    assert result.ok and result.plan is not None, result.errors
    return result.plan.configmap_data()


def plan_of(nodes: list[Json], edges: list[tuple[str, ...]], name: str = "wf-v1-plan") -> PlanGraph:
    plan = plan_graph(name, plan_data(graph(nodes, edges)))
    assert plan is not None
    return plan


def recorded(plan: PlanGraph, *entries: tuple[str, str] | tuple[str, str, Any]
             ) -> dict[str, StepStatus]:
    """A run's steps as `advance` gets them: the recorded (node, phase[, output]) entries,
    Pending for every node not recorded."""
    steps = []
    for entry in entries:
        node, phase = entry[0], entry[1]
        output = entry[2] if len(entry) > 2 else ({} if phase == "Succeeded" else None)
        steps.append(StepStatus(node=node, phase=StepPhase(phase), output=output))
    return steps_by_node(plan, steps)


def phases(steps: dict[str, StepStatus]) -> dict[str, str]:
    return {node: step.phase.value for node, step in steps.items()}
