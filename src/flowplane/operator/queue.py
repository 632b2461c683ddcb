"""A per-family work queue: coalesces events, serialises each family, retries with backoff.

Semantics follow client-go's workqueue: a key is processed by at most one worker at a
time; a key added while it is being processed is processed once more afterwards; a
failed key comes back after an exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)


class Retry(Exception):
    """Raised by a processor to ask for the key again after `delay` seconds."""

    def __init__(self, delay: float | None = None, why: str = "") -> None:
        super().__init__(why)
        self.delay = delay


class FamilyQueue(Generic[K]):
    def __init__(
        self,
        process: Callable[[K], Awaitable[None]],
        *,
        workers: int = 4,
        base_backoff: float = 0.2,
        max_backoff: float = 30.0,
        held: bool = False,
    ) -> None:
        self._process = process
        self._released = asyncio.Event()
        """Workers take no key until released (keys added meanwhile are kept, coalesced)."""
        if not held:
            self._released.set()
        self._workers = workers
        self._base = base_backoff
        self._max = max_backoff
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, key: K, delay: float = 0.0) -> None:
        """Mark a family dirty. Safe to call from any coroutine on the loop."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            old = self._timers.get(key)
            due = loop.time() + delay
            if old is not None and old.when() <= due:
                return
            if old is not None:
                old.cancel()
            self._timers[key] = loop.call_at(due, self._fire, key)
            return
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        for n in range(self._workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"family-worker-{n}"))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def __len__(self) -> int:
        return len(self._queued) + len(self._active)

    def scheduled(self, key: K) -> bool:
        """Whether a retry or a requeue of `key` is waiting for its time."""
        return key in self._timers

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests: True once nothing is queued, running or scheduled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._queued and not self._active and not self._timers:
                return True
            await asyncio.sleep(0.01)
        return False

    def release(self) -> None:
        self._released.set()

    async def _worker(self) -> None:
        await self._released.wait()
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self._process(key)
            except asyncio.CancelledError:
                raise
            except Retry as retry:
                self._retry(key, retry.delay, str(retry))
            except Exception:
                log.exception("reconcile of %s failed", key)
                self._retry(key, None, "error")
            else:
                self._failures.pop(key, None)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)

    def _retry(self, key: K, delay: float | None, why: str) -> None:
        if delay is None:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            delay = backoff(count, self._base, self._max)
        log.debug("requeue %s in %.2fs (%s)", key, delay, why)
        self.add(key, delay=delay)


def backoff(failures: int, base: float, cap: float, rand: Callable[[], float] = random.random
            ) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(failures-1), capped.

    The jitter keeps families that failed together (an API server restart, a webhook
    outage) from all retrying in the same instant.
    """
    ceiling = min(cap, base * 2.0 ** min(max(failures, 1) - 1, 30))
    return ceiling * (0.5 + 0.5 * rand())
