"""Render `{{ ... }}` templates in a node's config/inputs, in a sandbox (pure).

Only expressions are evaluated, each on Jinja2's ImmutableSandboxedEnvironment: no
attribute access to Python internals, no method that changes data (a template cannot
rewrite an earlier step's recorded output), and no statements at all: the text around
the `{{ }}` is copied as is, never parsed as a template, so `{% for %}` is plain text.
On top of the sandbox, every operation that could allocate without bound is checked
before it runs (`*` and `**` by the size of their result, `%`-formatting and the
widths given to filters and string methods), and every result is cut to plain JSON
within a total budget.

A string that is exactly one template keeps the expression's type
(`"{{ nodes.form.output.body.items }}"` is a list, as in Argo and Ansible; a key of a
mapping wins over a method of the same name). In any other string each value is
written as text: strings as they are, numbers as digits, `true`/`false`, lists and
mappings as JSON, and missing values or null as nothing. A field that does not exist is
*missing*: it equals "" and None, so `{{ nodes.form.output.body.email != '' }}` is false
when the form has no email field.

Rendering never raises anything but TemplateFailure; the caller fails the step.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flowplane.compiler.templates import split_template

MAX_TEXT = 1024 * 1024
"""Characters a rendered string (or a `*`-repeated string/list) may have."""
MAX_RESULT = 4 * MAX_TEXT
"""Approximate JSON characters one rendered value may take in all."""
MAX_DEPTH = 64
"""Nesting of config/inputs the renderer walks; deeper values fail the step."""
MAX_INT_BITS = 1024
"""Integers past this (about 1e308) are refused: nothing real needs them, and
arithmetic on huge integers is the one CPU cost an expression has no other bound on."""
MAX_POWER = 1000
TEMPLATE_ERROR = "TemplateError"
_HUGE_WIDTH = re.compile(r"\d{7,}")
"""A run of 7+ digits in a format string is a width of a million or more."""


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


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) \
            and value.bit_length() > MAX_INT_BITS:
        raise TemplateFailure(f"an integer over {MAX_INT_BITS} bits is not allowed")


def _check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Widths and counts given to filters and methods stay within the text limit."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TEXT:
            raise TemplateFailure(f"an argument of {value} is over the {MAX_TEXT} limit")


def _check_format(template: Any) -> None:
    if isinstance(template, str) and _HUGE_WIDTH.search(template):
        raise TemplateFailure("a format width of a million or more is not allowed")


def _estimate(value: Any, budget: int) -> int:
    """JSON characters of `value`, counting no further than `budget` (never raises)."""
    stack, total = [value], 0
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            stack.extend(item.values())
            total += sum(len(str(k)) + 4 for k in item)
        elif isinstance(item, list | tuple):
            stack.extend(item)
            total += len(item) + 1
        else:
            total += 8
    return total


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja2 returns an Undefined that only fails when printed; a probe of Python's
        # internals fails the step at once instead of rendering as an empty value.
        raise TemplateFailure(f"access to attribute {attribute!r} of a "
                              f"{type(obj).__name__} is not allowed")

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data first: `body.items` is the form's "items" field, not dict.items.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if _size(seq) and isinstance(count, int) and (
                        _size(seq) * count > MAX_TEXT
                        or _estimate(seq, MAX_RESULT) * count > MAX_RESULT):
                    raise TemplateFailure(f"a repetition over {MAX_TEXT} items is not allowed")
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise TemplateFailure(f"an integer over {MAX_INT_BITS} bits is not allowed")
        if operator == "**" and isinstance(right, int | float) and isinstance(left, int | float):
            if abs(right) > MAX_POWER:
                raise TemplateFailure(f"an exponent over {MAX_POWER} is not allowed")
            magnitude = abs(left)
            bits = math.log2(magnitude) * right if magnitude > 1 and right > 0 else 0.0
            if bits > MAX_INT_BITS:
                raise TemplateFailure(f"an integer over {MAX_INT_BITS} bits is not allowed")
        if operator == "%":
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        _check_int(result)
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        receiver = getattr(__obj, "__self__", None)
        if isinstance(receiver, str):
            _check_call(name, receiver, args, kwargs)
        else:
            _check_args(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _text_size(items: Any) -> int:
    return sum(len(str(i)) for i in items) if isinstance(items, list | tuple) else 0


def _check_call(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a filter or string method whose result would pass the text limit, before it
    allocates: `value` is the filter's input or the method's string."""
    _check_args(args, kwargs)
    text = value if isinstance(value, str) else ""
    first = args[0] if args else None
    estimate = 0
    if name in ("format", "format_map"):
        _check_format(text)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            hits = len(text) + 1 if not old else text.count(old)
            estimate = len(text) + hits * max(0, len(new) - len(old))
    elif name == "join":
        # method: sep.join(items); filter: items|join(sep)
        items, sep = (first, text) if isinstance(value, str) else (value, first)
        count = len(items) if isinstance(items, list | tuple) else 0
        estimate = _text_size(items) + count * len(str(sep or ""))
    elif name == "indent":
        width = first if isinstance(first, int) else len(str(first or "    "))
        estimate = len(text) + (text.count("\n") + 1) * width
    elif name == "expandtabs":
        size = first if isinstance(first, int) else 8
        estimate = len(text) + text.count("\t") * size
    if estimate > MAX_TEXT:
        raise TemplateFailure(f"{name} would make over {MAX_TEXT} characters")


