"""Parse a raw `spec.graph` with the pydantic model and derive its canonical form and hash.

The canonical graph is the API form (`from`/`to`/`port` edge keys, no nulls) with
empty `config`/`inputs` dropped, nodes sorted by id and edges by (from, to, port), so
the same graph written in another order has the same hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from flowplane.compiler.errors import SCHEMA_INVALID, error, join_path
from flowplane.model.graph import Graph
from flowplane.model.resources import GraphError

JsonDict = dict[str, Any]


def canonical_json(value: Any) -> str:
    """The one JSON serialisation used for hashing and for the plan ConfigMap."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def hash_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Parsed:
    model: Graph
    api: JsonDict
    """The graph in API form, nodes and edges in input order (indices match the input)."""
    canonical: JsonDict
    canonical_json: str
    hash: str


def _node_sort_key(node: JsonDict) -> tuple[str, str]:
    # Ties (duplicate ids) are broken by content so input order never shows through.
    return (str(node.get("id", "")), canonical_json(node))


def _edge_sort_key(edge: JsonDict) -> tuple[str, str, bool, str]:
    port = edge.get("port")
    return (str(edge.get("from", "")), str(edge.get("to", "")), port is not None, str(port or ""))


def _canonicalize(api: JsonDict) -> JsonDict:
    nodes: list[JsonDict] = []
    for node in api.get("nodes", []):
        clean = {k: v for k, v in node.items() if not (k in ("config", "inputs") and v == {})}
        nodes.append(clean)
    if len({str(node.get("id", "")) for node in nodes}) == len(nodes):
        nodes.sort(key=lambda node: str(node.get("id", "")))
    else:
        nodes.sort(key=_node_sort_key)
    edges = sorted(api.get("edges", []), key=_edge_sort_key)
    return {"nodes": nodes, "edges": edges}


def parse(raw: Any) -> Parsed | list[GraphError]:
    """The parsed graph, or SchemaInvalid errors (one per pydantic error). Never raises."""
    try:
        model = Graph.model_validate(raw)
    except ValidationError as exc:
        errors: list[GraphError] = []
        for item in exc.errors(include_url=False, include_input=False):
            loc = tuple(p if isinstance(p, int) else str(p) for p in item.get("loc", ()))
            errors.append(
                error(SCHEMA_INVALID, str(item.get("msg", "invalid")), path=join_path("graph", loc))
            )
        return errors or [error(SCHEMA_INVALID, "graph does not match the schema", path="graph")]
    except Exception as exc:  # hostile objects can break validation itself
        return [error(SCHEMA_INVALID, f"graph cannot be read: {_describe(exc)}", path="graph")]
    try:
        api = model.to_api()
        canonical = _canonicalize(api)
        text = canonical_json(canonical)
    except Exception as exc:  # circular or too deeply nested config, unencodable strings
        return [
            error(
                SCHEMA_INVALID, f"graph is not serialisable as JSON: {_describe(exc)}", path="graph"
            )
        ]
    return Parsed(
        model=model, api=api, canonical=canonical, canonical_json=text, hash=hash_text(text)
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def canonical_graph(raw: Any) -> JsonDict | None:
    """The canonical graph in API form, or None if `raw` does not parse as a graph."""
    parsed = parse(raw)
    return None if isinstance(parsed, list) else parsed.canonical


def graph_hash(raw: Any) -> str | None:
    """`sha256:<hex>` of the canonical graph JSON, or None if `raw` is not a graph."""
    parsed = parse(raw)
    return None if isinstance(parsed, list) else parsed.hash
