"""Timestamps as the API writes them (RFC 3339, `2026-01-02T03:04:05Z`).

Status fields are anyone's to write, so a timestamp is read, never trusted: text that is
not a time reads as None, and one without an offset as UTC (the API writes only UTC).
Compared as text, a value like "not-a-time" sorts after every real time.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(at: datetime | None = None) -> str:
    """`at` (a UTC time; default: now) as the API writes a time: whole seconds, `Z`."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str | None) -> datetime | None:
    """The time `text` names, timezone-aware, or None if it names none (never raises)."""
    if not text or not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
