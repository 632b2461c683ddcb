"""A small toolkit over the official client for e2e tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import GROUP, VERSION, VERSION_PLURAL, WORKFLOW_PLURAL
from flowplane.model.run import RUN_PLURAL

T = TypeVar("T")
PLURALS = {"Workflow": WORKFLOW_PLURAL, "WorkflowVersion": VERSION_PLURAL,
           "WorkflowRun": RUN_PLURAL}


def install_crds(api: client.ApiClient, crd_dir: Path, timeout: float = 60.0) -> None:
    """Create or update the CRDs in `crd_dir` and wait until they are Established."""
    ext: Any = client.ApiextensionsV1Api(api)
    names: list[str] = []
    for path in sorted(crd_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        names.append(doc["metadata"]["name"])
        try:
            ext.create_custom_resource_definition(doc)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(doc["metadata"]["name"])
            doc["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(doc["metadata"]["name"], doc)
    for name in names:
        wait_for(partial(_established, ext, name), timeout, f"CRD {name} Established")


def _established(ext: Any, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True"
               for c in (crd.status.conditions or []))


@contextmanager
def temporary_namespace(api: client.ApiClient, name: str) -> Iterator[str]:
    """A namespace for one test (labelled as a test's), deleted afterwards without waiting."""
    core: Any = client.CoreV1Api(api)
    core.create_namespace(
        {"metadata": {"name": name, "labels": {"flowplane.dev/test": "true"}}})
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


def wait_for(fn: Callable[[], T | None], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.1) -> T:
    """Poll `fn` until it returns something truthy; raise with the last value on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except (ApiException, KeyError, TypeError, IndexError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return cast(T, last)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class Kube:
    """What a user does with kubectl, as Python calls, in one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.ns = namespace
        self.custom: Any = client.CustomObjectsApi(api)
        self.core: Any = client.CoreV1Api(api)

    # ---- flowplane objects
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["kind"]
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURALS[kind], body)
        return result

    def get(self, kind: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURALS[kind], name)
        return result

    def items(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURALS[kind])["items"]
        return items

    def patch(self, kind: str, name: str, patch: dict[str, Any], *, status: bool = False) -> Any:
        fn = (self.custom.patch_namespaced_custom_object_status if status
              else self.custom.patch_namespaced_custom_object)
        return fn(GROUP, VERSION, self.ns, PLURALS[kind], name, patch,
                  _content_type="application/merge-patch+json")

    def delete(self, kind: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURALS[kind], name)

    # ---- views
    def workflow(self, name: str) -> dict[str, Any]:
        return self.get("Workflow", name)

    def wf_status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.workflow(name).get("status") or {}
        return status

    def versions(self, workflow: str) -> dict[int, dict[str, Any]]:
        return {v["spec"]["version"]: v for v in self.items("WorkflowVersion")
                if v["spec"]["workflowRef"]["name"] == workflow}

    def phases(self, workflow: str) -> dict[int, str | None]:
        return {n: (v.get("status") or {}).get("phase")
                for n, v in self.versions(workflow).items()}

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.wf_status(name).get("conditions", [])
                     if c["type"] == type_), None)

    def service(self, workflow: str) -> Any:
        return self.core.read_namespaced_service(f"{workflow}-trigger", self.ns)

    def events(self, name: str) -> list[Any]:
        return list(self.core.list_namespaced_event(
            self.ns, field_selector=f"involvedObject.name={name}").items)
