"""safety: when the runtime trips a workflow's safety pause (run rate, consecutive failures)."""

from __future__ import annotations

from typing import Any

import pytest

from flowplane.runtime.safety import (
    ANN_MAX_RUNS,
    WINDOW_SECONDS,
    RateWindow,
    rate_limit_for,
    trailing_failures,
)

KEY = ("team-a", "form-to-slack")
OTHER = ("team-a", "other")
T0 = 1_000_000.0


def window_with(*records: tuple[str, float], key: tuple[str, str] = KEY) -> RateWindow:
    window = RateWindow()
    for run, at in records:
        window.record(key, run, at)
    return window


def runs(n: int, start: float = T0, step: float = 0.1) -> list[tuple[str, float]]:
    return [(f"r{i}", start + i * step) for i in range(n)]


# ------------------------------------------------------------------ rate limit edges


@pytest.mark.parametrize(
    ("recorded", "limit", "over"),
    [
        (0, 1, False),
        (0, 3, False),
        (2, 3, False),
        (3, 3, True),
        (4, 3, True),
        (599, 600, False),
        (600, 600, True),
    ],
    ids=["empty-limit-1", "empty", "one-below", "at-the-limit", "over", "599-of-600",
         "600-of-600"],
)
def test_over_at_the_limit_edges(recorded: int, limit: int, over: bool) -> None:
    window = window_with(*runs(recorded))
    now = T0 + 30
    assert window.count(KEY, now) == recorded
    assert window.over(KEY, limit, now) is over


def test_exactly_n_accepted_in_a_window_then_the_next_is_refused() -> None:
    window, limit, accepted = RateWindow(), 5, []
    for i in range(limit + 3):
        now = T0 + i
        if not window.over(KEY, limit, now):
            window.record(KEY, f"r{i}", now)
            accepted.append(i)
    assert accepted == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("age", "counted"),
    [
        (0.0, True),
        (30.0, True),
        (WINDOW_SECONDS - 0.001, True),
        (WINDOW_SECONDS, True),
        (WINDOW_SECONDS + 0.001, False),
        (3600.0, False),
    ],
    ids=["now", "half-a-minute", "just-inside", "exactly-60s", "just-outside", "an-hour"],
)
def test_entries_expire_after_the_window(age: float, counted: bool) -> None:
    window = window_with(("old", T0))
    assert window.count(KEY, T0 + age) == (1 if counted else 0)


def test_a_full_window_frees_up_as_entries_expire() -> None:
    window = window_with(*runs(3, step=10.0))  # at T0, T0+10, T0+20
    assert window.over(KEY, 3, T0 + 30)
    assert window.over(KEY, 3, T0 + 60)
    assert not window.over(KEY, 3, T0 + 60.5)
    assert window.count(KEY, T0 + 75) == 1
    assert window.count(KEY, T0 + 200) == 0


@pytest.mark.parametrize(
    ("since", "count"),
    [
        (0.0, 10),
        (T0, 10),
        (T0 + 0.45, 5),
        (T0 + 0.5, 5),
        (T0 + 0.9, 1),
        (T0 + 5, 0),
    ],
    ids=["no-resume", "resume-at-the-first", "resume-midway", "resume-on-an-entry",
         "resume-before-the-last", "resume-after-all"],
)
def test_since_excludes_runs_before_a_resume(since: float, count: int) -> None:
    window = window_with(*runs(10))  # T0 .. T0+0.9
    assert window.count(KEY, T0 + 1, since) == count
    assert window.over(KEY, 10, T0 + 1, since) is (count + 1 > 10)


def test_a_resume_is_a_clean_start() -> None:
    window = window_with(*runs(600))  # T0 .. T0+59.9: a full minute at the limit
    assert window.over(KEY, 600, T0 + 59.9)
    resumed = T0 + 30.0  # runs accepted before the resume no longer count
    assert window.count(KEY, T0 + 59.9, since=resumed) == 300
    assert not window.over(KEY, 600, T0 + 59.9, since=resumed)
    assert window.count(KEY, T0 + 59.9, since=T0 + 59.95) == 0


def test_duplicate_names_are_counted_once() -> None:
    window = window_with(("r1", T0), ("r1", T0 + 1), ("r2", T0 + 2), ("r1", T0 + 3))
    assert window.count(KEY, T0 + 10) == 2


def test_a_run_seen_by_this_replica_and_then_through_the_cache_counts_once() -> None:
    window = RateWindow()
    window.record(KEY, "r1", T0 + 0.731)  # accepted here (precise time)
    window.record(KEY, "r1", T0)  # the informer: creationTimestamp, whole seconds
    assert window.count(KEY, T0 + 1) == 1


def test_out_of_order_records_expire_in_time_order() -> None:
    window = window_with(("late-new", T0 + 50), ("early", T0), ("mid", T0 + 20),
                         ("newest", T0 + 55))
    assert window.count(KEY, T0 + 55) == 4
    assert window.count(KEY, T0 + 70) == 3  # only "early" expired
    assert window.count(KEY, T0 + 85) == 2
    assert window.count(KEY, T0 + 112) == 1
    assert window.count(KEY, T0 + 116) == 0


