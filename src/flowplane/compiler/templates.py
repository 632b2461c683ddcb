"""Find `{{ ... }}` templates in a node's free-form config/inputs and the nodes they reference.

A reference is `nodes.<id>` or `nodes['<id>']` / `nodes["<id>"]` inside a template.
Only values are scanned (dict keys are names, not rendered). The walk is iterative so
arbitrarily deep JSON cannot exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

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


def strings_in(value: Any, base: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...],
                                                                           str]]:
    """(location, text) of every string inside `value` (dicts/lists of JSON), in a stable order."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, base)]
    while stack:
        item, location = stack.pop()
        if isinstance(item, str):
            yield location, item
        elif isinstance(item, dict):
            # Sorted (then reversed for the stack) so key order in the input never
            # changes the order of the errors.
            for key in sorted(item, key=str, reverse=True):
                stack.append((item[key], (*location, str(key))))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], (*location, index)))


def find_references(value: Any, base: tuple[str | int, ...]) -> Iterator[TemplateRef]:
    """Every node reference in every string inside `value`."""
    for location, text in strings_in(value, base):
        seen: set[str] = set()
        for node_id in references_in_text(text):
            if node_id not in seen:
                seen.add(node_id)
                yield TemplateRef(location, node_id)


# ------------------------------------------------------------------ expressions, as rendered


def _close(text: str, start: int) -> int:
    """Index of the `}}` closing an expression that starts at `start`, outside quotes."""
    quote = ""
    i = start
    while i < len(text) - 1:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "}" and text[i + 1] == "}":
            return i
        i += 1
    return -1


def split_template(text: str) -> Iterator[tuple[str, str | None]]:
    """(literal text, expression body or None) pairs, left to right, exactly as the runtime
    renders them: `{{` opens, the next `}}` outside a quoted string closes, an unclosed
    `{{` is text. Linear on any input."""
    pos = 0
    while True:
        start = text.find("{{", pos)
        end = _close(text, start + 2) if start >= 0 else -1
        if start < 0 or end < 0:
            yield text[pos:], None
            return
        yield text[pos:start], text[start + 2: end]
        pos = end + 2


_PARSER_ENV = Environment(autoescape=False)
MAX_EXPRESSION_CHARS = 4096
"""One `{{ ... }}` may be this long: parsing is linear but not free, and a publish must
not spend seconds on one hostile string. Text outside the braces is not limited."""


@lru_cache(maxsize=8192)
def expression_problem(body: str) -> str | None:
    """Why `body` is not one expression the runtime can evaluate, or None."""
    if not body.strip():
        return "the template is empty"
    if len(body) > MAX_EXPRESSION_CHARS:
        return f"an expression may be at most {MAX_EXPRESSION_CHARS} characters"
    try:
        parser = Parser(_PARSER_ENV, body, state="variable")
        parser.parse_expression()
        if not parser.stream.eos:
            return f"unexpected {parser.stream.current.value!r} after the expression"
    except TemplateSyntaxError as exc:
        return str(exc.message)
    except (RecursionError, MemoryError):
        return "the expression nests too deeply"
    return None


def template_problems(value: Any, base: tuple[str | int, ...]
                      ) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(location, expression, problem) for every template in `value` that cannot render."""
    for location, text in strings_in(value, base):
        if "{{" not in text:
            continue
        for _, body in split_template(text):
            if body is not None:
                problem = expression_problem(body)
                if problem is not None:
                    yield location, body, problem
