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

TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
REFERENCE_RE = re.compile(
    r"""(?<![\w.$])nodes\s*(?:\.\s*([\w-]+)|\[\s*(?:'([^']*)'|"([^"]*)")\s*\])"""
)


@dataclass(frozen=True)
class TemplateRef:
    """`node_id` is referenced from the string at `location` (path parts below the node)."""

    location: tuple[str | int, ...]
    node_id: str


def references_in_text(text: str) -> list[str]:
    """Node ids referenced by the templates in one string, in order of appearance."""
    if "{{" not in text:
        return []
    found: list[str] = []
    for template in TEMPLATE_RE.finditer(text):
        for ref in REFERENCE_RE.finditer(template.group(1)):
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
            # Reverse so that popping visits keys in their natural (sorted) order.
            for key in reversed(list(item)):
                stack.append((item[key], (*location, str(key))))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], (*location, index)))
