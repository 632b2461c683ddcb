"""Condition maths (metav1.Condition semantics): transition times move only on status change."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from flowplane.model.resources import Condition

Status = Literal["True", "False", "Unknown"]

# metav1.Condition's bounds: the API server refuses a status that breaks any of them, and
# a refused status write must never stop a decision (a safety pause would fail open).
REASON_MAX = 1024
MESSAGE_MAX = 32768
_REASON_BAD = re.compile(r"[^A-Za-z0-9_,:]")


def safe_reason(text: str, fallback: str = "Unknown") -> str:
    """`text` as a valid metav1.Condition reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$."""
    reason = _REASON_BAD.sub("_", text[:REASON_MAX])
    reason = reason.lstrip("0123456789_,:").rstrip(",:")
    return reason or fallback


def safe_message(text: str, most: int = MESSAGE_MAX) -> str:
    """`text` cut to at most `most` characters (an ellipsis marks the cut)."""
    return text if len(text) <= most else text[: most - 1] + "\u2026"


@dataclass(frozen=True)
class Desired:
    """A condition as decided, before its transition time is known."""

    type: str
    status: Status
    reason: str
    message: str = ""

    @classmethod
    def of(cls, type_: str, ok: bool, reason: str, message: str = "") -> Desired:
        return cls(type_, "True" if ok else "False", reason, message)


def merge_conditions(
    existing: Sequence[Condition],
    desired: Iterable[Desired],
    *,
    now: str,
    generation: int | None,
) -> list[Condition]:
    """Build the new condition list, keeping lastTransitionTime when the status did not change."""
    previous = {c.type: c for c in existing}
    result: list[Condition] = []
    for want in desired:
        before = previous.get(want.type)
        changed = before is None or before.status != want.status
        result.append(
            Condition(
                type=want.type,
                status=want.status,
                reason=safe_reason(want.reason),
                message=safe_message(want.message),
                lastTransitionTime=now if changed or before is None else before.lastTransitionTime,
                observedGeneration=generation,
            )
        )
    return result
