"""templates: `{{ ... }}` in config/inputs, rendered in a bounded sandbox."""

from __future__ import annotations

import contextlib
import copy
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from flowplane.runtime.templates import MAX_DEPTH, MAX_TEXT, TemplateFailure, render, truthy

CTX: dict[str, Any] = {
    "nodes": {
        "form": {"output": {
            "method": "POST",
            "body": {"email": "a@b.c", "tags": ["x", "y"], "meta": {"n": 1}, "ok": True,
                     "count": 3, "ratio": 0.5, "none": None, "empty": ""},
        }},
        "shape": {"output": {"rows": [{"id": 1}, {"id": 2}]}},
    },
    "run": {"name": "form-to-slack-r7x2k", "namespace": "team-a", "workflow": "form-to-slack",
            "version": 3},
    "loop": {"item": {"id": 7}, "index": 2},
}


def rendered(value: Any) -> Any:
    return render(value, copy.deepcopy(CTX))


# ------------------------------------------------------------------ types


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ nodes.form.output.body.tags }}", ["x", "y"]),
        ("{{ nodes.form.output.body.meta }}", {"n": 1}),
        ("{{ nodes.form.output.body.ok }}", True),
        ("{{ nodes.form.output.body.count }}", 3),
        ("{{ nodes.form.output.body.ratio }}", 0.5),
        ("{{ nodes.form.output.body.none }}", None),
        ("{{ nodes.shape.output.rows }}", [{"id": 1}, {"id": 2}]),
        ("{{ nodes['form'].output['body']['email'] }}", "a@b.c"),
        ("  {{ nodes.form.output.body.tags }}  ", ["x", "y"]),
        ("{{nodes.form.output.body.count}}", 3),
        ("{{ nodes.form.output.body.count + 1 }}", 4),
        ("{{ nodes.form.output.body.tags | length }}", 2),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ {'a': 1} }}", {"a": 1}),
        ("{{ [1, {'a': [2]}] }}", [1, {"a": [2]}]),
        ("{{ run.version }}", 3),
        ("{{ loop.item.id }}", 7),
        ("{{ loop.index }}", 2),
        ("{{ 'a' ~ 1 }}", "a1"),
        ("{{ 1e300 * 1e300 }}", None),
    ],
    ids=["list", "dict", "bool", "int", "float", "null", "list-of-dicts", "subscripts",
         "surrounding-spaces", "no-inner-spaces", "arithmetic", "filter", "tuple-is-list",
         "dict-literal", "nested-literal", "run", "loop-item", "loop-index", "concat",
         "infinity-is-null"],
)
def test_single_template_keeps_its_type(template: str, expected: Any) -> None:
    result = rendered(template)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("New: {{ nodes.form.output.body.email }}", "New: a@b.c"),
        ("{{ nodes.form.output.body.count }} items", "3 items"),
        ("{{ run.workflow }}/{{ run.version }}", "form-to-slack/3"),
        ("{{ nodes.form.output.body.ok }}!", "true!"),
        ("tags={{ nodes.form.output.body.tags }}", 'tags=["x","y"]'),
        ("no templates here", "no templates here"),
        ("", ""),
        ("{ single } and }} and { {", "{ single } and }} and { {"),
        ("{{ '}}' }}", "}}"),
    ],
    ids=["prefix", "suffix", "two-templates", "bool-in-text", "list-in-text", "plain-text",
         "empty", "stray-braces", "braces-in-a-string-literal"],
)
def test_mixed_strings_render_text(template: str, expected: str) -> None:
    assert rendered(template) == expected


def test_render_walks_config_and_leaves_keys_and_scalars_alone() -> None:
    config = {"{{ run.name }}": "{{ run.name }}", "list": ["{{ loop.index }}", 1, None, True],
              "nested": {"deep": {"v": "v{{ loop.index }}"}}, "n": 1.5}
    assert rendered(config) == {"{{ run.name }}": "form-to-slack-r7x2k", "list": [2, 1, None, True],
                                "nested": {"deep": {"v": "v2"}}, "n": 1.5}


def test_render_does_not_change_its_input() -> None:
    config = {"a": ["{{ run.name }}"]}
    rendered(config)
    assert config == {"a": ["{{ run.name }}"]}


