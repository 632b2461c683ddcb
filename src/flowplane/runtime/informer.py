"""List + watch caches (client-go's reflector in miniature) for the runtime's reads.

Every answer the runtime gives reads these caches, never the API server: routing an
event is a dictionary lookup. A cache is `ready` after its first full listing; a
watch that ends is resumed from the last resourceVersion seen (bookmarks included),
and a 410 Gone relists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flowplane.runtime.kubeapi import ApiError, KubeApi

log = logging.getLogger(__name__)
Key = tuple[str, str]
Obj = dict[str, Any]
Listener = Callable[[str, Obj], None]


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Informer:
    def __init__(self, api: KubeApi, paths: Iterable[str], *, label_selector: str | None = None,
                 what: str = "objects") -> None:
        self.api = api
        self.paths = tuple(paths)
        self.label_selector = label_selector
        self.what = what
        self.store: dict[Key, Obj] = {}
        self.ready = asyncio.Event()
        self._ready_paths: set[str] = set()
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.store.get((namespace, name))

    def values(self) -> list[Obj]:
        return list(self.store.values())

    async def run(self) -> None:
        await asyncio.gather(*(self._run_path(p) for p in self.paths))

    def _notify(self, kind: str, obj: Obj) -> None:
        for listener in self._listeners:
            try:
                listener(kind, obj)
            except Exception:  # a listener's bug must not stop the cache
                log.exception("informer listener failed for %s %s", self.what, key_of(obj))

    async def _run_path(self, path: str) -> None:
        backoff = 0.2
        while True:
            try:
                params = {"labelSelector": self.label_selector} if self.label_selector else {}
                listing = await self.api.get(path, **params)
                version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
                fresh = {key_of(item): item for item in listing.get("items") or []}
                prefix_ns = _namespace_of_path(path)
                for key in [k for k in self.store if prefix_ns in (None, k[0])]:
                    if key not in fresh:
                        self._notify("DELETED", self.store.pop(key))
                for key, item in fresh.items():
                    self.store[key] = item
                    self._notify("ADDED", item)
                self._ready_paths.add(path)
                if len(self._ready_paths) == len(self.paths):
                    self.ready.set()
                backoff = 0.2
                while True:
                    gone = False
                    async for event in self.api.watch(path, version, self.label_selector):
                        kind = event.get("type")
                        obj = event.get("object") or {}
                        if kind == "ERROR":
                            gone = int(obj.get("code") or 0) == 410
                            break
                        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                        if kind == "BOOKMARK":
                            continue
                        if kind == "DELETED":
                            self.store.pop(key_of(obj), None)
                        else:
                            self.store[key_of(obj)] = obj
                        self._notify(str(kind), obj)
                    if gone:
                        break
            except asyncio.CancelledError:
                raise
            except (TimeoutError, ApiError, ValueError, OSError) as exc:
                # 410: our resourceVersion expired; 429: the API server is still starting.
                quiet = isinstance(exc, ApiError) and exc.status in (410, 429)
                (log.info if quiet else log.warning)(
                    "watch of %s failed (%s); retrying in %.1fs", self.what, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception as exc:  # aiohttp payload errors and the like: resume, never die
                log.warning("watch of %s broke (%s: %s); relisting", self.what,
                            type(exc).__name__, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


def _namespace_of_path(path: str) -> str | None:
    parts = path.split("/")
    return parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
