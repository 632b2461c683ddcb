"""parse_timestamp: what a status timestamp names, for every text anyone may write there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from flowplane.model.timestamps import format_timestamp, parse_timestamp


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-02T11:00:00Z", datetime(2026, 1, 2, 11, tzinfo=UTC)),
    ("2026-01-02T11:00:00.250Z", datetime(2026, 1, 2, 11, 0, 0, 250000, tzinfo=UTC)),
    ("2026-01-02T12:00:00+01:00",
     datetime(2026, 1, 2, 12, tzinfo=timezone(timedelta(hours=1)))),
    ("2026-01-02T11:00:00", datetime(2026, 1, 2, 11, tzinfo=UTC)),  # no offset: UTC
    (None, None),
    ("", None),
    ("garbage", None),
    ("9999", None),
    ("2026-13-45T99:99:99Z", None),
    ("2026-01-02T11:00:00ZZ", None),
])
def test_parse_timestamp(text: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_the_same_instant_in_two_offsets_compares_equal() -> None:
    utc, cet = parse_timestamp("2026-01-02T11:00:00Z"), parse_timestamp("2026-01-02T12:00:00+01:00")
    assert utc is not None and cet is not None and utc == cet


def test_format_timestamp_writes_what_parse_timestamp_reads() -> None:
    at = datetime(2026, 1, 2, 11, 0, 0, 999999, tzinfo=UTC)
    assert format_timestamp(at) == "2026-01-02T11:00:00Z"  # whole seconds, as the API
    assert parse_timestamp(format_timestamp(at)) == at.replace(microsecond=0)
    now = parse_timestamp(format_timestamp())
    assert now is not None and now.tzinfo is not None
