"""When the runtime trips a workflow's safety pause (pure counters, no I/O).

Run rate: runs accepted per workflow in the last 60 s, counting every replica's runs
(each replica sees the others' through its run cache, deduplicated by name). Only runs
accepted after the last resume count, so a resume is a clean start.
Consecutive failures: the newest finished runs of the workflow, all Failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flowplane.model.numbers import parse_decimal
from flowplane.model.timestamps import parse_timestamp

WINDOW_SECONDS = 60.0
ANN_MAX_RUNS = "flowplane.dev/max-runs-per-minute"
RUN_RATE_EXCEEDED = "RunRateExceeded"
CONSECUTIVE_FAILURES = "ConsecutiveFailures"
_DAWN = datetime.min.replace(tzinfo=UTC)
"""Where a finishedAt that names no time sorts: before every run."""


def rate_limit_for(default: int, namespace_annotations: Mapping[str, str] | None) -> int:
    """The tenant's limit from its Namespace annotation; anything unreadable keeps the default."""
    limit = parse_decimal(str((namespace_annotations or {}).get(ANN_MAX_RUNS, "")).strip(), 9)
    return limit if limit is not None and limit >= 1 else default


@dataclass
class RateWindow:
    """Accepted runs per workflow over a sliding minute."""

    window: float = WINDOW_SECONDS
    _times: dict[tuple[str, str], deque[tuple[float, str]]] = field(default_factory=dict)
    _seen: set[tuple[tuple[str, str], str]] = field(default_factory=set)
    """(workflow key, run name): run names are unique per namespace, not across them."""

    def _trim(self, key: tuple[str, str], now: float, since: float) -> deque[tuple[float, str]]:
        times = self._times.setdefault(key, deque())
        floor = max(now - self.window, since)
        while times and times[0][0] < floor:
            self._seen.discard((key, times.popleft()[1]))
        return times

    def count(self, key: tuple[str, str], now: float, since: float = 0.0) -> int:
        # Entries are kept in time order and trimmed below max(window start, since).
        return len(self._trim(key, now, since))

    def record(self, key: tuple[str, str], run: str, at: float) -> None:
        if (key, run) in self._seen:
            return
        self._seen.add((key, run))
        times = self._times.setdefault(key, deque())
        times.append((at, run))
        if len(times) > 1 and times[-2][0] > at:  # seen late from another replica
            self._times[key] = deque(sorted(times))

    def over(self, key: tuple[str, str], limit: int, now: float, since: float = 0.0) -> bool:
        """Accepting one more run now would exceed `limit` per window."""
        return self.count(key, now, since) + 1 > limit


def trailing_failures(finished: Iterable[tuple[str, str]], since: str = "") -> int:
    """How many of the newest finished runs failed in a row: (finishedAt, phase) pairs.

    Times are compared as times: status.safety.resumedAt (`since`) is anyone's to write,
    and compared as text a value like "not-a-time" sorted after every run, so no failure
    counted and the pause could never trip. A `since` that names no time cuts off nothing.
    """
    since_at = parse_timestamp(since)
    count = 0
    for at, phase in sorted(((parse_timestamp(f) or _DAWN, p) for f, p in finished),
                            reverse=True):
        if since_at is not None and at < since_at:
            break
        if phase != "Failed":
            break
        count += 1
    return count
