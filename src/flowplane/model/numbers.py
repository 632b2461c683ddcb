"""Numbers read from free text (annotations, labels): ASCII digits only, bounded.

`str.isdigit()` is true for "³" (which `int()` refuses, raising) and for "١٢" (which
`int()` reads as 12); an annotation anyone may write must never make a pure function raise.
"""

from __future__ import annotations

import re
from functools import cache


@cache
def _pattern(max_digits: int) -> re.Pattern[str]:
    return re.compile(rf"[0-9]{{1,{max_digits}}}")


def parse_decimal(raw: object, max_digits: int = 16) -> int | None:
    """`raw` as a non-negative integer when it is 1..max_digits ASCII digits, else None."""
    if not isinstance(raw, str) or not _pattern(max_digits).fullmatch(raw):
        return None
    return int(raw)
