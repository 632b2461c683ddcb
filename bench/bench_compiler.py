"""Benchmark the graph compiler: validate + compile for graphs of various sizes.

    .venv/bin/python bench/bench_compiler.py [--sizes 10 100 1000] [--repeats 30]

Prints a markdown table. Importing this module does no work; call `main(sizes, repeats)`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowplane.compiler import PlanLimits, compile_graph
from flowplane.compiler.canonical import parse

Json = dict[str, Any]


def make_graph(size: int, seed: int = 1) -> Json:
    """A valid graph of `size` nodes: a webhook trigger, then a random DAG of actions,
    branches, loops, delays and transforms (about 1.5 edges per node), where most nodes
    use a template that references one of their ancestors."""
    rng = random.Random(seed)
    names = ["trigger"] + [f"n{i}" for i in range(1, size)]
    nodes: list[Json] = [
        {"id": "trigger", "role": "trigger", "type": "webhook", "config": {"path": "/in"}}
    ]
    kinds: list[str] = ["webhook"]
    parent = [0] * size
    edges: list[Json] = []
    for i in range(1, size):
        kind = rng.choice(["action", "action", "action", "branch", "loop", "delay", "transform"])
        kinds.append(kind)
        parent[i] = rng.randrange(max(0, i - 8), i)  # deep rather than wide
        ancestor = parent[i]
        for _ in range(rng.randrange(0, 4)):
            ancestor = parent[ancestor]
        template = f"{{{{ nodes.{names[ancestor]}.output.value }}}}"
        node: Json
        if kind == "action":
            node = {
                "id": names[i],
                "role": "action",
                "app": "slack",
                "operation": "chat.postMessage",
                "inputs": {"channel": "#ops", "text": f"got {template}", "n": i},
            }
        elif kind == "branch":
            node = {
                "id": names[i],
                "role": "system",
                "type": "branch",
                "config": {"condition": f"{template} > 3"},
            }
        elif kind == "loop":
            node = {"id": names[i], "role": "system", "type": "loop", "config": {"items": template}}
        elif kind == "delay":
            node = {"id": names[i], "role": "system", "type": "delay", "config": {"duration": "5m"}}
        else:
            node = {"id": names[i], "role": "system", "type": "transform"}
        nodes.append(node)

    def port_for(upstream: int) -> Json:
        if kinds[upstream] == "branch":
            return {"port": rng.choice(["true", "false"])}
        if kinds[upstream] == "loop":
            return {"port": rng.choice(["body", "done"])}
        return {}

    seen: set[tuple[int, int]] = set()
    for i in range(1, size):
        edges.append({"from": names[parent[i]], "to": names[i], **port_for(parent[i])})
        seen.add((parent[i], i))
    for _ in range(size // 2):  # extra forward edges (fan-in)
        a = rng.randrange(0, size - 1)
        b = rng.randrange(a + 1, size)
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append({"from": names[a], "to": names[b], **port_for(a)})
    rng.shuffle(edges)
    return {"nodes": nodes, "edges": edges}


@dataclass(frozen=True)
class Row:
    nodes: int
    edges: int
    validate_ms: float
    compile_ms: float
    compile_p95_ms: float
    plan_bytes: int


def _time(fn: Any, repeats: int) -> list[float]:
    out: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def bench(size: int, repeats: int) -> Row:
    raw = make_graph(size)
    limits = PlanLimits(max_nodes=max(size, 1))
    result = compile_graph(raw, limits)
    if not result.ok or result.plan is None:
        raise RuntimeError(f"benchmark graph of {size} nodes does not compile: {result.errors[:3]}")
    validate = _time(lambda: parse(raw), repeats)
    full = sorted(_time(lambda: compile_graph(raw, limits), repeats))
    p95 = full[min(len(full) - 1, round(0.95 * (len(full) - 1)))]
    return Row(
        nodes=size,
        edges=len(raw["edges"]),
        validate_ms=statistics.median(validate),
        compile_ms=statistics.median(full),
        compile_p95_ms=p95,
        plan_bytes=result.plan.configmap_bytes(),
    )


def main(sizes: Sequence[int] = (10, 100, 1000), repeats: int = 30) -> list[Row]:
    rows = [bench(size, repeats) for size in sizes]
    print(
        "| nodes | edges | parse + canonical hash (median ms) | full validate + compile "
        "(median ms) | p95 ms | plan bytes |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.nodes} | {r.edges} | {r.validate_ms:.2f} | {r.compile_ms:.2f} | "
            f"{r.compile_p95_ms:.2f} | {r.plan_bytes} |"
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    main(args.sizes, args.repeats)
