"""The data plane: what trigger Services route to (RUNTIME.md).

Pure rooms (no Kubernetes or network I/O): `pinning` (which plan a new run executes),
`routing` (the answer table), `templates` (the sandbox), `executor` (the next step of a
run from its recorded state), `safety` (rate and failure limits), `retention`.
Thin edges: `kubeapi` (async API client), `informer` (list+watch caches), `server`
(aiohttp), `actions` and `connectors` (outbound HTTP), `worker` (claims, heartbeats,
durable step writes), `main` (the `flowplane-runtime` console script).
"""
