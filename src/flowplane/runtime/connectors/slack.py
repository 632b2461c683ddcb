"""Slack: any Web API method as an operation (`chat.postMessage`, ...), JSON in and out.

The base URL is a setting (`--slack-base-url`), so tests and the local demo point it at
a local fake; against the real Slack a bot token is required. Slack answers 200 with
`{"ok": false, "error": ...}` on failure, which fails the step with that error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from flowplane.runtime.connectors import ConnectorError, ConnectorSettings

DEFAULT_BASE_URL = "https://slack.com"
_METHOD = re.compile(r"^[a-zA-Z][a-zA-Z0-9.]{0,99}$")


class SlackConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        own = settings.of("slack")
        self.base_url = (own.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.token = own.get("token") or ""
        self.timeout = settings.timeout_seconds

    async def call(self, operation: str, inputs: Mapping[str, Any],
                   session: aiohttp.ClientSession) -> Mapping[str, Any]:
        if not _METHOD.match(operation or ""):
            raise ConnectorError("InvalidOperation", f"{operation!r} is not a Slack API method")
        if not self.token and self.base_url == DEFAULT_BASE_URL:
            raise ConnectorError(
                "AppNotConfigured",
                "slack needs a bot token: set --slack-token (FLOWPLANE_SLACK_TOKEN)")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.base_url}/api/{operation}"
        try:
            async with session.post(url, json=dict(inputs), headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ConnectorError(
                "SlackUnreachable", f"POST {url}: {type(exc).__name__}: {exc}") from None
        if status >= 300 or not isinstance(body, Mapping):
            raise ConnectorError("SlackError", f"POST {url} answered HTTP {status}")
        if not body.get("ok"):
            raise ConnectorError("SlackError", f"{operation}: {body.get('error') or 'not ok'}")
        return dict(body)
