"""Durations for `delay` nodes: "30s", "5m", "1h30m", "2d", "250ms" or ISO-8601 ("PT5M")."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DURATION_CHARS = 64

_NUM = r"(\d+(?:\.\d+)?)"
_SHORT = re.compile(rf"^(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m)?(?:{_NUM}s)?(?:{_NUM}ms)?$")
_SHORT_UNITS = (Decimal(86400), Decimal(3600), Decimal(60), Decimal(1), Decimal("0.001"))

_ISO_NUM = r"(\d+(?:[.,]\d+)?)"
_ISO = re.compile(
    rf"^P(?:{_ISO_NUM}W)?(?:{_ISO_NUM}D)?(?:T(?:{_ISO_NUM}H)?(?:{_ISO_NUM}M)?(?:{_ISO_NUM}S)?)?$",
    re.IGNORECASE,
)
_ISO_UNITS = (Decimal(604800), Decimal(86400), Decimal(3600), Decimal(60), Decimal(1))

DURATION_HELP = (
    'use a positive duration like "30s", "5m", "1h30m", "2d", "250ms" or ISO-8601 '
    'like "PT5M" (ISO years and months are calendar-dependent and not supported)'
)


def _total(groups: tuple[str | None, ...], units: tuple[Decimal, ...]) -> Decimal | None:
    if all(g is None for g in groups):
        return None
    total = Decimal(0)
    for value, unit in zip(groups, units, strict=True):
        if value is not None:
            total += Decimal(value.replace(",", ".")) * unit
    return total


def parse_duration(value: Any) -> float | None:
    """Seconds in `value`, or None when it is not a valid positive duration.

    Bare numbers are refused (is `30` seconds or minutes?). Never raises.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_DURATION_CHARS:
        return None
    try:
        total: Decimal | None
        if text[0] in "Pp":
            match = _ISO.match(text)
            if match is None or text.upper().endswith("T"):
                return None
            total = _total(match.groups(), _ISO_UNITS)
        else:
            match = _SHORT.match(text)
            if match is None:
                return None
            total = _total(match.groups(), _SHORT_UNITS)
    except (InvalidOperation, ValueError, OverflowError):
        return None
    if total is None or total <= 0:
        return None
    return float(total)
