"""The test cluster is a real Kubernetes control plane, not a mock.

Checks the pinned version, CRDs and custom resources, Service ClusterIP allocation, the
garbage collector (ownerReferences) and the namespace controller (namespace deletion).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane_devtools.cluster import (
    KUBERNETES_VERSION,
    SERVICE_CLUSTER_IP_RANGE,
    LocalControlPlane,
    find_kubectl,
)

TIMEOUT = 120.0
TEST_GROUP = "test.flowplane.dev"
TEST_PLURAL = "widgets"


def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = TIMEOUT, interval: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def is_gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def require_local(cp: LocalControlPlane | None) -> LocalControlPlane:
    if cp is None:
        pytest.skip("pinned-version checks only apply to the local control plane")
    return cp


def test_server_reports_pinned_version(
    api_client: client.ApiClient, local_control_plane: LocalControlPlane | None
) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1"
    if local_control_plane is not None:
        assert info.git_version == KUBERNETES_VERSION
        assert info.minor == KUBERNETES_VERSION.split(".")[1]


def test_kubectl_multicall_reports_pinned_version(
    kubeconfig: str, local_control_plane: LocalControlPlane | None
) -> None:
    cp = require_local(local_control_plane)
    result = subprocess.run(
        [*find_kubectl(cp.binary), f"--kubeconfig={kubeconfig}", "version", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    versions = json.loads(result.stdout)
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION


@pytest.fixture
def widget_crd(api_client: client.ApiClient) -> Iterator[str]:
    """A namespaced test CRD (deliberately not one of flowplane's); yields its version."""
    ext = client.ApiextensionsV1Api(api_client)
    name = f"{TEST_PLURAL}.{TEST_GROUP}"
    schema = client.V1JSONSchemaProps(
        type="object",
        properties={
            "spec": client.V1JSONSchemaProps(
                type="object",
                properties={
                    "size": client.V1JSONSchemaProps(type="integer", minimum=1),
                    "color": client.V1JSONSchemaProps(type="string"),
                },
                required=["size"],
            )
        },
    )
    crd = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1CustomResourceDefinitionSpec(
            group=TEST_GROUP,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural=TEST_PLURAL, singular="widget", kind="Widget", list_kind="WidgetList"
            ),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),  # type: ignore[call-arg]
                    subresources=client.V1CustomResourceSubresources(status={}),
                )
            ],
        ),
    )
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:  # left over from an interrupted run against an external cluster
            raise

    def established() -> bool:
        current = ext.read_custom_resource_definition(name)
        conditions = (current.status and current.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, f"CRD {name} to be Established")
    try:
        yield "v1"
    finally:
        ext.delete_custom_resource_definition(name)


def test_custom_resource_roundtrip(
    api_client: client.ApiClient, namespace: str, widget_crd: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": f"{TEST_GROUP}/{widget_crd}",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3, "color": "blue"},
    }

    created: dict[str, Any] = {}

    def create() -> bool:
        # The CRD's REST handler may lag a moment behind the Established condition.
        try:
            result = custom.create_namespaced_custom_object(
                TEST_GROUP, widget_crd, namespace, TEST_PLURAL, body
            )
            created.update(cast(dict[str, Any], result))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_for(create, "the Widget endpoint to serve requests", timeout=30)
    assert created["metadata"]["uid"]

    got = cast(
        dict[str, Any],
        custom.get_namespaced_custom_object(TEST_GROUP, widget_crd, namespace, TEST_PLURAL, "w1"),
    )
    assert got["spec"] == {"size": 3, "color": "blue"}

    # Structural schema validation is enforced by the real apiserver.
    invalid = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(
            TEST_GROUP, widget_crd, namespace, TEST_PLURAL, invalid
        )
    assert err.value.status == 422


def test_service_gets_cluster_ip(
    api_client: client.ApiClient, namespace: str, local_control_plane: LocalControlPlane | None
) -> None:
    core = client.CoreV1Api(api_client)
    service = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"},
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    assert service.spec is not None and service.spec.cluster_ip
    cluster_ip = ipaddress.ip_address(service.spec.cluster_ip)
    if local_control_plane is not None:
        assert cluster_ip in ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE)


def test_garbage_collector_deletes_dependents(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name="dependent",
                owner_references=[
                    client.V1OwnerReference(
                        api_version="v1",
                        kind="ConfigMap",
                        name=owner.metadata.name,
                        uid=owner.metadata.uid,
                    )
                ],
            ),
            data={"k": "v"},
        ),
    )
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(
        lambda: is_gone(lambda: core.read_namespaced_config_map("dependent", namespace)),
        "the garbage collector to delete the dependent ConfigMap",
    )


def test_namespace_controller_finalizes_namespace(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = f"t-ns-deletion-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"))
    )
    core.delete_namespace(name)
    # Without the namespace controller it would stay Terminating forever.
    wait_for(lambda: is_gone(lambda: core.read_namespace(name)), f"namespace {name} to go away")


def test_apiserver_restart_keeps_data_and_port(
    api_client: client.ApiClient, namespace: str, local_control_plane: LocalControlPlane | None
) -> None:
    cp = require_local(local_control_plane)
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="survivor"))
    )
    server = cp.server

    cp.stop_apiserver()
    assert not cp.is_healthy()
    with pytest.raises(Exception):  # noqa: B017 - any connection error will do
        client.CoreV1Api(api_client).list_namespace(_request_timeout=5)

    cp.start_apiserver()
    assert cp.server == server
    assert cp.is_healthy()
    wait_for(
        lambda: not is_gone(lambda: core.read_namespaced_config_map("survivor", namespace)),
        "the ConfigMap to be readable again",
        timeout=30,
    )
