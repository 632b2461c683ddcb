"""Condition maths (metav1.Condition semantics): transition times move only on status change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from flowplane.model.resources import Condition

Status = Literal["True", "False", "Unknown"]


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
                reason=want.reason,
                message=want.message,
                lastTransitionTime=now if changed or before is None else before.lastTransitionTime,
                observedGeneration=generation,
            )
        )
    return result


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
