"""Render `{{ ... }}` templates in a node's config/inputs, in a sandbox (pure).

Jinja2's SandboxedEnvironment refuses attribute access to Python internals
(`__class__`, `__globals__`, ...). On top of it: only expressions are allowed (`{% %}`
blocks and `{# #}` comments are plain text, so no loops to burn CPU), `*` and `**` are
bounded so no template can allocate gigabytes, and every result is cut to plain JSON
of bounded size. A string that is exactly one template keeps the expression's type
(`"{{ nodes.form.output.body.items }}"` is a list, as in Argo and Ansible); any other
string renders to text. A field that does not exist is *missing*: it renders as "" and
equals "" and None, so `{{ nodes.form.output.body.email != '' }}` is false when the
form has no email field.

Rendering never raises anything but TemplateFailure; the caller fails the step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Undefined
from jinja2.sandbox import SandboxedEnvironment

from flowplane.compiler.templates import templates_in_text

MAX_TEXT = 1024 * 1024
"""Characters a rendered string (or a `*`-repeated string/list) may have."""
MAX_DEPTH = 64
"""Nesting of config/inputs the renderer walks; deeper values fail the step."""
MAX_POWER = 1000
TEMPLATE_ERROR = "TemplateError"


class TemplateFailure(Exception):
    """A template could not be rendered; `str(exc)` says which and why."""


class Missing(ChainableUndefined):
    """A field that is not there: renders as "", equals "" and None, chains (`a.b.c`)."""

    def __eq__(self, other: object) -> bool:
        return other is None or other == "" or isinstance(other, Undefined)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return 0


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja2 returns an Undefined that only fails when printed; a probe of Python's
        # internals fails the step at once instead of rendering as an empty value.
        raise TemplateFailure(f"access to attribute {attribute!r} of a "
                              f"{type(obj).__name__} is not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if _size(seq) and isinstance(count, int) and _size(seq) * count > MAX_TEXT:
                    raise TemplateFailure(f"a repetition over {MAX_TEXT} items is not allowed")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise TemplateFailure(f"an exponent over {MAX_POWER} is not allowed")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(
    undefined=Missing,
    autoescape=False,
    # Statements and comments are switched off: their delimiters cannot occur in JSON text.
    block_start_string="\x00{%",
    block_end_string="%}\x00",
    comment_start_string="\x00{#",
    comment_end_string="#}\x00",
    cache_size=0,
)


@lru_cache(maxsize=4096)
def _expression(body: str) -> Any:
    return _ENV.compile_expression(body, undefined_to_none=False)


@lru_cache(maxsize=4096)
def _template(text: str) -> Any:
    return _ENV.from_string(text)


def _single_template(text: str) -> str | None:
    """The body when `text` is exactly one `{{ ... }}` (surrounding spaces allowed)."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    bodies = list(templates_in_text(stripped))
    if len(bodies) != 1 or len(bodies[0]) + 4 != len(stripped):
        return None
    return bodies[0]


def to_json(value: Any, depth: int = 0) -> Any:
    """A template result as plain, bounded JSON (Undefined -> None, sets -> lists, ...)."""
    if depth > MAX_DEPTH:
        raise TemplateFailure(f"a value nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Undefined):
        return None
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise TemplateFailure(f"a rendered value of over {MAX_TEXT} characters")
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset):
        items = list(value)
        if len(items) > MAX_TEXT:
            raise TemplateFailure(f"a rendered list of over {MAX_TEXT} items")
        return [to_json(v, depth + 1) for v in items]
    return to_json(str(value), depth)


def render_text(text: str, context: Mapping[str, Any]) -> Any:
    if "{{" not in text:
        return text
    try:
        body = _single_template(text)
        if body is not None:
            return to_json(_expression(body)(**context))
        rendered = _template(text).render(**context)
    except TemplateFailure:
        raise
    except RecursionError:
        raise TemplateFailure(f"template {_show(text)} nests too deeply") from None
    except MemoryError:
        raise TemplateFailure(f"template {_show(text)} needs too much memory") from None
    except Exception as exc:  # SecurityError, TypeError, ZeroDivisionError, syntax errors, ...
        raise TemplateFailure(f"template {_show(text)}: {type(exc).__name__}: {exc}") from None
    return to_json(rendered)


def render(value: Any, context: Mapping[str, Any], depth: int = 0) -> Any:
    """`value` (config/inputs JSON) with every string rendered; keys are names, not templates."""
    if depth > MAX_DEPTH:
        raise TemplateFailure(f"config nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return render_text(value, context)
    if isinstance(value, Mapping):
        return {str(k): render(v, context, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, depth + 1) for v in value]
    return value


_FALSE_TEXT = frozenset({"", "false", "0", "no", "none", "null", "off"})


def truthy(value: Any) -> bool:
    """A rendered condition's truth: text like "false" or "0" is false, as YAML reads it."""
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_TEXT
    return bool(value)


def _show(text: str, limit: int = 80) -> str:
    shown = json.dumps(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
