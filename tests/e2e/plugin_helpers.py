"""`kubectl flowplane` in-process, as e2e tests call it: what it printed and its exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Plugin = Callable[..., Result]


def ok(result: Result) -> Result:
    assert result.code == 0, result
    return result


def failed(result: Result, *needles: str) -> Result:
    assert result.code == 1, result
    assert result.err.startswith("error: "), result
    for needle in needles:
        assert needle in result.err, (needle, result.err)
    return result
