"""Hostile and oversized input on a real API server.

* Malformed objects sent with `kubectl apply` are refused by the CRD schema (OpenAPI and
  CEL) with a message that says what is wrong.
* Objects that pass the schema but break graph rules, plan limits or naming limits are
  reported in status; none of them crashes the operator, makes it loop, or holds back a
  healthy workflow in the same namespace.
* Graphs near and over the plan limits: 199 nodes publish, 201 nodes and plans bigger
  than a ConfigMap can hold are refused (TooManyNodes / PlanTooLarge, CompileFailed)
  while the previous version stays live.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.test_reliability import (
    condition,
    create_family,
    graph,
    publish,
    version_body,
    wait_live,
    workflow_body,
)

ACTIVE = "flowplane.dev/active-version"


def kubectl(kubeconfig: str, namespace: str, *args: str,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*find_kubectl(), f"--kubeconfig={kubeconfig}", "-n", namespace, *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


def version_status(kubeconfig: str, namespace: str, name: str) -> dict[str, Any]:
    """A version's status, read through kubectl (its spec may be too deep for Python's
    JSON decoder at the default recursion limit)."""
    got = kubectl(kubeconfig, namespace, "get", "workflowversion", name, "-o",
                  "jsonpath={.status}")
    assert got.returncode == 0, got.stderr
    status: dict[str, Any] = json.loads(got.stdout or "{}")
    return status


# ------------------------------------------------------------------------ schema


def _version(**spec: Any) -> dict[str, Any]:
    body = version_body("hostile", 1, name="hostile-v1")
    body["spec"].update(spec)
    return body


def _node(i: int, **fields: Any) -> dict[str, Any]:
    """Node i of the sample graph, changed."""
    g = graph("x")
    node: dict[str, Any] = {**g["nodes"][i], **fields}
    return {k: v for k, v in node.items() if v is not None}


def _graph(*nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"nodes": list(nodes), "edges": edges if edges is not None else []}


TRIGGER = _node(0)
ACTION = _node(1)

MALFORMED: dict[str, tuple[dict[str, Any], list[str]]] = {
    "version is a string": (
        _version(version="three"),
        ["spec.version", "must be of type integer"]),
    "version 0": (
        _version(version=0),
        ["spec.version", "should be greater than or equal to 1"]),
    "negative version": (
        _version(version=-3),
        ["spec.version", "should be greater than or equal to 1"]),
    "missing workflowRef": (
        {**_version(), "spec": {k: v for k, v in _version()["spec"].items()
                                if k != "workflowRef"}},
        ["spec.workflowRef: Required value"]),
    "empty workflowRef name": (
        _version(workflowRef={"name": ""}),
        ["spec.workflowRef.name", "should be at least 1 chars long"]),
    "missing graph": (
        {**_version(), "spec": {k: v for k, v in _version()["spec"].items() if k != "graph"}},
        ["spec.graph: Required value"]),
    "nodes is not a list": (
        _version(graph={"nodes": {"form": TRIGGER}, "edges": []}),
        ["spec.graph.nodes"]),
    "bad node id": (
        _version(graph=_graph(TRIGGER, _node(1, id="Send_Mail"))),
        ["spec.graph.nodes[1].id", "should match '^[a-z][a-z0-9-]{0,62}$'"]),
    "node id too long": (
        _version(graph=_graph(TRIGGER, _node(1, id="n" * 64))),
        ["spec.graph.nodes[1].id", "Too long"]),
    "node without id": (
        _version(graph=_graph(TRIGGER, _node(1, id=None))),
        ["spec.graph.nodes[1].id: Required value"]),
    "unknown role": (
        _version(graph=_graph(TRIGGER, _node(1, role="boss"))),
        ['spec.graph.nodes[1].role: Unsupported value: "boss"',
         'supported values: "trigger", "action", "system"']),
    "unknown trigger type": (
        _version(graph=_graph(_node(0, type="email"))),
        ["spec.graph.nodes[0]", "a trigger's type must be webhook, schedule or app"]),
    "unknown system type": (
        _version(graph=_graph(TRIGGER, {"id": "jump", "role": "system", "type": "teleport"})),
        ["spec.graph.nodes[1]",
         "a system node's type must be branch, loop, transform, delay or ai"]),
    "self edge": (
        _version(graph=_graph(TRIGGER, ACTION, edges=[{"from": "form", "to": "notify"},
                                                      {"from": "notify", "to": "notify"}])),
        ["spec.graph", "an edge cannot connect a node to itself"]),
    "duplicate node ids": (
        _version(graph=_graph(TRIGGER, ACTION, _node(1, app="github"))),
        ["spec.graph.nodes[2]: Duplicate value", '"id":"notify"']),
    "unknown field": (
        _version(graph=_graph(TRIGGER, _node(1, colour="red"))),
        ['unknown field "spec.graph.nodes[1].colour"']),
    "edge port too long": (
        _version(graph=_graph(TRIGGER, ACTION, edges=[{"from": "form", "to": "notify",
                                                       "port": "p" * 17}])),
        ["spec.graph.edges[0].port", "Too long"]),
    "more nodes than the schema allows": (
        _version(graph=_graph(*({"id": f"n{i}", "role": "action"} for i in range(1001)))),
        ["spec.graph.nodes: Too many: 1001: must have at most 1000 items"]),
    "workflow publishedVersion 0": (
        workflow_body("hostile", publishedVersion=0),
        ["spec.publishedVersion", "should be greater than or equal to 1"]),
    "workflow publishedVersion is a string": (
        workflow_body("hostile", publishedVersion="latest"),
        ["spec.publishedVersion", "must be of type integer"]),
    "workflow suspend is a string": (
        workflow_body("hostile", suspend="yes"),
        ["spec.suspend", "must be of type boolean"]),
    "workflow name with a dot (cannot name its trigger Service)": (
        workflow_body("dotted.name"), ["a Workflow name must be a DNS label"]),
    "workflow name over 55 characters": (
        workflow_body("n" * 60), ["a Workflow name must be a DNS label"]),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_schema_refuses_malformed_objects_with_a_clear_message(
    case: str, kubeconfig: str, namespace: str, crds: None,
) -> None:
    body, expected = MALFORMED[case]
    result = kubectl(kubeconfig, namespace, "apply", "-f", "-", stdin=json.dumps(body))
    assert result.returncode != 0, f"{case}: accepted\n{result.stdout}"
    for text in expected:
        assert text in result.stderr, f"{case}: {text!r} not in\n{result.stderr}"


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 2}, "spec.version: Invalid value: 2: version is immutable"),
    ({"workflowRef": {"name": "another"}},
     "spec.workflowRef: Invalid value: workflowRef is immutable"),
])
def test_version_number_and_workflow_ref_are_immutable(
    change: dict[str, Any], message: str, kubeconfig: str, namespace: str, crds: None,
) -> None:
    body = version_body("hostile", 1)
    created = kubectl(kubeconfig, namespace, "apply", "-f", "-", stdin=json.dumps(body))
    assert created.returncode == 0, created.stderr
    body["spec"].update(change)
    changed = kubectl(kubeconfig, namespace, "apply", "-f", "-", stdin=json.dumps(body))
    assert changed.returncode != 0
    assert message in changed.stderr, changed.stderr
    patched = kubectl(kubeconfig, namespace, "patch", "workflowversion", "hostile-v1",
                      "--type=merge", "-p", json.dumps({"spec": change}))
    assert patched.returncode != 0 and message in patched.stderr, patched.stderr


# ------------------------------------------------------------------------ past the schema

EVERY_RULE_BROKEN = {
    "nodes": [
        {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/in"}},
        {"id": "cron", "role": "trigger", "type": "schedule", "config": {"cron": "61 * * * *"}},
        {"id": "check", "role": "system", "type": "branch", "config": {}},
        {"id": "wait", "role": "system", "type": "delay", "config": {"duration": "soon"}},
        {"id": "a", "role": "action", "app": "slack", "operation": "post",
         "inputs": {"text": "{{ nodes.b.output.x }}"}},
        {"id": "b", "role": "action", "app": "slack", "operation": "post",
         "inputs": {"text": "New: {{ {{ }} }}"}},  # issue 12.9: a template that cannot parse
        {"id": "c", "role": "action"},
        {"id": "island", "role": "action", "app": "x", "operation": "y"},
    ],
    "edges": [
        {"from": "form", "to": "check", "port": "maybe"},
        {"from": "form", "to": "wait"},
        {"from": "wait", "to": "a"},
        {"from": "wait", "to": "b"},
        {"from": "a", "to": "c"},
        {"from": "c", "to": "a"},
        {"from": "b", "to": "ghost"},
        {"from": "b", "to": "form"},
    ],
}
EVERY_RULE_CODES = {
    "MultipleTriggers", "InvalidCron", "MissingConfig", "InvalidDuration", "InvalidPort",
    "EdgeUnknownNode", "EdgeIntoTrigger", "Cycle", "UnreachableNode",
    "InvalidTemplateReference", "InvalidTemplate",
}
DEPTH = 5000
"""Deep enough to crash a JSON decoder at Python's default recursion limit (1000), and well
below the API server's own limit (10000; a body within ~10 levels of it is stored but can
no longer be read back, which breaks the API server's watch cache for the whole resource)."""


