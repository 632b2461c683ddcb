"""The ValidatingAdmissionPolicy in manifests/admission on the real API server.

Deleting the Active WorkflowVersion is denied with a clear message; any other version
can be deleted; clean-ups (the garbage collector, the namespace controller, a namespace
being deleted) are never blocked.

The policy is removed again after these tests: the local control plane's
kube-controller-manager runs as the admin user, so while the policy is in force its
garbage collector could not delete an Active version when a Workflow is deleted (on a
real cluster it runs as kube-system:generic-garbage-collector, which is exempt).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import GROUP, VERSION, VERSION_PLURAL
from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for

REPO = Path(__file__).resolve().parents[2]
POLICY = "flowplane-protect-active-version"
WF = "guarded"
MESSAGE = "deactivate or publish another version first"

pytestmark = pytest.mark.usefixtures("running_operator")


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*find_kubectl(), f"--kubeconfig={kubeconfig}", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def remove_policy(kubeconfig: str) -> None:
    kubectl(kubeconfig, "delete", "--ignore-not-found", "--wait=false",
            f"validatingadmissionpolicybinding/{POLICY}", f"validatingadmissionpolicy/{POLICY}")


@pytest.fixture
def policy(kubeconfig: str, crds: None) -> Iterator[None]:
    applied = kubectl(kubeconfig, "apply", "-k", str(REPO / "manifests" / "admission"))
    assert applied.returncode == 0, applied.stderr
    try:
        yield
    finally:
        remove_policy(kubeconfig)


def graph(text: str) -> dict[str, Any]:
    return {"nodes": [{"id": "form", "role": "trigger", "type": "webhook",
                       "config": {"path": "/submit"}},
                      {"id": "notify", "role": "action", "app": "slack",
                       "operation": "chat.postMessage", "inputs": {"text": text}}],
            "edges": [{"from": "form", "to": "notify"}]}


def seed(kube: Kube, live: int, versions: int = 2) -> None:
    kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "Workflow",
                 "metadata": {"name": WF}, "spec": {"publishedVersion": live}})
    for n in range(1, versions + 1):
        kube.create({"apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
                     "metadata": {"name": f"{WF}-v{n}"},
                     "spec": {"workflowRef": {"name": WF}, "version": n, "graph": graph(f"{n}")}})
    wait_for(lambda: kube.phases(WF).get(live) == "Active", 30, f"v{live} Active")


def delete(kube: Kube, name: str, *, dry_run: bool = False) -> ApiException | None:
    try:
        kube.custom.delete_namespaced_custom_object(
            GROUP, VERSION, kube.ns, VERSION_PLURAL, name, dry_run="All" if dry_run else None)
    except ApiException as exc:
        return exc
    return None


def denied(kube: Kube, name: str) -> str | None:
    """The message denying a (dry-run) delete, once the policy is in force."""
    exc = delete(kube, name, dry_run=True)
    if exc is not None and exc.status == 403 and POLICY in str(exc.body):
        return str(exc.body)
    return None


def test_deleting_the_active_version_is_denied(kube: Kube, policy: None) -> None:
    seed(kube, live=1, versions=3)
    message = wait_for(lambda: denied(kube, f"{WF}-v1"), 30, "the policy in force")
    assert f"WorkflowVersion {WF}-v1 (v1) is the active version of workflow {WF}; {MESSAGE}" \
        in message
    assert delete(kube, f"{WF}-v1") is not None  # for real, too
    assert kube.phases(WF)[1] == "Active"

    assert delete(kube, f"{WF}-v3") is None  # a Draft goes
    kube.patch("Workflow", WF, {"spec": {"publishedVersion": 2}})
    wait_for(lambda: kube.phases(WF).get(1) == "Inactive" and kube.phases(WF).get(2) == "Active",
             30, "v2 live")
    assert delete(kube, f"{WF}-v1") is None  # retired: may be deleted
    assert denied(kube, f"{WF}-v2") is not None

    kube.patch("Workflow", WF, {"spec": {"publishedVersion": None}})  # deactivate
    wait_for(lambda: kube.phases(WF).get(2) == "Inactive", 30, "v2 deactivated")
    assert delete(kube, f"{WF}-v2") is None
    assert kube.items("WorkflowVersion") == []


def test_clean_ups_are_not_blocked(kube: Kube, policy: None, kubeconfig: str,
                                   api_client: client.ApiClient) -> None:
    seed(kube, live=1, versions=1)
    wait_for(lambda: denied(kube, f"{WF}-v1"), 30, "the policy in force")
    for controller in ("generic-garbage-collector", "namespace-controller"):
        result = kubectl(kubeconfig, "-n", kube.ns, "delete", f"workflowversion/{WF}-v1",
                         "--dry-run=server", f"--as=system:serviceaccount:kube-system:{controller}")
        assert result.returncode == 0, (controller, result.stderr)

    # A namespace being deleted takes its live versions with it.
    core = client.CoreV1Api(api_client)
    ns = f"t-admission-nsdel-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ns, labels={"flowplane.dev/test": "true"})))
    other = Kube(api_client, ns)
    seed(other, live=1, versions=1)
    assert denied(other, f"{WF}-v1") is not None
    core.delete_namespace(ns, propagation_policy="Background")
    wait_for(lambda: not other.items("WorkflowVersion"), 60, "the active version deleted "
             "with its namespace")
