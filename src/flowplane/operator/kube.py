"""The operator's writes to the API server, through the official client, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from flowplane.kubeconfig import load_configuration
from flowplane.model.resources import GROUP, VERSION, VERSION_PLURAL, WORKFLOW_PLURAL
from flowplane.model.timestamps import format_timestamp
from flowplane.operator.refusals import refusal_of
from flowplane.reconcile.writes import Event, Kind

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "flowplane-operator"
"""Every write carries it, so a server-side apply conflict names the operator (not the
client library's default, OpenAPI-Generator)."""
_CUSTOM_PLURALS = {Kind.WORKFLOW: WORKFLOW_PLURAL, Kind.VERSION: VERSION_PLURAL}


def load_client_config() -> kubernetes.client.ApiClient:
    """In-cluster service account if there is one, else the kubeconfig (KUBECONFIG)."""
    config = load_configuration()
    config.connection_pool_maxsize = 32
    return kubernetes.client.ApiClient(config)




class KubeClient:
    """Create, merge-patch, delete and emit Events; returns plain dicts."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        # Typed loosely on purpose: we send plain dicts, which the client serialises as is.
        self.api: Any = api
        self.custom: Any = kubernetes.client.CustomObjectsApi(api)
        self.core: Any = kubernetes.client.CoreV1Api(api)
        self.discovery: Any = kubernetes.client.DiscoveryV1Api(api)
        self.instance = os.environ.get("POD_NAME") or socket.gethostname()

    async def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._create, kind, namespace, body)

    async def patch(
        self, kind: Kind, namespace: str, name: str, body: dict[str, Any], *, status: bool
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self._patch, kind, namespace, name, body, status)

    async def delete(self, kind: Kind, namespace: str, name: str, *, uid: str) -> None:
        """Delete `name` only if its uid is still `uid` (else 409); dependents go in the
        background. NotFound is raised as is (the caller counts it as done)."""
        await asyncio.to_thread(self._delete, kind, namespace, name, uid)

    async def read(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._read, kind, namespace, name)

    def _read(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        if kind in _CUSTOM_PLURALS:
            result = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, _CUSTOM_PLURALS[kind], name)
        elif kind == Kind.CONFIGMAP:
            result = self.core.read_namespaced_config_map(name, namespace)
        elif kind == Kind.ENDPOINT_SLICE:
            result = self.discovery.read_namespaced_endpoint_slice(name, namespace)
        else:
            result = self.core.read_namespaced_service(name, namespace)
        return self._plain(result)

    def _create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind in _CUSTOM_PLURALS:
            result = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, _CUSTOM_PLURALS[kind], body,
                field_manager=FIELD_MANAGER)
        elif kind == Kind.CONFIGMAP:
            result = self.core.create_namespaced_config_map(
                namespace, body, field_manager=FIELD_MANAGER)
        elif kind == Kind.SERVICE:
            result = self.core.create_namespaced_service(
                namespace, body, field_manager=FIELD_MANAGER)
        elif kind == Kind.ENDPOINT_SLICE:
            result = self.discovery.create_namespaced_endpoint_slice(
                namespace, body, field_manager=FIELD_MANAGER)
        else:  # pragma: no cover
            raise ValueError(kind)
        return self._plain(result)

    def _delete(self, kind: Kind, namespace: str, name: str, uid: str) -> None:
        options = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(uid=uid),
            propagation_policy="Background",
        )
        if kind in _CUSTOM_PLURALS:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, _CUSTOM_PLURALS[kind], name, body=options)
        elif kind == Kind.CONFIGMAP:
            self.core.delete_namespaced_config_map(name, namespace, body=options)
        elif kind == Kind.SERVICE:
            self.core.delete_namespaced_service(name, namespace, body=options)
        elif kind == Kind.ENDPOINT_SLICE:
            self.discovery.delete_namespaced_endpoint_slice(name, namespace, body=options)
        else:  # pragma: no cover
            raise ValueError(kind)

    def _patch(
        self, kind: Kind, namespace: str, name: str, body: dict[str, Any], status: bool
    ) -> dict[str, Any]:
        if kind in _CUSTOM_PLURALS:
            fn = (self.custom.patch_namespaced_custom_object_status if status
                  else self.custom.patch_namespaced_custom_object)
            result = fn(GROUP, VERSION, namespace, _CUSTOM_PLURALS[kind], name, body,
                        field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        elif kind == Kind.SERVICE:
            result = self.core.patch_namespaced_service(
                name, namespace, body, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        elif kind == Kind.CONFIGMAP:
            result = self.core.patch_namespaced_config_map(
                name, namespace, body, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        elif kind == Kind.ENDPOINT_SLICE:
            result = self.discovery.patch_namespaced_endpoint_slice(
                name, namespace, body, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)
        else:  # pragma: no cover
            raise ValueError(kind)
        return self._plain(result)

    def _plain(self, result: Any) -> dict[str, Any]:
        if isinstance(result, dict):
            return result
        plain: dict[str, Any] = self.api.sanitize_for_serialization(result)
        return plain

    async def emit(self, namespace: str, event: Event) -> None:
        """Best effort: an Event that cannot be written is logged, never fatal."""
        api_version = {Kind.SERVICE: "v1", Kind.CONFIGMAP: "v1",
                       Kind.ENDPOINT_SLICE: "discovery.k8s.io/v1"}.get(
                           event.kind, f"{GROUP}/{VERSION}")
        now = format_timestamp()
        name = f"{event.name[:240].rstrip('-.')}.{uuid.uuid4().hex[:12]}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            # An Event's name is a DNS subdomain of at most 253 characters, like the name
            # of the object it is about: leave room for the unique suffix.
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": api_version, "kind": event.kind.value, "name": event.name,
                "namespace": namespace, "uid": event.uid,
            },
            "reason": event.reason,
            "message": event.message[:1024],
            "type": event.type,
            "source": {"component": "flowplane-operator"},
            "reportingComponent": "flowplane.dev/operator",
            "reportingInstance": self.instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await asyncio.to_thread(self.core.create_namespaced_event, namespace, body,
                                    field_manager=FIELD_MANAGER)
        except ApiException as exc:
            refusal = refusal_of(exc)
            extra = {"namespace": namespace, "object": event.name, "event": event.reason,
                     "status": refusal.status, "reason": refusal.reason}
            if refusal.terminating:  # the namespace is being deleted, and the Event with it
                log.info("%s: namespace is terminating; Event %s on %s not posted", namespace,
                         event.reason, event.name, extra=extra)
            else:
                log.warning("could not post Event %s on %s %s/%s: %s", event.reason,
                            event.kind.value, namespace, event.name,
                            refusal.describe("create", "Event", name),
                            extra=extra)
