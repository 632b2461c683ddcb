"""The lease policy: when a replica acquires, renews, waits or must stop writing."""

from __future__ import annotations

import pytest

from flowplane.operator.leadership import Action, LeaseRecord, Timings, decide_lease

T = Timings()  # 15 s lease, 10 s renew deadline, 2 s retry


def held(by: str) -> LeaseRecord:
    return LeaseRecord(holder=by, lease_duration_seconds=15, transitions=3,
                       resource_version="7")


@pytest.mark.parametrize(("lease", "observed_at", "now", "last_renewed", "want"), [
    (None, 0.0, 100.0, None, Action.ACQUIRE),                 # no lease yet: create it
    (held(""), 99.0, 100.0, None, Action.ACQUIRE),            # released: take it at once
    (held("other"), 90.0, 100.0, None, Action.WAIT),          # other's lease still fresh
    (held("other"), 85.0, 100.0, None, Action.ACQUIRE),       # unchanged for 15 s: expired
    (held("other"), 85.1, 100.0, None, Action.WAIT),          # just under the duration
    (held("me"), 99.0, 100.0, 98.0, Action.RENEW),            # our lease: keep it
    (held("me"), 99.0, 100.0, None, Action.RENEW),            # ours after a restart
    (held("me"), 99.0, 100.0, 89.0, Action.LOST),             # no renewal in 10 s: stop
    (held("other"), 99.0, 100.0, 98.0, Action.LOST),          # someone took it over
    (None, 0.0, 100.0, 80.0, Action.LOST),                    # stale leader never writes
])
def test_decide_lease(lease: LeaseRecord | None, observed_at: float, now: float,
                      last_renewed: float | None, want: Action) -> None:
    assert decide_lease(lease, observed_at, now, "me", T, last_renewed) == want


def test_lease_duration_of_the_record_wins() -> None:
    """A lease written with a longer duration is honoured by a replica with shorter timings."""
    long = LeaseRecord(holder="other", lease_duration_seconds=60, transitions=0,
                       resource_version="1")
    assert decide_lease(long, 0.0, 30.0, "me", T, None) == Action.WAIT
    assert decide_lease(long, 0.0, 60.0, "me", T, None) == Action.ACQUIRE
