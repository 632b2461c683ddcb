"""The `versions` table: rows, ordering, the LIVE marker and kubectl's AGE format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flowplane.cli.table import (
    VERSION_HEADERS,
    age,
    format_table,
    human_duration,
    version_rows,
)

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


def version(n: int, *, phase: str | None = "Draft", label: str = "", created: str | None = None,
            errors: int = 0, forked: int | None = None, name: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"errors": [{"code": "X", "message": "m"}] * errors}
    if phase:
        status["phase"] = phase
    if forked is not None:
        status["forkedFrom"] = forked
    return {
        "metadata": {"name": name or f"wf-v{n}",
                     "creationTimestamp": created or "2026-01-02T11:59:30Z"},
        "spec": {"version": n, "label": label},
        "status": status,
    }


@pytest.mark.parametrize(("seconds", "text"), [
    (-0.5, "0s"), (-3, "<invalid>"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"),
    (150, "2m30s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"),
    (8 * 86400, "8d"), (729 * 86400, "729d"), (2 * 365 * 86400, "2y"),
    (2 * 365 * 86400 + 86400, "2y1d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration_matches_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_age() -> None:
    assert age("2026-01-02T11:00:00Z", NOW) == "60m"
    assert age("garbage", NOW) == "<unknown>"
    assert age(None, NOW) == "<unknown>"


def test_rows_are_ordered_by_number_and_mark_the_live_version() -> None:
    rows = version_rows(
        [version(10, phase="Draft", label="Draft from v2", forked=2),
         version(2, phase="Active", label="Only forms with an email"),
         version(1, phase="Inactive", label="First cut"),
         version(3, phase="Invalid", errors=2)],
        live=2, now=NOW)
    assert [r[0] for r in rows] == ["1", "2", "3", "10"]
    assert rows[1] == ("2", "wf-v2", "Active", "Only forms with an email", "*", "", "0", "30s")
    assert rows[2][2] == "Invalid" and rows[2][6] == "2"
    assert rows[3][5] == "2"
    assert [r[4] for r in rows] == ["", "*", "", ""]


def test_rows_tolerate_missing_status_and_long_labels() -> None:
    bare = version(1, phase=None, label="x" * 100)
    bare.pop("status")
    (row,) = version_rows([bare], live=None, now=NOW)
    assert row[2] == "<pending>"
    assert len(row[3]) == 48 and row[3].endswith("...")
    assert row[4] == "" and row[6] == "0"


def test_format_table_aligns_columns_like_kubectl() -> None:
    rows = version_rows([version(1, label="First cut"), version(12, phase="Active")], live=12,
                        now=NOW)
    lines = format_table(VERSION_HEADERS, rows).splitlines()
    assert lines[0].split() == ["VERSION", "NAME", "PHASE", "LABEL", "LIVE", "FORKED-FROM",
                                "ERRORS", "AGE"]
    # every column starts at the same offset on every line
    start = lines[0].index("NAME")
    assert all(line[start:].startswith(("NAME", "wf-v")) for line in lines)
    assert lines[0].index("PHASE") == lines[1].index("Draft") == lines[2].index("Active")
    assert all(line == line.rstrip() for line in lines)


def test_only_the_live_object_is_marked_when_two_share_a_number() -> None:
    """A duplicate v2 (reported DuplicateVersion by the operator) is not live."""
    from datetime import UTC, datetime

    from flowplane.cli.table import version_rows

    def v(name: str, number: int, phase: str) -> dict[str, object]:
        return {"metadata": {"name": name, "creationTimestamp": "2026-12-02T10:00:00Z"},
                "spec": {"version": number}, "status": {"phase": phase}}

    rows = version_rows([v("wf-v2", 2, "Active"), v("wf-v2-copy", 2, "Draft")], 2,
                        datetime(2026, 12, 2, 10, 1, tzinfo=UTC), live_name="wf-v2")
    assert [(r[1], r[4]) for r in rows] == [("wf-v2", "*"), ("wf-v2-copy", "")]
