"""Observability after a publish: the operator's /metrics, and `kubectl wait` on Ready."""

from __future__ import annotations

import subprocess
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess

WF = "observed"


def graph(*, broken: bool = False) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "form", "role": "trigger", "type": "webhook", "config": {"path": "/submit"}},
        {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage"}]
    if broken:
        nodes.append({"id": "second", "role": "trigger", "type": "webhook",
                      "config": {"path": "/x"}})
    return {"nodes": nodes, "edges": [{"from": "form", "to": "notify"}]}


def make_version(kube: Kube, n: int, *, broken: bool = False) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
                 "metadata": {"name": f"{WF}-v{n}"},
                 "spec": {"workflowRef": {"name": WF}, "version": n,
                          "graph": graph(broken=broken)}})


def kubectl_wait(kubeconfig: str, ns: str, timeout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*find_kubectl(), f"--kubeconfig={kubeconfig}", "-n", ns, "wait",
         "--for=condition=Ready", f"flow/{WF}", f"--timeout={timeout}"],
        capture_output=True, text=True, timeout=120, check=False)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for got, v in samples(text).get(name, []) if labels.items() <= got.items())


def test_kubectl_wait_for_ready_means_the_publish_went_live(kube: Kube, kubeconfig: str,
                                                            running_operator: OperatorProcess
                                                            ) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow",
                 "metadata": {"name": WF}, "spec": {"publishedVersion": 1}})
    make_version(kube, 1)
    done = kubectl_wait(kubeconfig, kube.ns, "30s")
    assert done.returncode == 0, done.stderr
    assert "condition met" in done.stdout
    assert kube.wf_status(WF)["activeVersion"] == 1

    # A publish that cannot complete yet (v2 does not exist): Ready=False, so wait times out;
    # the stale Ready=True of the previous generation does not count.
    kube.patch("Workflow", WF, {"spec": {"publishedVersion": 2}})
    pending = kubectl_wait(kubeconfig, kube.ns, "2s")
    assert pending.returncode != 0
    assert (kube.condition(WF, "Ready") or {}).get("reason") == "VersionNotFound"
    make_version(kube, 2)
    done = kubectl_wait(kubeconfig, kube.ns, "30s")
    assert done.returncode == 0, done.stderr
    assert kube.wf_status(WF)["activeVersion"] == 2


def test_metrics_after_a_publish(kube: Kube, running_operator: OperatorProcess) -> None:
    before = running_operator.metrics()
    published = value(before, "flowplane_publishes_total", result="Succeeded",
                      reason="Published")
    rejected = value(before, "flowplane_publishes_total", result="Rejected",
                     reason="ValidationFailed")
    decided = value(before, "flowplane_decide_duration_seconds_count")

    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow",
                 "metadata": {"name": WF}, "spec": {"publishedVersion": 1}})
    make_version(kube, 1)
    make_version(kube, 2, broken=True)
    wait_for(lambda: kube.wf_status(WF).get("activeVersion") == 1, 30, "v1 live")
    kube.patch("Workflow", WF, {"spec": {"publishedVersion": 2}})
    wait_for(lambda: kube.wf_status(WF).get("lastPublish", {}).get("result") == "Rejected", 30,
             "v2 rejected")

    def scraped() -> str | None:
        text = running_operator.metrics()
        return text if value(text, "flowplane_workflows", phase="Published") >= 1 else None

    text = wait_for(scraped, 15, "the workflow counted as Published")
    found = samples(text)
    assert value(text, "flowplane_publishes_total", result="Succeeded",
                 reason="Published") >= published + 1
    assert value(text, "flowplane_publishes_total", result="Rejected",
                 reason="ValidationFailed") >= rejected + 1
    # compile + decide, timed per family reconcile
    assert value(text, "flowplane_decide_duration_seconds_count") > decided
    assert value(text, "flowplane_decide_duration_seconds_sum") > 0
    assert any(labels.get("le") == "+Inf" for labels, _ in
               found["flowplane_decide_duration_seconds_bucket"])
    # errors: the family exists with its known reasons, from zero
    assert found["flowplane_reconcile_errors_total"]
    assert all(labels.get("reason") for labels, _ in found["flowplane_reconcile_errors_total"])
    phases = {labels["phase"] for labels, _ in found["flowplane_workflows"]}
    assert phases == {"Draft", "Published", "Disabled", "Archived", "PausedSafety"}
    for name in ("flowplane_reconcile_duration_seconds_count", "flowplane_api_writes_total",
                 "flowplane_queue_depth"):
        assert name in found, name


def test_metrics_endpoint_is_prometheus_text(running_operator: OperatorProcess) -> None:
    with urllib.request.urlopen(running_operator.metrics_url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "# TYPE flowplane_publishes_total counter" in response.read().decode()


def test_a_single_operator_without_election_says_it_writes(
        running_operator: OperatorProcess) -> None:
    # The session operator runs without --leader-elect: it is the writer.
    assert "\nflowplane_operator_leader 1.0\n" in running_operator.metrics()
