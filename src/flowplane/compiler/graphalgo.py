"""Graph algorithms on dense integer node indices; all iterative (graphs can be deep)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence


def strongly_connected_components(succ: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative. Components come out in reverse topological order
    (every edge between components points from a later component to an earlier one)."""
    n = len(succ)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            v, i = work[-1]
            out = succ[v]
            if i < len(out):
                work[-1] = (v, i + 1)
                w = out[i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[v] < low[parent]:
                    low[parent] = low[v]
            if low[v] == index[v]:
                component: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                components.append(component)
    return components


def reachable(succ: Sequence[Sequence[int]], roots: Iterable[int]) -> list[bool]:
    seen = [False] * len(succ)
    queue: deque[int] = deque()
    for root in roots:
        if not seen[root]:
            seen[root] = True
            queue.append(root)
    while queue:
        v = queue.popleft()
        for w in succ[v]:
            if not seen[w]:
                seen[w] = True
                queue.append(w)
    return seen


def topological_order(succ: Sequence[Sequence[int]], keys: Sequence[str]) -> list[int] | None:
    """Kahn's algorithm, ties broken by `keys` (the node ids). None if there is a cycle."""
    n = len(succ)
    indegree = [0] * n
    for out in succ:
        for w in out:
            indegree[w] += 1
    heap = [(keys[v], v) for v in range(n) if indegree[v] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _, v = heapq.heappop(heap)
        order.append(v)
        for w in succ[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                heapq.heappush(heap, (keys[w], w))
    return order if len(order) == n else None


def shortest_cycle_through(
    start: int, succ: Sequence[Sequence[int]], members: set[int], keys: Sequence[str]
) -> list[int]:
    """A shortest cycle start -> ... -> start inside one strongly connected component,
    as the list of its nodes (start first). Successors are visited in key order."""
    parent: dict[int, int] = {}
    queue: deque[int] = deque([start])
    visited = {start}
    while queue:
        v = queue.popleft()
        for w in sorted((w for w in succ[v] if w in members), key=keys.__getitem__):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return path
            if w not in visited:
                visited.add(w)
                parent[w] = v
                queue.append(w)
    return [start]  # not reached for a real component of size > 1


class Ancestry:
    """Ancestor queries for a chosen set of target nodes.

    Only the part of the graph upstream of the targets is looked at: a reverse BFS
    finds it, then ancestor bitsets (Python ints) are accumulated over the strongly
    connected components in topological order. Members of one component (a cycle)
    are ancestors of each other.
    """

    def __init__(
        self,
        succ: Sequence[Sequence[int]],
        components: Sequence[Sequence[int]],
        targets: Iterable[int],
    ) -> None:
        n = len(succ)
        pred: list[list[int]] = [[] for _ in range(n)]
        for v, out in enumerate(succ):
            for w in out:
                pred[w].append(v)
        relevant = reachable(pred, targets)
        self._component_of = [-1] * n
        for c, members in enumerate(components):
            for m in members:
                self._component_of[m] = c
        member_bits = [0] * len(components)
        self._ancestors = [0] * len(components)
        # `components` is in reverse topological order: walk it backwards.
        for c in range(len(components) - 1, -1, -1):
            members = components[c]
            if not relevant[members[0]]:
                continue
            bits = 0
            own = 0
            for m in members:
                own |= 1 << m
                for p in pred[m]:
                    pc = self._component_of[p]
                    if pc != c:
                        bits |= self._ancestors[pc] | member_bits[pc]
            member_bits[c] = own
            self._ancestors[c] = bits

    def is_ancestor(self, candidate: int, node: int) -> bool:
        c = self._component_of[node]
        if (self._ancestors[c] >> candidate) & 1:
            return True
        return candidate != node and self._component_of[candidate] == c
