"""Cross-namespace routing on a real API server: each wired trigger Service's mirrored
EndpointSlice.

A Service selects pods in its own namespace only, and the runtime runs in another one,
so the operator gives each wired trigger Service `<wf>-trigger` an EndpointSlice
`<wf>-trigger-runtime` (labelled `kubernetes.io/service-name: <wf>-trigger`, which is
all kube-proxy needs) holding the ready endpoints of the runtime's own Service.

The local control plane has no kubelet, so the runtime's pods are played by a
hand-made EndpointSlice of a `flowplane-runtime` Service in a second namespace; a
dedicated operator runs with `--runtime-service <that namespace>/flowplane-runtime`.
kube-controller-manager runs (its endpointslice controller and garbage collector are
part of what is checked: the first must leave the mirrored slice alone, the second
deletes it with the Service).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane_devtools.kube import Kube, temporary_namespace, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.sentinel import passes_answered, writes_total
from tests.e2e.test_workflows import live, make_version, make_workflow, publish

WF = "form-to-slack"
SLICE = f"{WF}-trigger-runtime"
RUNTIME = "flowplane-runtime"
RUNTIME_SLICE = "flowplane-runtime-pods"
BYSTANDER = "bystander"
ACTIVE = "flowplane.dev/active-version"


def endpoints(*addresses: str, not_ready: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [*({"addresses": [a], "conditions": {"ready": True}} for a in addresses),
            *({"addresses": [a], "conditions": {"ready": False}} for a in not_ready)]


@pytest.fixture
def runtime_ns(api_client: client.ApiClient) -> Iterator[str]:
    """Where the runtime "runs": its Service and (hand-made) EndpointSlice."""
    with temporary_namespace(api_client, f"t-runtime-{uuid.uuid4().hex[:6]}") as ns:
        core: Any = client.CoreV1Api(api_client)
        core.create_namespaced_service(ns, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": RUNTIME},
            "spec": {"selector": {"app.kubernetes.io/name": RUNTIME}, "ports": [
                {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]}})
        discovery: Any = client.DiscoveryV1Api(api_client)
        discovery.create_namespaced_endpoint_slice(ns, {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": RUNTIME_SLICE, "labels": {
                "kubernetes.io/service-name": RUNTIME,
                "endpointslice.kubernetes.io/managed-by": "e2e.flowplane.dev"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints("10.0.0.11", "10.0.0.10", not_ready=("10.0.0.12",))})
        yield ns


@pytest.fixture
def mirroring_operator(operator: OperatorProcess, kube: Kube, runtime_ns: str, kubeconfig: str,
                       tmp_path: Path) -> Iterator[OperatorProcess]:
    """The session operator stops; one mirroring the runtime in `runtime_ns` watches kube.ns."""
    operator.stop()
    proc = OperatorProcess(kubeconfig, tmp_path / "operator.log", extra_args=[
        "--namespace", kube.ns, "--runtime-service", f"{runtime_ns}/{RUNTIME}"])
    try:
        proc.start()
        yield proc
    finally:
        print(f"mirroring operator log: {proc.log_path}")
        proc.stop()
        operator.start()


def read_slice(kube: Kube, name: str = SLICE) -> Any:
    discovery: Any = client.DiscoveryV1Api(kube.api)
    return discovery.read_namespaced_endpoint_slice(name, kube.ns)


def addresses_of(body: Any) -> list[str]:
    return [a for e in body.endpoints or [] for a in e.addresses]


def mirrored(kube: Kube, expected: list[str], what: str, name: str = SLICE) -> Any:
    def check() -> Any:
        body = read_slice(kube, name)
        return body if addresses_of(body) == expected else None
    return wait_for(check, 30, what)


def set_runtime_endpoints(api_client: client.ApiClient, ns: str, *addresses: str) -> None:
    discovery: Any = client.DiscoveryV1Api(api_client)
    discovery.patch_namespaced_endpoint_slice(
        RUNTIME_SLICE, ns, {"endpoints": endpoints(*addresses)},
        _content_type="application/merge-patch+json")


def test_a_wired_trigger_service_routes_to_the_runtime_in_another_namespace(
    kube: Kube, runtime_ns: str, mirroring_operator: OperatorProcess,
    api_client: client.ApiClient,
) -> None:
    make_workflow(kube)
    make_version(kube, 1)
    make_version(kube, 2)
    wait_for(lambda: kube.wf_status(WF).get("phase") == "Draft", 30, "Draft")
    cluster_ip = kube.service(WF).spec.cluster_ip
    with pytest.raises(ApiException) as exc:  # nothing is live: no slice to route with
        read_slice(kube)
    assert exc.value.status == 404

    publish(kube, 1)
    live(kube, 1)
    body = mirrored(kube, ["10.0.0.10", "10.0.0.11"], "the runtime's ready endpoints mirrored")
    svc = kube.service(WF)
    labels = body.metadata.labels
    assert labels["kubernetes.io/service-name"] == f"{WF}-trigger"
    assert labels["endpointslice.kubernetes.io/managed-by"] == "operator.flowplane.dev"
    assert labels["flowplane.dev/workflow"] == WF
    assert labels["app.kubernetes.io/component"] == "trigger-endpoints"
    assert labels["app.kubernetes.io/managed-by"] == "flowplane"
    (owner,) = body.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Service", f"{WF}-trigger", svc.metadata.uid)
    assert body.address_type == "IPv4"
    assert [(p.name, p.port, p.protocol) for p in body.ports] == [("http", 8080, "TCP")]
    # the contract stands: the selector while wired, the annotations, the ClusterIP
    assert svc.spec.selector == {"app.kubernetes.io/name": RUNTIME}
    assert svc.metadata.annotations[ACTIVE] == "1"
    assert svc.spec.cluster_ip == cluster_ip

    # At rest: the endpointslice controller leaves our slice alone, and nothing is written.
    before = writes_total(mirroring_operator)
    passes_answered(kube, mirroring_operator, WF)
    assert read_slice(kube).metadata.resource_version == body.metadata.resource_version
    assert writes_total(mirroring_operator) == before, "the operator keeps writing at rest"
    # A publish moves the pin, not the endpoints.
    publish(kube, 2)
    live(kube, 2)
    assert read_slice(kube).metadata.resource_version == body.metadata.resource_version

    # The runtime's replicas change: the trigger follows.
    set_runtime_endpoints(api_client, runtime_ns, "10.0.0.13", "10.0.0.11")
    mirrored(kube, ["10.0.0.11", "10.0.0.13"], "the new runtime endpoints")

    # A safety trip unwires: no selector, no pin, no endpoints.
    kube.patch("Workflow", WF, {"status": {"safety": {
        "tripped": True, "reason": "RunRateExceeded", "message": "900 runs in 1m"}}},
        status=True)
    mirrored(kube, [], "the slice emptied by the safety pause")
    wait_for(lambda: not kube.service(WF).spec.selector, 30, "unwired")
    assert ACTIVE not in (kube.service(WF).metadata.annotations or {})
    # While unwired, a change of the runtime's endpoints routes nothing here. A wired
    # bystander shows when the operator has seen the change; then a pass over this family
    # (which sees the new endpoints too) must leave its slice empty.
    make_workflow(kube, BYSTANDER, publishedVersion=1)
    make_version(kube, 1, wf=BYSTANDER)
    live(kube, 1, wf=BYSTANDER)
    mirrored(kube, ["10.0.0.11", "10.0.0.13"], "the bystander wired",
             f"{BYSTANDER}-trigger-runtime")
    set_runtime_endpoints(api_client, runtime_ns, "10.0.0.14")
    mirrored(kube, ["10.0.0.14"], "the bystander follows the runtime",
             f"{BYSTANDER}-trigger-runtime")
    passes_answered(kube, mirroring_operator, WF)
    assert addresses_of(read_slice(kube)) == []
    kube.delete("Workflow", BYSTANDER)

    # Resume: wired again, with the runtime's endpoints of now.
    kube.patch("Workflow", WF, {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "ticket-7"}}})
    live(kube, 2)
    mirrored(kube, ["10.0.0.14"], "the endpoints restored on resume")

    # The runtime loses its last slice: no ready endpoint anywhere.
    discovery: Any = client.DiscoveryV1Api(api_client)
    discovery.delete_namespaced_endpoint_slice(RUNTIME_SLICE, runtime_ns)
    mirrored(kube, [], "no runtime endpoints")

    # Deleting the Workflow takes its Service, and the Service its slice.
    kube.delete("Workflow", WF)
    wait_for(lambda: not kube.core.list_namespaced_service(kube.ns).items, 60, "service collected")

    def slice_gone() -> bool:
        try:
            read_slice(kube)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False
    wait_for(slice_gone, 60, "the slice collected with its Service")


def test_a_slice_name_someone_else_holds_is_reported_not_overwritten(
    kube: Kube, mirroring_operator: OperatorProcess,
) -> None:
    discovery: Any = client.DiscoveryV1Api(kube.api)
    discovery.create_namespaced_endpoint_slice(kube.ns, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": SLICE, "labels": {"kubernetes.io/service-name": "other"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 9999, "protocol": "TCP"}],
        "endpoints": endpoints("10.0.0.99")})
    theirs = read_slice(kube)
    make_workflow(kube, publishedVersion=1)
    make_version(kube, 1)

    def reported() -> dict[str, Any] | None:
        ready = kube.condition(WF, "Ready") or {}
        return ready if ready.get("reason") == "EndpointSliceConflict" else None
    ready = wait_for(reported, 30, "the conflict reported")
    assert ready["status"] == "False" and SLICE in ready["message"]
    wired = kube.condition(WF, "TriggerWired") or {}
    assert (wired.get("status"), wired.get("reason")) == ("False", "EndpointSliceConflict")
    # still published (the pin), but their slice is untouched
    assert kube.service(WF).metadata.annotations[ACTIVE] == "1"
    assert read_slice(kube).metadata.resource_version == theirs.metadata.resource_version
    assert addresses_of(read_slice(kube)) == ["10.0.0.99"]
