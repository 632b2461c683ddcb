"""Pure formatting of the `versions` table, kubectl style."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flowplane.model.timestamps import parse_timestamp

VERSION_HEADERS = ("VERSION", "NAME", "PHASE", "LABEL", "LIVE", "FORKED-FROM", "ERRORS", "AGE")
MAX_LABEL = 48


def human_duration(seconds: float) -> str:
    """kubectl's AGE format (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    if int(seconds) < -1:  # up to a second of clock skew still reads as "now"
        return "<invalid>"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = (s % 3600) // 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years = hours // (24 * 365)
    if years < 8:
        days = (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def age(created: str | None, now: datetime) -> str:
    when = parse_timestamp(created)
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


_WHITESPACE = re.compile(r"\s+")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean(text: str, width: int) -> str:
    """`text` made safe for one table cell: whitespace runs (newlines, tabs) become one
    space; other control, format (bidi overrides), private-use and unassigned characters
    become `?`, so an object cannot move the cursor or recolour the terminal; then cut
    to `width` with `...`."""
    text = _WHITESPACE.sub(" ", text).strip()
    text = "".join("?" if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch
                   for ch in text)
    return _truncate(text, width)


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def version_number(obj: Mapping[str, Any]) -> int | None:
    spec = obj.get("spec")
    number = spec.get("version") if isinstance(spec, Mapping) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def version_rows(
    versions: Sequence[Mapping[str, Any]], live: int | None, now: datetime,
    live_name: str | None = None,
) -> list[tuple[str, ...]]:
    """One row per version, ordered by number (then name), for VERSION_HEADERS.

    LIVE marks one object: the workflow's `activeVersionName` when it has one, so of two
    objects that carry the same number (a duplicate) only the live one is marked.
    """

    def key(obj: Mapping[str, Any]) -> tuple[int, str]:
        number = version_number(obj)
        return (number if number is not None else -1, str(obj.get("metadata", {}).get("name")))

    rows: list[tuple[str, ...]] = []
    for obj in sorted(versions, key=key):
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = _status(obj)
        number = version_number(obj)
        forked = status.get("forkedFrom")
        errors = status.get("errors") or []
        rows.append((
            str(number) if number is not None else "?",
            str(meta.get("name", "")),
            str(status.get("phase") or "<pending>"),
            clean(str(spec.get("label") or ""), MAX_LABEL),
            "*" if (str(meta.get("name", "")) == live_name if live_name
                    else live is not None and number == live) else "",
            str(forked) if forked is not None else "",
            str(len(errors)) if isinstance(errors, list) else "?",
            age(meta.get("creationTimestamp"), now),
        ))
    return rows


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, as `kubectl get` prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (tuple(headers), *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)