def _deep(depth: int) -> str:
    """JSON text of a WorkflowVersion whose trigger config nests `depth` levels."""
    body = version_body("deep", 1)
    marker = '"__DEEP__"'
    body["spec"]["graph"]["nodes"][0]["config"]["nested"] = "__DEEP__"
    return json.dumps(body).replace(marker, '{"a":' * depth + "1" + "}" * depth)


def _log_since(proc: OperatorProcess, offset: int) -> str:
    return proc.log_path.read_bytes()[offset:].decode(errors="replace")


@pytest.fixture
def deep_json_ok() -> Iterator[None]:
    """This test process reads lists that hold the deep object: decode like the operator."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_hostile_objects_are_reported_and_never_block_others(
    kube: Kube, kubeconfig: str, running_operator: OperatorProcess, deep_json_ok: None,
) -> None:
    assert running_operator.proc is not None
    pid = running_operator.proc.pid
    log_offset = running_operator.log_path.stat().st_size
    create_family(kube, "healthy", versions=2, publishedVersion=1)

    # Every graph rule broken at once, published: Invalid, every error reported.
    kube.create(workflow_body("broken", publishedVersion=1))
    kube.create(version_body("broken", 1, EVERY_RULE_BROKEN))
    # Thousands of errors: status keeps the first ones and a count.
    orphans = [{"id": f"n{i}", "role": "action"} for i in range(1000)]
    kube.create(version_body("broken", 2, {"nodes": orphans, "edges": []}))
    # A draft that is not published stays Draft, with Validated=False.
    kube.create(version_body("broken", 3, {"nodes": [], "edges": []}))
    # Config nested 5000 levels deep (a watch-stream decoder at the default limit dies).
    made = kubectl(kubeconfig, kube.ns, "create", "-f", "-", stdin=_deep(DEPTH))
    assert made.returncode == 0, made.stderr
    kube.create(workflow_body("deep", publishedVersion=1))
    # A version of a workflow that does not exist; a workflow wanting a version that never
    # will. (Names that cannot name the trigger Service are refused by the schema.)
    kube.create(version_body("nobody", 1))
    kube.create(workflow_body("waiting", publishedVersion=10**9))  # the highest allowed

    def rejected(wf: str) -> dict[str, Any] | None:
        status = kube.wf_status(wf)
        last = status.get("lastPublish") or {}
        return status if last.get("result") == "Rejected" else None

    status = wait_for(lambda: rejected("broken"), 30, "broken publish rejected")
    assert status["lastPublish"]["reason"] == "ValidationFailed"
    assert "activeVersion" not in status
    v1 = version_status(kubeconfig, kube.ns, "broken-v1")
    assert v1["phase"] == "Invalid"
    assert {e["code"] for e in v1["errors"]} == EVERY_RULE_CODES
    assert condition({"status": v1}, "Validated")["status"] == "False"
    v2 = wait_for(lambda: version_status(kubeconfig, kube.ns, "broken-v2").get("errors"), 30,
                  "v2 validated")
    assert len(v2) == 50 and v2[-1]["code"] == "TooManyErrors", v2[-1]
    v3 = wait_for(lambda: version_status(kubeconfig, kube.ns, "broken-v3").get("phase"), 30,
                  "v3 validated")
    assert v3 == "Draft"
    deep = wait_for(lambda: rejected("deep"), 30, "deep publish rejected")
    assert deep["lastPublish"]["reason"] == "ValidationFailed"
    assert version_status(kubeconfig, kube.ns, "deep-v1")["errors"][0]["code"] == "SchemaInvalid"
    assert wait_for(lambda: version_status(kubeconfig, kube.ns, "nobody-v1").get("phase"), 30,
                    "orphan validated") == "Draft"
    waiting = wait_for(lambda: kube.condition("waiting", "Published"), 30, "waiting status")
    assert waiting["reason"] == "VersionNotFound"

    # The healthy neighbour publishes and rolls forward as if nothing happened.
    wait_live(kube, "healthy", 1)
    publish(kube, "healthy", 2)
    wait_live(kube, "healthy", 2)
    assert running_operator.proc.pid == pid and running_operator.proc.poll() is None
    log = _log_since(running_operator, log_offset)
    assert "Traceback" not in log, log[-3000:]
    assert " failed: 422" not in log, "the operator sent writes the API server refuses"
    # Remove the deep object now: other clients with Python's default recursion limit
    # (other tests, tools listing all namespaces) cannot decode it.
    kubectl(kubeconfig, kube.ns, "delete", "workflowversion", "deep-v1", "--wait=true")


# ------------------------------------------------------------------------ oversized


def fan_out(nodes: int, config_bytes: int = 0) -> dict[str, Any]:
    """A trigger and nodes-1 actions straight after it (each with an optional payload)."""
    actions = [{"id": f"step-{i}", "role": "action", "app": "slack", "operation": "post",
                **({"config": {"payload": "x" * config_bytes}} if config_bytes else {})}
               for i in range(1, nodes)]
    return {"nodes": [{"id": "form", "role": "trigger", "type": "webhook",
                       "config": {"path": "/in"}}, *actions],
            "edges": [{"from": "form", "to": a["id"]} for a in actions]}


def test_graphs_at_and_over_the_plan_limits(
    kube: Kube, api_client: client.ApiClient, running_operator: OperatorProcess,
) -> None:
    wf = "big"
    kube.create(workflow_body(wf, publishedVersion=1))
    kube.create(version_body(wf, 1, fan_out(199)))  # the default plan allows 200 nodes
    snap = wait_live(kube, wf, 1)
    svc = snap.services[f"{wf}-trigger"]
    assert snap.plans[svc.metadata.annotations["flowplane.dev/plan"]]
    live_annotations = dict(svc.metadata.annotations)

    def refused(n: int, reason: str, code: str) -> None:
        publish(kube, wf, n)
        status = wait_for(lambda: (s := kube.wf_status(wf)).get("lastPublish", {}).get(
            "version") == n and s["lastPublish"]["result"] == "Rejected" and s, 60,
            f"v{n} refused")
        assert status["lastPublish"]["reason"] == reason, status["lastPublish"]
        assert code in status["lastPublish"]["message"]
        version = kube.get("WorkflowVersion", f"{wf}-v{n}")["status"]
        assert version["phase"] == "Failed", version["phase"]
        assert code in {e["code"] for e in version["errors"]}
        assert status["activeVersion"] == 1  # the previous version stays live
        assert dict(kube.service(wf).metadata.annotations) == live_annotations
        assert kube.phases(wf)[1] == "Active"
        assert not [c for c in kube.core.list_namespaced_config_map(kube.ns).items
                    if c.metadata.name.startswith(f"{wf}-v{n}")]

    kube.create(version_body(wf, 2, fan_out(201)))
    refused(2, "CompileFailed", "TooManyNodes")

    # One node carrying 1.1 MB: the version fits in etcd (1.5 MiB per object), but its
    # plan could not be stored in a ConfigMap (1 MiB of data).
    kube.create(version_body(wf, 3, fan_out(2, config_bytes=1_100_000)))
    refused(3, "CompileFailed", "PlanTooLarge")

    # A tenant allowed 1000 nodes (Namespace annotation), 1000 nodes of 1 kB each.
    client.CoreV1Api(api_client).patch_namespace(
        kube.ns, {"metadata": {"annotations": {"flowplane.dev/max-nodes": "1000"}}})
    kube.create(version_body(wf, 4, fan_out(1000, config_bytes=1000)))
    refused(4, "CompileFailed", "PlanTooLarge")
    kube.create(version_body(wf, 5, fan_out(1000)))
    publish(kube, wf, 5)
    wait_live(kube, wf, 5, timeout=60)

