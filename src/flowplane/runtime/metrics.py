"""Prometheus metrics of the runtime (served on --metrics-port)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RUNS_STARTED = Counter("flowplane_runtime_runs_started_total",
                       "Runs created by this replica, by trigger", ["trigger"])
RUNS_FINISHED = Counter("flowplane_runtime_runs_finished_total",
                        "Runs this replica executed to the end, by phase", ["phase"])
STEP_DURATION = Histogram("flowplane_runtime_step_duration_seconds",
                          "Time one step took, by node type", ["type"],
                          buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                   60, 300))
EVENTS_REFUSED = Counter("flowplane_runtime_events_refused_total",
                         "Events answered without a run, by reason", ["reason"])
RUNS_TAKEN_OVER = Counter("flowplane_runtime_runs_taken_over_total",
                          "Runs resumed from another replica's stale claim")
SAFETY_TRIPS = Counter("flowplane_runtime_safety_trips_total",
                       "Safety pauses this replica tripped, by reason", ["reason"])
