"""The event endpoint (port 8080) and the probes: thin over `routing` and `Runtime.accept`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from flowplane.model.run import TriggerKind
from flowplane.model.timestamps import format_timestamp
from flowplane.runtime import metrics, routing
from flowplane.runtime.app import Runtime
from flowplane.runtime.pinning import pin_from_service


def _answer(body: Any, status: int, headers: Any = None) -> web.Response:
    """JSON ending in a newline, so `curl` in a terminal prints each answer on its own line."""
    return web.json_response(body, status=status, headers=headers,
                             dumps=lambda obj: json.dumps(obj) + "\n")


def _refuse(refusal: routing.Refusal) -> web.Response:
    metrics.EVENTS_REFUSED.labels(refusal.error).inc()
    return _answer(refusal.body(), refusal.status, refusal.headers)


def _body(raw: bytes, content_type: str) -> tuple[Any, bool]:
    """The event body as recorded (JSON when the request is JSON, else text) and if it parsed."""
    if not raw:
        return None, True
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text), True
        except ValueError:
            return None, False
    return text, True


def event_app(runtime: Runtime) -> web.Application:
    limit = runtime.settings.max_body_bytes

    async def handle(request: web.Request) -> web.Response:
        host = request.headers.get("Host")
        target = routing.parse_host(host)
        service = pin = plan = None
        if target is not None:
            svc_name, namespace = target
            service = runtime.services.get(namespace, svc_name)
            if service is not None:
                pin = pin_from_service(svc_name, (service.get("metadata") or {}).get(
                    "annotations"))
            if pin is not None:
                plan = runtime.plan_cached(namespace, pin.plan, pin.plan_hash) or \
                    await runtime.load_plan(namespace, pin.plan, pin.plan_hash)
        decision = routing.decide(host, request.method, request.path, service, pin, plan,
                                  request.content_length, limit)
        if isinstance(decision, routing.Refusal):
            return _refuse(decision)
        try:
            raw = await request.content.read(limit + 1)
        except (ValueError, ConnectionError):
            raw = b""
        if len(raw) > limit:
            return _refuse(routing.too_large(limit))
        body, parsed = _body(raw, request.content_type or "")
        if not parsed:
            return _refuse(routing.Refusal(400, routing.MALFORMED_JSON,
                                           "the body says it is JSON but does not parse"))
        assert target is not None
        namespace = target[1]
        event = {"method": request.method.upper(), "path": request.path,
                 "query": {k: v for k, v in request.query.items()},
                 "headers": routing.event_headers(request.headers), "body": body,
                 "receivedAt": format_timestamp()}
        result = await runtime.accept(namespace, decision.pin, event, TriggerKind.WEBHOOK)
        if isinstance(result, routing.Refusal):
            return _refuse(result)
        return _answer({"run": result, "namespace": namespace,
                        "workflow": decision.pin.workflow, "version": decision.pin.version}, 202)

    app = web.Application(client_max_size=limit + 1)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def health_app(runtime: Runtime) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if runtime.ready and not runtime.stopping:
            return web.Response(text="ready")
        waiting = [i.what for i in runtime.informers if not i.ready.is_set()]
        return web.Response(status=503, text=f"waiting for caches: {', '.join(waiting)}")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
