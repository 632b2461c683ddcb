"""The Kopf index-barrier fix keeps ToggleSet's semantics and makes N waiters cheap."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits import aiotoggles

from flowplane.operator.kopf_fixes import fast_index_barrier


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
        await asyncio.sleep(0.01)
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
        await asyncio.sleep(0.01)
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
