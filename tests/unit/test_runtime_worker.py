"""The worker's claim and write protocol against a fake API (conflicts and finished runs)."""

from __future__ import annotations

import asyncio
from typing import Any

from flowplane.runtime import actions
from flowplane.runtime.kubeapi import ApiError
from flowplane.runtime.worker import ClaimLost, RunHandle, Worker

RUN = {
    "metadata": {"name": "wf-abc", "namespace": "ns", "uid": "u1", "resourceVersion": "5"},
    "spec": {"workflowRef": {"name": "wf"}, "version": 1,
             "plan": {"configMap": "wf-v1-plan", "hash": "sha256:x"},
             "trigger": {"type": "webhook"}, "event": {"receivedAt": "2026-12-02T10:00:00Z"}},
    "status": {"phase": "Running", "executor": {"id": "me", "heartbeatAt": "2026-12-02T10:00:00Z",
                                                "leaseSeconds": 15}},
}


class FakeApi:
    """Answers every status patch with 409; GET returns `current`."""

    def __init__(self, current: dict[str, Any]) -> None:
        self.current = current
        self.patches = 0
        self.gets = 0

    async def merge_patch(self, path: str, patch: Any) -> dict[str, Any]:
        self.patches += 1
        raise ApiError(409, "Conflict", "the object has been modified")

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        self.gets += 1
        return self.current


def _worker(api: FakeApi) -> Worker:
    async def no_plan(*_: str) -> None:
        return None

    return Worker(api=api, executor_id="me", lease_seconds=15,  # type: ignore[arg-type]
                  load_plan=no_plan, connectors={}, session=lambda: None,  # type: ignore[arg-type,return-value]
                  ai=actions.AISettings(), action_timeout=1, action_retries=0,
                  retry_backoff=0, max_loop_items=10)


def test_a_claim_made_on_a_stale_read_is_not_retried() -> None:
    """The run may have finished since it was read: claiming it again would re-run it."""
    finished = {**RUN, "status": {**RUN["status"], "phase": "Succeeded"},
                "metadata": {**RUN["metadata"], "resourceVersion": "9"}}
    api = FakeApi(finished)
    assert asyncio.run(_worker(api).claim(RUN)) is None
    assert (api.patches, api.gets) == (1, 0)


def test_a_write_stops_when_the_run_finished_meanwhile() -> None:
    finished = {**RUN, "status": {**RUN["status"], "phase": "Succeeded"},
                "metadata": {**RUN["metadata"], "resourceVersion": "9"}}
    api = FakeApi(finished)
    handle = RunHandle(api, RUN, "me", 15)  # type: ignore[arg-type]
    try:
        asyncio.run(handle.write({"steps": []}))
    except ClaimLost as exc:
        assert "finished" in str(exc)
    else:
        raise AssertionError("a write to a finished run went through")
    assert api.patches == 1