def test_a_late_old_record_does_not_hide_newer_ones() -> None:
    window = window_with(("new", T0 + 100), ("stale", T0))
    assert window.count(KEY, T0 + 100) == 1
    window.record(KEY, "newer", T0 + 101)
    assert window.count(KEY, T0 + 101) == 2


def test_workflows_are_counted_apart() -> None:
    window = window_with(*runs(3))
    window.record(OTHER, "o1", T0)
    assert window.count(KEY, T0 + 1) == 3
    assert window.count(OTHER, T0 + 1) == 1
    assert window.count(("team-b", "form-to-slack"), T0 + 1) == 0


def test_same_run_name_in_two_namespaces_counts_in_both() -> None:
    # schedule runs are named <workflow>-s<tick>: the same in every namespace
    window = RateWindow()
    window.record(("team-a", "nightly"), "nightly-s1700000000", T0)
    window.record(("team-b", "nightly"), "nightly-s1700000000", T0)
    assert window.count(("team-b", "nightly"), T0 + 1) == 1


# ------------------------------------------------------------------ consecutive failures

A = "2026-12-02T10:00:0"


@pytest.mark.parametrize(
    ("finished", "since", "count"),
    [
        ([], "", 0),
        ([(A + "1Z", "Failed")], "", 1),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed"), (A + "3Z", "Failed")], "", 3),
        ([(A + "1Z", "Failed"), (A + "2Z", "Succeeded"), (A + "3Z", "Failed")], "", 1),
        ([(A + "3Z", "Succeeded"), (A + "1Z", "Failed"), (A + "2Z", "Failed")], "", 0),
        ([(A + "3Z", "Failed"), (A + "1Z", "Failed"), (A + "2Z", "Failed")], "", 3),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed"), (A + "3Z", "Failed")], A + "2Z", 2),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed"), (A + "3Z", "Failed")], A + "4Z", 0),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed"), (A + "3Z", "Failed")], A + "0Z", 3),
        ([(A + "1Z", "Succeeded"), (A + "2Z", "Failed")], A + "0Z", 1),
        ([("2026-12-02T10:00:01.250Z", "Failed"), ("2026-12-02T10:00:01.500Z", "Failed"),
          ("2026-12-02T10:00:02.000Z", "Failed")], "", 3),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed"), (A + "3Z", "Failed")], "not-a-time", 3),
        ([(A + "1Z", "Failed"), (A + "2Z", "Failed")], "9999", 2),
        ([(A + "1.250Z", "Succeeded"), (A + "1Z", "Failed")], "", 0),
        ([(A + "2Z", "Failed"), (A + "1Z", "Failed")], "2026-12-02T11:00:01+01:00", 2),
        ([("garbage", "Succeeded"), (A + "1Z", "Failed")], "", 1),
    ],
    ids=["none", "one", "three", "success-breaks-the-streak", "newest-succeeded",
         "unsorted-input", "since-cuts-off", "all-before-resume", "all-after-resume",
         "success-before-failure", "milliseconds", "since-no-time", "since-a-bare-year",
         "milliseconds-after-whole-seconds", "since-in-another-offset",
         "finished-no-time-is-oldest"],
)
def test_trailing_failures(finished: list[tuple[str, str]], since: str, count: int) -> None:
    assert trailing_failures(finished, since) == count


def test_trailing_failures_takes_any_iterable() -> None:
    assert trailing_failures(iter([(A + "1Z", "Failed"), (A + "2Z", "Failed")])) == 2


# ------------------------------------------------------------------ per-namespace limit


@pytest.mark.parametrize(
    ("annotations", "limit"),
    [
        (None, 600),
        ({}, 600),
        ({"other": "5"}, 600),
        ({ANN_MAX_RUNS: "5"}, 5),
        ({ANN_MAX_RUNS: " 7 "}, 7),
        ({ANN_MAX_RUNS: "1"}, 1),
        ({ANN_MAX_RUNS: "100000"}, 100000),
        ({ANN_MAX_RUNS: "0"}, 600),
        ({ANN_MAX_RUNS: "-5"}, 600),
        ({ANN_MAX_RUNS: "5.5"}, 600),
        ({ANN_MAX_RUNS: "five"}, 600),
        ({ANN_MAX_RUNS: ""}, 600),
        ({ANN_MAX_RUNS: "1e3"}, 600),
        ({ANN_MAX_RUNS: "+5"}, 600),
        ({ANN_MAX_RUNS: "0x10"}, 600),
    ],
    ids=["no-namespace", "no-annotations", "other-annotation", "override", "spaces", "one",
         "large", "zero", "negative", "float", "word", "blank", "exponent", "plus", "hex"],
)
def test_rate_limit_for(annotations: Any, limit: int) -> None:
    assert rate_limit_for(600, annotations) == limit


@pytest.mark.parametrize("value", ["²", "9" * 5000], ids=["superscript", "5000-digits"])
def test_rate_limit_for_garbage_falls_back(value: str) -> None:
    assert rate_limit_for(600, {ANN_MAX_RUNS: value}) == 600
