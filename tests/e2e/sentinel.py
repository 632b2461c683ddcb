"""The operator's counters, and checking that nothing more happens without a clock.

"Wait a second, then assert nothing changed" passes on a slow machine for the wrong reason.
Instead these helpers make the operator answer one more request and wait for the answer:
it decides a family one pass at a time, and a pass makes its writes in order (forks before
version statuses) and sends its Events after its writes. So once a later edit of the same
family is answered, whatever the earlier pass was going to write or say has been written
and said.
"""

from __future__ import annotations

import uuid

from bench.common import metric_sum

from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess

SENTINEL_ANNOTATION = "e2e.flowplane.dev/sentinel"


def edit_answered(kube: Kube, version: str, timeout: float = 30.0) -> None:
    """Relabel WorkflowVersion `version` and wait until its status observes that edit."""
    edited = kube.patch("WorkflowVersion", version,
                        {"spec": {"label": f"sentinel {uuid.uuid4().hex[:8]}"}})
    generation = edited["metadata"]["generation"]
    wait_for(lambda: (kube.get("WorkflowVersion", version).get("status") or {})
             .get("observedGeneration", 0) >= generation,
             timeout, f"the operator to answer an edit of {version} (generation {generation})")


def writes_total(proc: OperatorProcess) -> float:
    """API writes the operator has made (flowplane_api_writes_total, every kind and verb)."""
    return metric_sum(proc.metrics(), "flowplane_api_writes_total")


def reconciles_total(proc: OperatorProcess) -> float:
    """Family passes the operator has finished (every outcome but an exception)."""
    return metric_sum(proc.metrics(), "flowplane_reconcile_duration_seconds_count")


def passes_answered(kube: Kube, proc: OperatorProcess, *workflows: str,
                    timeout: float = 30.0) -> None:
    """Touch each Workflow (an annotation: no spec, so nothing to write) and wait until
    `proc` has finished as many family passes after it. For "at rest, nothing is written"
    with `proc` the only operator of the namespace and nothing else moving: each pass sees
    a whole family and must decide there is nothing to do."""
    before = reconciles_total(proc)
    for workflow in workflows:
        kube.patch("Workflow", workflow,
                   {"metadata": {"annotations": {SENTINEL_ANNOTATION: uuid.uuid4().hex}}})
    wait_for(lambda: reconciles_total(proc) >= before + len(workflows), timeout,
             f"{len(workflows)} passes of the operator after touching {', '.join(workflows)}")
