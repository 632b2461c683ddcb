"""A small asynchronous Kubernetes API client over aiohttp (the runtime's only API edge).

The runtime answers events on an event loop, so its API calls must not block it; the
official client is synchronous. Credentials come from the official client's loaders
(in-cluster service account, else $KUBECONFIG), so the two read configuration alike.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import kubernetes

from flowplane.model.resources import GROUP, VERSION

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "flowplane-runtime"


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


def custom_path(plural: str, namespace: str | None = None, name: str | None = None,
                sub: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


def core_path(plural: str, namespace: str | None = None, name: str | None = None) -> str:
    path = "/api/v1"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    return path


class KubeApi:
    def __init__(self, config: kubernetes.client.Configuration, *, pool: int = 64) -> None:
        self.config = config
        self.host = config.host.rstrip("/")
        self._ssl: ssl.SSLContext | bool = False
        if self.host.startswith("https"):
            ctx = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
            if not config.verify_ssl:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if config.cert_file:
                ctx.load_cert_chain(config.cert_file, config.key_file)
            self._ssl = ctx
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=self._pool),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        # The official client keeps a kubeconfig's or service account's token as
        # "BearerToken" (older releases: "authorization"); the call re-reads a rotated one.
        token = self.config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: Mapping[str, str] | None = None, content_type: str | None = None,
                      timeout: float = 30.0) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        if data is not None and content_type is None:
            content_type = "application/json"
        query = dict(params or {})
        if method in ("POST", "PATCH", "PUT"):
            query.setdefault("fieldManager", FIELD_MANAGER)
        try:
            async with self.session.request(
                method, self.host + path, data=data, params=query,
                headers=self._headers(content_type),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _error(response.status, response.reason or "", text)
                result: dict[str, Any] = json.loads(text) if text else {}
                return result
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ApiError(0, "Unavailable", f"{type(exc).__name__}: {exc}") from exc

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def delete(self, path: str, *, uid: str | None = None) -> None:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1",
                                "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", path, body=body)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    async def watch(self, path: str, resource_version: str,
                    label_selector: str | None = None,
                    timeout_seconds: int = 290) -> AsyncIterator[dict[str, Any]]:
        """Watch events from `resource_version`; ends when the server closes the stream."""
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        if label_selector:
            params["labelSelector"] = label_selector
        async with self.session.get(
            self.host + path, params=params, headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds + 30,
                                          sock_read=timeout_seconds + 30),
        ) as response:
            if response.status >= 400:
                raise _error(response.status, response.reason or "", await response.text())
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)


def _error(status: int, reason: str, text: str) -> ApiError:
    message = text
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            message = str(doc.get("message") or text)
            reason = str(doc.get("reason") or reason)
    except ValueError:
        pass
    return ApiError(status, reason, message[:2000])