def _guarded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(fn, "jinja_pass_arg", None)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        values = args[1:] if passes is not None else args  # drop the context/environment
        if values:
            _check_call(name, values[0], tuple(values[1:]), kwargs)
        result = fn(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_TEXT:
            raise TemplateFailure(f"filter {name} made over {MAX_TEXT} characters")
        return result

    if passes is not None:
        guarded.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return guarded


_ENV = _Sandbox(undefined=Missing, autoescape=False, cache_size=0)
_ENV.filters = {name: _guarded_filter(name, fn) for name, fn in _ENV.filters.items()}


@lru_cache(maxsize=4096)
def _expression(body: str) -> Any:
    return _ENV.compile_expression(body, undefined_to_none=False)


def _single_template(text: str) -> str | None:
    """The body when `text` is exactly one `{{ ... }}` (surrounding spaces allowed)."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    parts = list(split_template(stripped))
    if len(parts) != 2 or parts[0] != ("", parts[0][1]) or parts[1] != ("", None):
        return None
    return parts[0][1]


def to_json(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A template result as plain, bounded JSON (Undefined -> None, sets -> lists, ...)."""
    left = budget if budget is not None else [MAX_RESULT]
    if depth > MAX_DEPTH:
        raise TemplateFailure(f"a value nested deeper than {MAX_DEPTH} levels")
    left[0] -= 8
    if left[0] < 0:
        raise TemplateFailure(f"a rendered value of over {MAX_RESULT} characters of JSON")
    if isinstance(value, Undefined):
        return None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        _check_int(value)
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise TemplateFailure(f"a rendered value of over {MAX_TEXT} characters")
        left[0] -= len(value)
        if left[0] < 0:
            raise TemplateFailure(f"a rendered value of over {MAX_RESULT} characters of JSON")
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v, depth + 1, left) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset):
        if len(value) > MAX_TEXT:
            raise TemplateFailure(f"a rendered list of over {MAX_TEXT} items")
        return [to_json(v, depth + 1, left) for v in value]
    return to_json(str(value), depth, left)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _evaluate(body: str, context: Mapping[str, Any]) -> Any:
    return to_json(_expression(body)(**context))


def render_text(text: str, context: Mapping[str, Any]) -> Any:
    if "{{" not in text:
        return text
    try:
        body = _single_template(text)
        if body is not None:
            return _evaluate(body, context)
        pieces: list[str] = []
        size = 0
        for literal, expr in split_template(text):
            pieces.append(literal)
            if expr is not None:
                pieces.append(_as_text(_evaluate(expr, context)))
            size += len(pieces[-1]) + len(literal)
            if size > MAX_TEXT:
                raise TemplateFailure(f"a rendered value of over {MAX_TEXT} characters")
        return "".join(pieces)
    except TemplateFailure:
        raise
    except RecursionError:
        raise TemplateFailure(f"template {_show(text)} nests too deeply") from None
    except MemoryError:
        raise TemplateFailure(f"template {_show(text)} needs too much memory") from None
    except Exception as exc:  # SecurityError, TypeError, ZeroDivisionError, syntax errors, ...
        raise TemplateFailure(f"template {_show(text)}: {type(exc).__name__}: {exc}") from None


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
