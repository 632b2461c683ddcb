"""What a user does with the data plane: publish a graph, send an event, watch the run."""

from __future__ import annotations

import http.client
import itertools
import json
from dataclasses import dataclass
from typing import Any

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import RuntimeProcess

ACTIVE = "flowplane.dev/active-version"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def webhook(path: str = "/hook", method: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"path": path}
    if method:
        config["method"] = method
    return {"id": "in", "role": "trigger", "type": "webhook", "config": config}


def http_call(node_id: str, url: str, body: Any = None, method: str = "POST") -> dict[str, Any]:
    inputs: dict[str, Any] = {"method": method, "url": url}
    if body is not None:
        inputs["body"] = body
    return {"id": node_id, "role": "action", "app": "http", "operation": "request",
            "inputs": inputs}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A straight line of nodes, first to last."""
    return {"nodes": list(nodes),
            "edges": [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]}


def add_version(kube: Kube, wf: str, number: int, graph: dict[str, Any]) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
                 "metadata": {"name": f"{wf}-v{number}"},
                 "spec": {"workflowRef": {"name": wf}, "version": number, "graph": graph}})


def publish(kube: Kube, wf: str, number: int | None) -> None:
    kube.patch("Workflow", wf, {"spec": {"publishedVersion": number}})
    if number is not None:
        wait_live(kube, wf, number)


def wait_live(kube: Kube, wf: str, number: int) -> None:
    def live() -> bool:
        ann = kube.service(wf).metadata.annotations or {}
        return ann.get(ACTIVE) == str(number) and kube.phases(wf).get(number) == "Active"
    wait_for(live, 30, f"{wf} v{number} live")


def deploy(kube: Kube, wf: str, graph: dict[str, Any], spec: dict[str, Any] | None = None
           ) -> None:
    """A workflow with v1 = `graph`, published and live."""
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow",
                 "metadata": {"name": wf}, "spec": dict(spec or {})})
    add_version(kube, wf, 1, graph)
    publish(kube, wf, 1)


def send(runtime: RuntimeProcess, host: str, path: str = "/hook", body: Any = None,
         method: str = "POST", headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> Answer:
    """An HTTP request to the runtime as the trigger Service would deliver it."""
    conn = http.client.HTTPConnection("127.0.0.1", runtime.port, timeout=30)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Host": host, **(headers or {})}
        if body is not None and raw is None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return Answer(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()})
    finally:
        conn.close()


def host_of(kube: Kube, wf: str) -> str:
    return f"{wf}-trigger.{kube.ns}.svc"


def accepted(runtime: RuntimeProcess, kube: Kube, wf: str, body: Any = None,
             path: str = "/hook") -> str:
    answer = send(runtime, host_of(kube, wf), path, {} if body is None else body)
    assert answer.status == 202, answer
    return str(answer.body["run"])


def run_status(kube: Kube, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.get("WorkflowRun", name).get("status") or {}
    return status


def wait_phase(kube: Kube, name: str, phase: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = run_status(kube, name)
        if status.get("phase") in ("Succeeded", "Failed") and status.get("phase") != phase:
            raise AssertionError(f"run {name} ended {status.get('phase')}, not {phase}: "
                                 f"{status.get('error')}")
        return status if status.get("phase") == phase else None
    return wait_for(done, timeout, f"run {name} {phase}")


def steps(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["node"]: s for s in status.get("steps", [])}


def runs_of(kube: Kube, wf: str) -> list[dict[str, Any]]:
    return [r for r in kube.items("WorkflowRun") if r["spec"]["workflowRef"]["name"] == wf]
