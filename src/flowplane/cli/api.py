"""The plugin's API calls, through the official client, with kubectl's flag semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from flowplane.cli.status import OperationError
from flowplane.model.resources import (
    GROUP,
    LABEL_WORKFLOW,
    VERSION,
    VERSION_PLURAL,
    WORKFLOW_PLURAL,
)
from flowplane.model.run import RUN_PLURAL

MERGE_PATCH = "application/merge-patch+json"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
Obj = dict[str, Any]


def api_message(exc: ApiException) -> str:
    """The Status message of a failed call (what kubectl prints after "Error from server")."""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (TypeError, ValueError):
        pass
    return f"{exc.status} {exc.reason}"


class Api:
    """One namespace of one cluster, chosen like kubectl: --kubeconfig, --context, -n."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None) -> None:
        loader: Any = kubernetes.config
        config = kubernetes.client.Configuration()
        try:
            try:
                loader.load_kube_config(config_file=kubeconfig, context=context,
                                        client_configuration=config)
                default_ns = _context_namespace(kubeconfig, context)
            except loader.ConfigException:
                # No kubeconfig: inside a pod, use its service account, like kubectl does.
                if kubeconfig or context or not IN_CLUSTER_NAMESPACE.exists():
                    raise
                loader.load_incluster_config(client_configuration=config)
                default_ns = IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
        except (loader.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise OperationError(f"cannot load the Kubernetes configuration: {exc}") from exc
        self.namespace = namespace or default_ns
        self.server = str(config.host)
        self.client: Any = kubernetes.client.ApiClient(config)
        self.custom: Any = kubernetes.client.CustomObjectsApi(self.client)
        self.core: Any = kubernetes.client.CoreV1Api(self.client)

    def close(self) -> None:
        self.client.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                raise OperationError(f"{what}: not found in namespace {self.namespace}") from exc
            raise OperationError(f"{what}: {api_message(exc)}") from exc
        except HTTPError as exc:
            raise OperationError(f"cannot reach the API server at {self.server}: {exc}") from exc

    # ---- reads
    def _get(self, kind: str, plural: str, name: str) -> Obj:
        """One flowplane object; errors say what was asked for, as kubectl's do."""
        try:
            result: Obj = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                raise OperationError(
                    f'{kind} "{name}" not found in namespace "{self.namespace}"') from exc
            raise OperationError(f"{kind} {name}: {api_message(exc)}") from exc
        except HTTPError as exc:
            raise OperationError(f"cannot reach the API server at {self.server}: {exc}") from exc
        return result

    def workflow(self, name: str) -> Obj:
        return self._get("workflow", WORKFLOW_PLURAL, name)

    def workflow_or_none(self, name: str) -> Obj | None:
        try:
            return self.workflow(name)
        except OperationError as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
                return None
            raise

    def versions(self, workflow: str) -> list[Obj]:
        """Every WorkflowVersion whose spec.workflowRef names `workflow` (labelled or not)."""
        listing = self._call("listing workflowversions", self.custom.list_namespaced_custom_object,
                             GROUP, VERSION, self.namespace, VERSION_PLURAL)
        items: list[Obj] = [
            v for v in listing.get("items", [])
            if ((v.get("spec") or {}).get("workflowRef") or {}).get("name") == workflow
        ]
        return items

    def version(self, name: str) -> Obj:
        return self._get("workflowversion", VERSION_PLURAL, name)

    def runs(self, workflow: str) -> list[Obj]:
        """The workflow's WorkflowRuns (label `flowplane.dev/workflow`), in any order."""
        items: list[Obj] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"label_selector": f"{LABEL_WORKFLOW}={workflow}",
                                      "limit": 500}
            if token:
                kwargs["_continue"] = token
            listing = self._call("listing workflowruns",
                                 self.custom.list_namespaced_custom_object, GROUP, VERSION,
                                 self.namespace, RUN_PLURAL, **kwargs)
            items.extend(listing.get("items", []))
            token = (listing.get("metadata") or {}).get("continue")
            if not token:
                return items

    def run(self, name: str) -> Obj:
        return self._get("workflowrun", RUN_PLURAL, name)

    def service_annotations(self, name: str) -> dict[str, str] | None:
        """The annotations of Service `name`, or None when there is no such Service."""
        try:
            service = self.core.read_namespaced_service(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise OperationError(f"service {name}: {api_message(exc)}") from exc
        except HTTPError as exc:
            raise OperationError(f"cannot reach the API server at {self.server}: {exc}") from exc
        return dict(service.metadata.annotations or {})

    # ---- writes
    def patch_workflow(self, name: str, body: Obj, *, status: bool = False) -> Obj:
        fn = (self.custom.patch_namespaced_custom_object_status if status
              else self.custom.patch_namespaced_custom_object)
        result: Obj = self._call(f"workflow {name}", fn, GROUP, VERSION, self.namespace,
                                 WORKFLOW_PLURAL, name, body, _content_type=MERGE_PATCH)
        return result

    def _create(self, kind: str, plural: str, body: Obj) -> Obj:
        result: Obj = self._call(f"creating {kind} {body['metadata']['name']}",
                                 self.custom.create_namespaced_custom_object, GROUP, VERSION,
                                 self.namespace, plural, body)
        return result

    def _patch(self, kind: str, plural: str, name: str, body: Obj) -> Obj:
        result: Obj = self._call(f"{kind} {name}", self.custom.patch_namespaced_custom_object,
                                 GROUP, VERSION, self.namespace, plural, name, body,
                                 _content_type=MERGE_PATCH)
        return result

    def patch_version(self, name: str, body: Obj) -> Obj:
        return self._patch("workflowversion", VERSION_PLURAL, name, body)

    def create_version(self, body: Obj) -> Obj:
        return self._create("workflowversion", VERSION_PLURAL, body)

    def create_run(self, body: Obj) -> Obj:
        return self._create("workflowrun", RUN_PLURAL, body)

    def patch_run(self, name: str, body: Obj) -> Obj:
        return self._patch("workflowrun", RUN_PLURAL, name, body)


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the chosen (or current) context, as kubectl defaults it."""
    loader: Any = kubernetes.config
    contexts, current = loader.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context \
        else current
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return str(ns) if ns else "default"
