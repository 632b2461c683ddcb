"""Find `{{ ... }}` templates in a node's free-form config/inputs and the nodes they reference.

A reference is `nodes.<id>` or `nodes['<id>']` / `nodes["<id>"]` inside a template.
Only values are scanned (dict keys are names, not rendered). The walk is iterative so
arbitrarily deep JSON cannot exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

REFERENCE_RE = re.compile(
    r"""(?<![\w.$])nodes\s*(?:\.\s*([\w-]+)|\[\s*(?:'([^']*)'|"([^"]*)")\s*\])"""
)


@dataclass(frozen=True)
class TemplateRef:
    """`node_id` is referenced from the string at `location` (path parts below the node)."""

    location: tuple[str | int, ...]
    node_id: str


def templates_in_text(text: str) -> Iterator[str]:
    """The bodies of the `{{ ... }}` templates in `text`, left to right.

    Same matches as the regex `{{(.*?)}}`, but linear: a regex scan restarts at every
    `{{`, which is quadratic on hostile strings like `"{{" * 100_000`.
    """
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return
        end = text.find("}}", start + 2)
        if end < 0:
            return  # no later `{{` can be closed either
        yield text[start + 2 : end]
        pos = end + 2


def references_in_text(text: str) -> list[str]:
    """Node ids referenced by the templates in one string, in order of appearance."""
    if "{{" not in text:
        return []
    found: list[str] = []
    for body in templates_in_text(text):
        for ref in REFERENCE_RE.finditer(body):
            found.append(next(g for g in ref.groups() if g is not None))
    return found


def find_references(value: Any, base: tuple[str | int, ...]) -> Iterator[TemplateRef]:
    """Every node reference in every string inside `value` (dicts/lists of JSON)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, base)]
    while stack:
        item, location = stack.pop()
        if isinstance(item, str):
            seen: set[str] = set()
            for node_id in references_in_text(item):
                if node_id not in seen:
                    seen.add(node_id)
                    yield TemplateRef(location, node_id)
        elif isinstance(item, dict):
            # Sorted (then reversed for the stack) so key order in the input never
            # changes the order of the errors.
            for key in sorted(item, key=str, reverse=True):
                stack.append((item[key], (*location, str(key))))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], (*location, index)))
