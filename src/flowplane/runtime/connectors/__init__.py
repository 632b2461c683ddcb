"""App connectors: what an action node with `app: <name>` calls (entry-point plugins).

A connector is registered under the entry-point group `flowplane.connectors` as a
callable taking the runtime's `ConnectorSettings` and returning an object with
`async call(operation, inputs, session) -> output mapping`. It raises
`ConnectorError(code, message)` to fail the step with a stable code. The `http` app is
built in (actions.py); `slack` ships as a plugin like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import aiohttp

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "flowplane.connectors"


class ConnectorError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ConnectorSettings:
    """Per-app settings: `values["slack"]["base_url"]`, from flags and environment."""

    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timeout_seconds: float = 30.0

    def of(self, app: str) -> Mapping[str, str]:
        return self.values.get(app, {})


class Connector(Protocol):
    async def call(self, operation: str, inputs: Mapping[str, Any],
                   session: aiohttp.ClientSession) -> Mapping[str, Any]: ...


def load_connectors(settings: ConnectorSettings) -> dict[str, Connector]:
    """Every installed connector by app name; a broken plugin is logged and left out."""
    found: dict[str, Connector] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = ep.load()(settings)
        except Exception:
            log.exception("connector %s (%s) failed to load; its actions fail AppNotAvailable",
                          ep.name, ep.value)
    return found