# ------------------------------------------------------------------ missing fields


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ nodes.form.output.body.phone == '' }}", True),
        ("{{ nodes.form.output.body.phone == None }}", True),
        ("{{ nodes.form.output.body.phone != '' }}", False),
        ("{{ nodes.form.output.body.email != '' }}", True),
        ("{{ nodes.form.output.body.phone is defined }}", False),
        ("{{ nodes.gone.output.body.a.b.c == '' }}", True),
        ("{{ nodes.form.output.body.phone == 0 }}", False),
        ("{{ nodes.form.output.body.phone | default('n/a') }}", "n/a"),
        ("{{ nodes.form.output.body.phone }}", None),
        ("{{ nodes.gone.output.x.y.z }}", None),
        ("phone: {{ nodes.form.output.body.phone }}.", "phone: ."),
        ("{{ nodes.gone.output.a.b }}{{ nodes.gone.output.c }}", ""),
    ],
    ids=["equals-empty", "equals-none", "not-empty-is-false", "present-not-empty",
         "not-defined", "chains", "not-zero", "default", "single-is-null", "chain-is-null",
         "renders-empty-in-text", "only-missing-text"],
)
def test_missing_fields(template: str, expected: Any) -> None:
    assert rendered(template) == expected


# ------------------------------------------------------------------ truthy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False), ("False ", False), (" FALSE", False), ("0", False), ("", False),
        ("no", False), ("No", False), ("none", False), ("null", False), ("off", False),
        ("  ", False), (False, False), (0, False), (0.0, False), (None, False), ([], False),
        ({}, False),
        ("true", True), ("yes", True), ("1", True), ("x", True), ("0.0", True), ("f", True),
        (True, True), (1, True), (-1, True), ([0], True), ({"a": 0}, True),
    ],
    ids=lambda v: repr(v),
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{{ nodes.form.output.body.email != '' }}", True),
        ("{{ nodes.form.output.body.phone != '' }}", False),
        ("{{ nodes.form.output.body.count > 5 }}", False),
        ("{{ nodes.form.output.body.empty }}", False),
        ("{{ nodes.form.output.body.tags }}", True),
        ("{{ 'false' }}", False),
        ("{{ nodes.form.output.body.ok }}", True),
        ("{{ nodes.form.output.body.missing }}", False),
        ("{{ nodes.form.output.body.ok }} ", True),
        ("{{ false }}", False),
    ],
    ids=["email-given", "phone-missing", "comparison", "empty-string", "non-empty-list",
         "text-false", "bool-true", "missing", "trailing-space", "false"],
)
def test_conditions(condition: str, expected: bool) -> None:
    assert truthy(rendered(condition)) is expected


# ------------------------------------------------------------------ sandbox


@contextlib.contextmanager
def allocating_little() -> Iterator[None]:
    """The block's peak allocation stays under 8x the text limit: a bomb is refused before
    it is built. (Memory, not a clock: it does not depend on how busy the machine is.)"""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_TEXT, f"allocated {peak} bytes at the peak"


def fails(template: Any, context: dict[str, Any] | None = None) -> str:
    context = copy.deepcopy(CTX) if context is None else context
    with allocating_little(), pytest.raises(TemplateFailure) as info:
        render(template, context)
    assert str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        "{{ run.__class__ }}",
        "{{ nodes.__class__.mro() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ self.__init__.__globals__ }}",
        "{{ nodes|attr('__class__') }}",
        "{{ 'x'.__len__() }}",
        "{{ '{0.__class__}'.format(1) }}",
        "text {{ ''.__class__ }} text",
    ],
    ids=["class", "mro-subclasses", "bases-subclasses", "context-class", "mro-call",
         "cycler-globals", "lipsum-globals", "namespace-globals", "self-globals", "attr-filter",
         "dunder-method", "format-string", "in-mixed-text"],
)
def test_python_internals_fail_the_step(template: str) -> None:
    assert "is not allowed" in fails(template)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**8 }}",
        "{{ 10**8 * 'x' }}",
        "{{ [0] * 10**8 }}",
        "{{ 9 ** (10**8) }}",
        "{{ 2 ** -2000 }}",
        "{{ range(10**9)|list }}",
        "{{ range(10**9) }}",
        "x{{ 'x' * 10**8 }}",
        "{{ 'a'|center(2 * 1024 * 1024) }}",
        "{{ 1 / 0 }}",
        "{{ 7 // 0 }}",
        "{{ 'x' * 1.5 }}",
        "{{ }}",
        "{{ nodes. }}",
        "{{ 1 + }}",
        "{{ nodes.form.output.body.tags|nosuchfilter }}",
        "{{ 1e400 }}",
        "{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}",
        "{{ " + "[" * 2000 + "1" + "]" * 2000 + " }}",
        "{{ " + "1+" * 3000 + "1 }}",
        "{{ " + "-" * 3000 + "1 }}",
        "x{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}",
    ],
    ids=["string-repeat", "repeat-reversed", "list-repeat", "power", "negative-power",
         "range-list", "range", "repeat-in-text", "center-over-limit", "div-zero",
         "floordiv-zero", "float-repeat", "empty", "dangling-dot", "dangling-op",
         "unknown-filter", "float-overflow", "deep-parens", "deep-lists", "long-sum",
         "long-negation", "deep-parens-in-text"],
)
def test_bombs_and_errors_fail_the_step_quickly(template: str) -> None:
    fails(template)


