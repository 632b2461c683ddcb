"""What the indexes keep of each object: compact, and decoded the same way every pass."""

from __future__ import annotations

import json
from typing import Any

from flowplane.reconcile.snapshot import (
    LAST_APPLIED,
    store_version,
    store_workflow,
    version_from_body,
)
from tests.unit.fakeworld import simple_graph


def _version_body() -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
        "metadata": {"name": "wf-v1", "namespace": "ns", "uid": "u1", "generation": 2,
                     "annotations": {"flowplane.dev/forked-from": "3"}},
        "spec": {"workflowRef": {"name": "wf"}, "version": 1, "graph": simple_graph()},
        "status": {"phase": "Active", "observedGeneration": 2},
    }
    body["metadata"]["annotations"][LAST_APPLIED] = json.dumps(body)  # kubectl's copy
    return body


def test_a_stored_version_loads_as_the_body_reads() -> None:
    body = _version_body()
    loaded = store_version(body).load()
    assert loaded.graph_raw == body["spec"]["graph"]
    assert loaded.status_raw == body["status"] and loaded.status.phase == "Active"
    assert loaded.forked_from == 3 and loaded == version_from_body(body)


def test_the_index_keeps_text_not_trees_and_drops_kubectls_copy() -> None:
    body = _version_body()
    stored = store_version(body)
    assert isinstance(stored.graph_json, str) and isinstance(stored.status_json, str)
    assert LAST_APPLIED not in stored.meta.annotations
    assert stored.meta.annotations == {"flowplane.dev/forked-from": "3"}


def test_a_stored_workflow_keeps_a_trip_it_cannot_parse() -> None:
    """A status the model refuses still reads as tripped (never as "not paused")."""
    body = {"metadata": {"name": "wf", "namespace": "ns"}, "spec": {},
            "status": {"safety": {"tripped": True, "reason": 7}, "phase": 12}}
    loaded = store_workflow(body).load()
    assert loaded.status.safety is not None and loaded.status.safety.tripped
