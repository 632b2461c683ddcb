"""The compile cache: an exact key, a bound, and no change to any result."""

from __future__ import annotations

from flowplane.compiler import PlanLimits, compile_graph
from flowplane.reconcile.compile_cache import CompileCache
from tests.unit.fakeworld import broken_graph, simple_graph

LIMITS = PlanLimits()


def test_the_same_generation_is_compiled_once() -> None:
    cache = CompileCache()
    first = cache.compile("u1", 1, simple_graph("a"), LIMITS)
    again = cache.compile("u1", 1, simple_graph("a"), LIMITS)
    assert again is first and (cache.hits, cache.misses) == (1, 1)
    assert first == compile_graph(simple_graph("a"), LIMITS)


def test_a_new_generation_uid_or_limit_compiles_again() -> None:
    cache = CompileCache()
    ok = cache.compile("u1", 1, simple_graph("a"), LIMITS)
    assert ok.ok
    assert not cache.compile("u1", 2, broken_graph(), LIMITS).ok  # the spec changed
    assert not cache.compile("u2", 1, broken_graph(), LIMITS).ok  # recreated: another uid
    tight = PlanLimits(max_nodes=1)
    assert cache.compile("u1", 1, simple_graph("a"), tight).limit_exceeded  # tenant limit
    assert cache.misses == 4 and cache.hits == 0


def test_objects_without_identity_are_never_cached() -> None:
    cache = CompileCache()
    cache.compile("", 1, simple_graph(), LIMITS)
    cache.compile("u1", 0, simple_graph(), LIMITS)
    assert len(cache) == 0


def test_the_cache_is_bounded_and_keeps_the_recently_used() -> None:
    cache = CompileCache(capacity=2)
    cache.compile("a", 1, simple_graph(), LIMITS)
    cache.compile("b", 1, simple_graph(), LIMITS)
    cache.compile("a", 1, simple_graph(), LIMITS)  # a is now the most recent
    cache.compile("c", 1, simple_graph(), LIMITS)  # evicts b
    assert len(cache) == 2
    cache.compile("a", 1, simple_graph(), LIMITS)
    assert cache.hits == 2
    cache.compile("b", 1, simple_graph(), LIMITS)
    assert cache.misses == 4
