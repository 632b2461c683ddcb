"""The effects of action and ai nodes: real outbound HTTP (the runtime's other edge).

Each returns an executor Outcome and never raises: a bad URL, a refused connection, a
non-2xx answer or a connector's error fails the step with a stable code.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from flowplane.runtime.connectors import Connector, ConnectorError
from flowplane.runtime.executor import Outcome

HTTP_APP = "http"
APP_NOT_AVAILABLE = "AppNotAvailable"
AI_NOT_CONFIGURED = "AIProviderNotConfigured"
HTTP_STATUS = "HTTPStatus"
HTTP_FAILED = "HTTPRequestFailed"
INVALID_INPUT = "InvalidInput"
AI_FAILED = "AIRequestFailed"
DESTINATION_DENIED = "DestinationNotAllowed"
DEFAULT_DENIED_NETWORKS = ("169.254.0.0/16", "fe80::/10")
"""Link-local: where clouds serve node credentials (169.254.169.254). Add the pod and
Service ranges with --http-deny-cidrs to keep tenants' workflows off the cluster network."""
MAX_RESPONSE_BYTES = 1024 * 1024
_HOP_HEADERS = frozenset({"set-cookie", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class AISettings:
    base_url: str = ""
    api_key: str = ""
    model: str = "gpt-4o-mini"


class DestinationGuard:
    """Addresses outbound calls may not reach, checked on every resolved address."""

    def __init__(self, cidrs: Iterable[str] = DEFAULT_DENIED_NETWORKS) -> None:
        self.networks = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs
                         if c.strip()]

    def denied(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)


class GuardedResolver(AbstractResolver):
    """DNS that refuses names resolving into a denied network (checked at connect time,
    so a name that changes its answer between a check and the call gains nothing)."""

    def __init__(self, guard: DestinationGuard) -> None:
        self.guard = guard
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if any(self.guard.denied(r["host"]) for r in results):
            raise OSError(f"{host} resolves to an address outbound calls may not reach")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.content.read(MAX_RESPONSE_BYTES + 1)
    text = raw[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
    if "json" in (resp.headers.get("Content-Type") or ""):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def http_request(inputs: Mapping[str, Any], session: aiohttp.ClientSession,
                       timeout: float, guard: DestinationGuard | None = None) -> Outcome:
    url = inputs.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") \
            or not urlsplit(url).netloc:
        return Outcome.fail(INVALID_INPUT, f"inputs.url must be an http(s) URL, got {url!r:.200}")
    if guard is not None and guard.denied(urlsplit(url).hostname or ""):
        return Outcome.fail(DESTINATION_DENIED, f"{url:.200} is in a network outbound calls "
                                                "may not reach (--http-deny-cidrs)")
    body = inputs.get("body")
    method = str(inputs.get("method") or ("POST" if body is not None else "GET")).upper()
    raw_headers = inputs.get("headers")
    headers = {str(k): str(v) for k, v in raw_headers.items()} \
        if isinstance(raw_headers, Mapping) else {}
    kwargs: dict[str, Any] = {}
    if isinstance(body, Mapping | list):
        kwargs["json"] = body
    elif body is not None:
        kwargs["data"] = str(body).encode()
    try:
        async with session.request(method, url, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout),
                                   allow_redirects=False, **kwargs) as resp:
            output = {
                "status": resp.status,
                "headers": {k.lower(): v for k, v in resp.headers.items()
                            if k.lower() not in _HOP_HEADERS},
                "body": await _read_body(resp),
            }
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        if "may not reach" in str(exc):
            return Outcome.fail(DESTINATION_DENIED, f"{method} {url}: {exc}"[:2000])
        return Outcome.fail(HTTP_FAILED, f"{method} {url}: {type(exc).__name__}: {exc}"[:2000])
    if not 200 <= int(output["status"]) < 300:
        return Outcome(False, output, HTTP_STATUS, f"{method} {url} answered {output['status']}")
    return Outcome(True, output)


async def run_action(app: str, operation: str, inputs: Mapping[str, Any],
                     connectors: Mapping[str, Connector], session: aiohttp.ClientSession,
                     timeout: float, guard: DestinationGuard | None = None) -> Outcome:
    if app == HTTP_APP:
        if operation != "request":
            return Outcome.fail(APP_NOT_AVAILABLE, f"the http app has one operation, request; "
                                                   f"not {operation!r}")
        return await http_request(inputs, session, timeout, guard)
    connector = connectors.get(app)
    if connector is None:
        known = ", ".join(sorted({HTTP_APP, *connectors}))
        return Outcome.fail(APP_NOT_AVAILABLE,
                            f"no connector for app {app!r} is installed (available: {known})")
    try:
        output = await connector.call(operation, inputs, session)
    except ConnectorError as exc:
        return Outcome.fail(exc.code, exc.message[:2000])
    except Exception as exc:  # a plugin's bug fails its step, never the runtime
        return Outcome.fail("ConnectorFailed", f"{app}.{operation}: {type(exc).__name__}: {exc}")
    return Outcome(True, dict(output))


async def run_ai(config: Mapping[str, Any], settings: AISettings,
                 session: aiohttp.ClientSession, timeout: float) -> Outcome:
    """An OpenAI-compatible chat completion: `config.prompt` (and optional `system`)."""
    if not settings.base_url:
        return Outcome.fail(AI_NOT_CONFIGURED,
                            "no AI provider is configured: set --ai-base-url "
                            "(FLOWPLANE_AI_BASE_URL) to an OpenAI-compatible endpoint")
    messages = []
    if config.get("system"):
        messages.append({"role": "system", "content": str(config["system"])})
    messages.append({"role": "user", "content": str(config.get("prompt") or "")})
    payload = {"model": str(config.get("model") or settings.model), "messages": messages}
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    url = settings.base_url.rstrip("/") + "/chat/completions"
    try:
        async with session.post(url, json=payload, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await _read_body(resp)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Outcome.fail(AI_FAILED, f"POST {url}: {type(exc).__name__}: {exc}")
    if not 200 <= status < 300:
        return Outcome.fail(AI_FAILED, f"POST {url} answered {status}")
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return Outcome.fail(AI_FAILED, "the AI provider's answer has no choices[0].message")
    return Outcome(True, {"text": str(text)})
