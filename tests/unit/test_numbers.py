"""Numbers in annotations anyone may write: ASCII digits or nothing, never an exception."""

from __future__ import annotations

import pytest

from flowplane.model.numbers import parse_decimal
from flowplane.reconcile.settings import Settings, tenant_settings
from flowplane.reconcile.snapshot import ANN_FORKED_FROM, Meta, VersionObj


@pytest.mark.parametrize(("raw", "expected"), [
    ("3", 3), ("0", 0), ("0042", 42), ("9" * 16, int("9" * 16)),
    ("9" * 17, None), ("", None), (" 3", None), ("3 ", None), ("-3", None), ("+3", None),
    ("3.0", None), ("\u00b3", None), ("\u0661\u0662", None), ("\uff11\uff12", None),
    ("0x10", None), (None, None),
    (3, None),
], ids=repr)
def test_parse_decimal(raw: object, expected: int | None) -> None:
    assert parse_decimal(raw) == expected


def test_a_superscript_max_nodes_annotation_is_reported_not_raised() -> None:
    settings, problems = tenant_settings(Settings(), {"flowplane.dev/max-nodes": "³"})
    assert settings == Settings()
    assert problems and "not a positive integer" in problems[0]


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), ("\u00b3", None)])
def test_the_forked_from_annotation(raw: str, expected: int | None) -> None:
    version = VersionObj.__new__(VersionObj)
    object.__setattr__(version, "meta", Meta(name="v", namespace="ns",
                                             annotations={ANN_FORKED_FROM: raw}))
    assert version.forked_from == expected
