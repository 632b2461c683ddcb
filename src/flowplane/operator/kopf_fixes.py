"""Work-arounds for Kopf behaviour that does not scale; applied once, before `kopf.run()`.

Kopf holds every object's handlers back until all indexes are pre-populated: during the
initial listing each object gets a toggle in one `ToggleSet`, and each object's worker,
once it has indexed its object, drops its toggle and waits on the set. Kopf's
`make_toggle`/`drop_toggle` call `notify_all()` on the set's condition every time, so
each of N objects wakes every worker still waiting: O(N^2) wake-ups. With 1000
workflows (4000-6000 objects) the operator spends minutes of CPU in that barrier
before its first decision (see BENCHMARKS.md). The waiters only wait for the set's
overall state (`is_on()`), so notifying them when that state flips is equivalent.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kopf

log = logging.getLogger("flowplane")
_MARK = "_flowplane_flip_only_notify"


def fast_index_barrier() -> bool:
    """Make Kopf's ToggleSet notify its waiters only when its overall state changes.

    Returns False (and changes nothing) when this Kopf's internals are not as expected.
    """
    try:
        from kopf._cogs.aiokits import aiotoggles
    except ImportError:  # pragma: no cover - a Kopf without this module
        log.warning("kopf internals changed; the index barrier fix is not applied")
        return False
    toggle_set: Any = aiotoggles.ToggleSet
    toggle: Any = aiotoggles.Toggle
    needed = ("make_toggle", "drop_toggle", "drop_toggles", "is_on")
    if not all(hasattr(toggle_set, name) for name in needed):  # pragma: no cover
        log.warning("kopf internals changed; the index barrier fix is not applied")
        return False
    if getattr(toggle_set, _MARK, False):
        return True

    def flip_only(change: Callable[..., Any]) -> Callable[..., Any]:
        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            async with self._condition:
                before = self.is_on()
                result = change(self, *args, **kwargs)
                if self.is_on() != before:
                    self._condition.notify_all()
                return result
        method.__name__ = change.__name__
        return method

    def make_toggle(self: Any, value: bool = False, *, name: str | None = None) -> Any:
        made = toggle(value, name=name, condition=self._condition)
        self._toggles.add(made)
        return made

    def drop_toggle(self: Any, dropped: Any) -> None:
        self._toggles.discard(dropped)

    def drop_toggles(self: Any, dropped: Iterable[Any]) -> None:
        self._toggles.difference_update(dropped)

    toggle_set.make_toggle = flip_only(make_toggle)
    toggle_set.drop_toggle = flip_only(drop_toggle)
    toggle_set.drop_toggles = flip_only(drop_toggles)
    setattr(toggle_set, _MARK, True)
    return True


def lean_initial_listing(on_indexed: Callable[[Mapping[str, Any]], None]) -> bool:
    """Only index the objects of the initial listing, and let their events go, instead of
    keeping them waiting at Kopf's index barrier.

    Kopf holds every object's worker at the barrier until the last list is in, and each
    holds its raw event, a Body wrapper, a Patch and three loggers: at 10,000 workflows
    (50,000 objects) that was most of the operator's 1 GB peak. And each then runs the
    `on.event` handlers, only to mark its family dirty. Here, while the barrier is down,
    each object is indexed and nothing else; `on_indexed(indices)`, called once when the
    barrier is first seen up, decides every family from the full indexes (releasing the
    held work queue). Events after that are processed by Kopf as usual.

    Returns False (and changes nothing) when this Kopf's internals are not as expected;
    then Kopf's own barrier holds the handlers back and the caller releases at once.
    """
    try:
        from kopf._core.reactor import processing
    except ImportError:  # pragma: no cover - a Kopf without this module
        log.warning("kopf internals changed; the lean initial listing is not applied")
        return False
    original: Any = getattr(processing, "process_resource_event", None)
    if original is None or getattr(original, _MARK, False):  # pragma: no cover
        return original is not None
    released = False
    waiters: set[asyncio.Task[None]] = set()
    index_only: dict[int, Any] = {}  # id(registry) -> the registry without on.event handlers

    def release(indexers: Any) -> None:
        nonlocal released
        if not released:
            released = True
            on_indexed(getattr(indexers, "indices", None) or {})

    async def release_when_up(barrier: Any, indexers: Any) -> None:
        await barrier.wait_for(True)  # (holds the indexers only, not the first event)
        release(indexers)

    def without_event_handlers(registry: Any) -> Any:
        lean = index_only.get(id(registry))
        if lean is None:
            lean = copy.copy(registry)
            watching = getattr(registry, "_watching", None)
            if watching is not None:
                lean._watching = type(watching)()
            index_only[id(registry)] = lean
        return lean

    async def process_resource_event(**kwargs: Any) -> Any:
        barrier = kwargs.get("operator_indexed")
        if barrier is None or barrier.is_on():
            release(kwargs.get("indexers"))  # (nothing listed: the barrier went up alone)
            return await original(**kwargs)
        if not waiters:
            task = asyncio.get_running_loop().create_task(
                release_when_up(barrier, kwargs.get("indexers")))
            waiters.add(task)
        toggle = kwargs.pop("resource_indexed", None)
        lean = dict(kwargs, operator_indexed=None, resource_indexed=None)
        if "registry" in kwargs:
            lean["registry"] = without_event_handlers(kwargs["registry"])
        try:
            return await original(**lean)
        finally:
            if toggle is not None:
                await barrier.drop_toggle(toggle)

    setattr(process_resource_event, _MARK, True)
    setattr(processing, "process_resource_event", process_resource_event)  # noqa: B010
    return True


class NoDiffBase(kopf.AnnotationsDiffBaseStorage):
    """A diff base that is never built.

    For every event Kopf deep-copies the body to diff it against the last handled state,
    which only change handlers (`on.create/update/resume/delete`) use; flowplane registers
    none. That copy was 8% of the operator's CPU in the publish-latency profile.
    """

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}
