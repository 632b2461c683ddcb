"""The Kopf index-barrier fix keeps ToggleSet's semantics and makes N waiters cheap."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles

from flowplane.operator.kopf_fixes import NoDiffBase, fast_index_barrier, lean_initial_listing
from flowplane.operator.queue import FamilyQueue


async def loop_turns(n: int = 20) -> None:
    """Let every ready task run a few times (a waiter woken by a toggle needs two or three
    turns to finish), without waiting on the clock."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_idempotent() -> None:
    assert fast_index_barrier()
    assert fast_index_barrier()


def test_waiters_are_released_only_when_all_toggles_are_gone() -> None:
    fast_index_barrier()

    async def scenario() -> None:
        toggles = aiotoggles.ToggleSet(all)
        first = await toggles.make_toggle(name="a")
        second = await toggles.make_toggle(name="b")
        waiter = asyncio.create_task(toggles.wait_for(True))
        await toggles.drop_toggle(first)
        await loop_turns()
        assert not waiter.done()
        await second.turn_to(True)  # a member turned on also counts
        await asyncio.wait_for(waiter, 1)
        await toggles.drop_toggle(second)
        assert toggles.is_on()

    asyncio.run(scenario())


def test_any_set_and_drop_toggles() -> None:
    fast_index_barrier()

    async def scenario() -> None:
        paused = aiotoggles.ToggleSet(any)
        a = await paused.make_toggle(True, name="a")
        b = await paused.make_toggle(True, name="b")
        resumed = asyncio.create_task(paused.wait_for(False))
        await paused.drop_toggle(a)
        await loop_turns()
        assert not resumed.done()
        await paused.drop_toggles([b])
        await asyncio.wait_for(resumed, 1)

    asyncio.run(scenario())


def test_objects_at_startup_do_not_wake_every_waiter() -> None:
    """Kopf's workers each drop their object's toggle and wait on the set: with the fix,
    the waiters are notified once (when the set turns on), not once per object."""
    fast_index_barrier()

    async def scenario(n: int) -> int:
        barrier = aiotoggles.ToggleSet(all)
        notified = 0
        notify_all = barrier._condition.notify_all

        def counting() -> None:
            nonlocal notified
            notified += 1
            notify_all()

        barrier._condition.notify_all = counting  # type: ignore[method-assign]
        listing = await barrier.make_toggle(name="listing")

        async def worker(own: aiotoggles.Toggle) -> None:
            await asyncio.sleep(0)
            await barrier.drop_toggle(own)
            await barrier.wait_for(True)

        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(worker(await barrier.make_toggle(name=str(i)))))
            if i % 50 == 0:
                await asyncio.sleep(0)
        await barrier.drop_toggle(listing)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return notified

    assert asyncio.run(scenario(2000)) <= 2


# ---------------------------------------------------------------- the lean initial listing


def test_objects_listed_at_startup_are_only_indexed_and_every_family_decided_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No object's event waits at the barrier (its body would be held until the last list
    is in) and none runs the on.event handlers then; once the barrier is up, the callback
    gets the indices (to decide every family), once, and events are processed as usual."""
    from kopf._core.reactor import processing

    class Registry:
        def __init__(self) -> None:
            self._watching = ["on.event handler"]

    class Indexers:
        indices: ClassVar[dict[str, str]] = {"flowplane_versions": "the index"}

    handled: list[tuple[str, object, list[str]]] = []

    async def original(**kwargs: Any) -> None:
        handled.append((kwargs["raw_event"], kwargs["operator_indexed"],
                        list(kwargs["registry"]._watching)))

    monkeypatch.setattr(processing, "process_resource_event", original)
    released: list[Any] = []
    assert lean_initial_listing(on_indexed=released.append)
    lean = processing.process_resource_event
    registry = Registry()

    async def scenario() -> None:
        barrier = aiotoggles.ToggleSet(all)
        listing = await barrier.make_toggle(name="the listing of versions")
        objects = [await barrier.make_toggle(name=f"object {n}") for n in range(3)]
        for n, toggle in enumerate(objects):
            await lean(raw_event=f"event {n}", operator_indexed=barrier,
                       resource_indexed=toggle, registry=registry, indexers=Indexers())
        # Each was indexed at once (no barrier), without its on.event handlers.
        assert handled == [(f"event {n}", None, []) for n in range(3)]
        assert len(barrier) == 1 and not released  # only the listing holds it down
        await barrier.drop_toggle(listing)
        for _ in range(100):  # let the waiter see the barrier up (a few loop turns)
            if released:
                break
            await asyncio.sleep(0)
        assert released == [{"flowplane_versions": "the index"}]
        await lean(raw_event="later", operator_indexed=barrier, resource_indexed=None,
                   registry=registry, indexers=Indexers())
        assert handled[-1] == ("later", barrier, ["on.event handler"])
        assert len(released) == 1  # once

    asyncio.run(scenario())


def test_with_nothing_listed_the_first_event_releases_the_queue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kopf._core.reactor import processing

    async def original(**kwargs: Any) -> None:
        return None

    monkeypatch.setattr(processing, "process_resource_event", original)
    released: list[Any] = []
    lean_initial_listing(on_indexed=released.append)

    async def scenario() -> None:
        barrier = aiotoggles.ToggleSet(all)  # no toggles: up
        await processing.process_resource_event(raw_event="x", operator_indexed=barrier)
    asyncio.run(scenario())
    assert released == [{}]


def test_no_diff_base_is_built() -> None:
    """Kopf deep-copies each body for change handlers' diffs; flowplane has none."""
    body = kopf.Body({"metadata": {"name": "x"}, "spec": {"graph": {"nodes": [1] * 1000}}})
    assert NoDiffBase().build(body=body) == {}


def test_a_held_queue_keeps_its_keys_until_released() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []

        async def work(key: str) -> None:
            seen.append(key)

        queue: FamilyQueue[str] = FamilyQueue(work, workers=2, held=True)
        queue.start()
        queue.add("a")
        queue.add("b")
        queue.add("a")  # coalesced
        for _ in range(20):  # workers get every chance to run; none may take a key
            await asyncio.sleep(0)
        assert seen == []
        queue.release()
        assert await queue.wait_idle(2)
        await queue.stop()
        return sorted(seen)

    assert asyncio.run(scenario()) == ["a", "b"]
