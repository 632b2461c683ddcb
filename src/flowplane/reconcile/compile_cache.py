"""Compile results remembered by (uid, generation, limits).

decide() compiles every version of a family on every pass; a family of hundreds of large
versions would then hold the event loop (and every watch) for seconds per pass. A
version's graph changes only with its `metadata.generation` (the API server bumps it on
every spec change), and a recreated object has a new uid, so the key is exact: a hit is
the result compile_graph() would return. Bounded, so memory stays flat however many
versions exist; thread-safe, so a large family may be decided off the loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flowplane.compiler import CompileResult, PlanLimits, compile_graph

DEFAULT_CAPACITY = 2048


class CompileCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[str, int, PlanLimits], CompileResult] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def compile(self, uid: str, generation: int, graph: Any, limits: PlanLimits
                ) -> CompileResult:
        if not uid or generation <= 0:  # not from the API server: nothing to key on
            return compile_graph(graph, limits)
        key = (uid, generation, limits)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return hit
        result = compile_graph(graph, limits)
        with self._lock:
            self.misses += 1
            self._items[key] = result
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return result
