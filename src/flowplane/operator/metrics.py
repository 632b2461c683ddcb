"""Prometheus metrics of the operator."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PUBLISHES = Counter(
    "flowplane_publishes_total", "Publish outcomes, by result and reason.", ["result", "reason"]
)
DECIDE_SECONDS = Histogram(
    "flowplane_decide_duration_seconds",
    "Time to validate, compile and decide one workflow family (pure, in memory).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RECONCILE_SECONDS = Histogram(
    "flowplane_reconcile_duration_seconds", "One family reconcile, including its API writes."
)
RECONCILE_ERRORS = Counter(
    "flowplane_reconcile_errors_total", "Family reconciles that failed and were retried.",
    ["reason"],
)
WRITES = Counter("flowplane_api_writes_total", "API writes made by the operator.", ["kind", "verb"])
WRITE_ERRORS = Counter(
    "flowplane_api_write_errors_total",
    "API writes the API server refused (not in flowplane_api_writes_total).",
    ["kind", "verb", "code"],
)
WORKFLOWS_BY_PHASE = Gauge("flowplane_workflows", "Workflows by phase.", ["phase"])
QUEUE_DEPTH = Gauge("flowplane_queue_depth", "Families waiting or being reconciled.")

# Known label values start at zero, so rates and alerts (e.g. on rejected publishes or
# conflicts) have a series from the first scrape instead of appearing on the first event.
for _result, _reason in (("Succeeded", "Published"), ("Succeeded", "RolledBack"),
                         ("Rejected", "ValidationFailed"), ("Rejected", "CompileFailed"),
                         ("Rejected", "SafetyPaused"), ("Rejected", "Archived")):
    PUBLISHES.labels(_result, _reason)
RECONCILE_ERRORS.labels("conflict")