def test_left_associative_power_stays_small() -> None:
    # Jinja reads `9 ** 10**8` as (9**10)**8: a bounded number, computed at once.
    with allocating_little():
        assert rendered("{{ 9 ** 10**8 }}") == (9**10) ** 8


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{% for i in range(10) %}x{% endfor %}", "{% for i in range(10) %}x{% endfor %}"),
        ("{{ run.version }} {% for i in range(10) %}x{% endfor %}",
         "3 {% for i in range(10) %}x{% endfor %}"),
        ("{% set x = 1 %}{{ x }}", "{% set x = 1 %}"),
        ("{# a comment #}{{ run.version }}", "{# a comment #}3"),
        ("{%- if true -%}yes{%- endif -%} {{ run.version }}", "{%- if true -%}yes{%- endif -%} 3"),
        ("{% macro m() %}{{ run.name }}{% endmacro %}",
         "{% macro m() %}form-to-slack-r7x2k{% endmacro %}"),
    ],
    ids=["for", "for-after-expression", "set", "comment", "if", "macro"],
)
def test_statements_and_comments_are_literal_text(template: str, expected: str) -> None:
    assert rendered(template) == expected


def nested(depth: int, leaf: Any = "{{ run.version }}", kind: str = "dict") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if kind == "dict" else [value]
    return value


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_config_nesting_limit(kind: str) -> None:
    assert rendered(nested(MAX_DEPTH, kind=kind)) == nested(MAX_DEPTH, 3, kind)
    assert "deeper" in fails(nested(MAX_DEPTH + 1, kind=kind))
    fails(nested(10_000, kind=kind))


def test_deeply_nested_values_from_the_context_fail() -> None:
    ctx = copy.deepcopy(CTX)
    ctx["nodes"]["deep"] = {"output": nested(200, leaf=1)}
    fails("{{ nodes.deep.output }}", ctx)
    assert render("{{ nodes.form.output.body.count }}", ctx) == 3


def test_long_text_results_fail() -> None:
    ctx = copy.deepcopy(CTX)
    ctx["nodes"]["big"] = {"output": "x" * (MAX_TEXT + 1)}
    fails("{{ nodes.big.output }}", ctx)
    fails("a{{ nodes.big.output }}", ctx)
    assert render("{{ 'x' * " + str(MAX_TEXT) + " }}", ctx) == "x" * MAX_TEXT


# ------------------------------------------------------------------ bugs


@pytest.mark.parametrize("key", ["items", "keys", "values", "get", "update", "copy", "pop"])
def test_data_keys_named_like_dict_methods(key: str) -> None:
    ctx = {"nodes": {"form": {"output": {"body": {key: [1, 2]}}}}}
    assert render("{{ nodes.form.output.body." + key + " }}", ctx) == [1, 2]


def test_huge_integer_results_are_json() -> None:
    try:
        result = render("{{ (10 ** 1000) ** 5 }}", {})
    except TemplateFailure:
        return
    json.dumps(result)


def test_nul_prefixed_statements_are_not_executed() -> None:
    template = "{{ 1 }}\x00{% for i in range(3) %}\x00x\x00{% endfor %}\x00"
    result = render(template, {})
    assert "xxx" not in result


@pytest.mark.parametrize("template", [
    "{{ nodes.form.output.body.clear() }}",
    "{{ nodes.form.output.body.tags.pop() }}",
    "{{ nodes.form.output.update({'method': 'GET'}) }}",
])
def test_rendering_never_changes_the_context(template: str) -> None:
    ctx = copy.deepcopy(CTX)
    with contextlib.suppress(TemplateFailure):
        render(template, ctx)
    assert ctx == CTX


def _chars(value: Any, budget: int) -> int:
    """JSON size of `value`, counting no further than `budget`."""
    stack, total = [value], 0
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            stack.extend(item.values())
            total += sum(len(str(k)) + 4 for k in item)
        elif isinstance(item, list):
            stack.extend(item)
            total += len(item) + 1
        else:
            total += 8
    return total


def test_results_are_bounded_in_total() -> None:
    bound = 64 * MAX_TEXT
    try:
        result = render("{{ ['x' * 2**20] * 2**12 }}", {})
    except TemplateFailure:
        return
    assert _chars(result, bound) <= bound


@pytest.mark.parametrize("template", [
    "{{ 'a'|center(2**24) }}",
    "{{ '%0" + str(2**24) + "d' % 1 }}",
    "{{ ('a' * 2**10)|replace('a', 'b' * 2**14) }}",
])
def test_templates_cannot_allocate_far_past_the_text_limit(template: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateFailure):
            render(template, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_TEXT  # generous: 8x the text limit
