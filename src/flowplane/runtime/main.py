"""`flowplane-runtime`: receive events for live workflows and execute their runs."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web
from prometheus_client import start_http_server

from flowplane.kubeconfig import load_configuration
from flowplane.runtime.app import Runtime
from flowplane.runtime.kubeapi import KubeApi
from flowplane.runtime.server import event_app, health_app
from flowplane.runtime.settings import RuntimeSettings, parse_settings

RECURSION_LIMIT = 20_000  # a run's event body may be JSON nested as deep as the API allows

log = logging.getLogger("flowplane.runtime")


async def serve(settings: RuntimeSettings) -> None:
    runtime = Runtime(settings, KubeApi(load_configuration()))
    health = web.AppRunner(health_app(runtime))
    await health.setup()
    await web.TCPSite(health, "0.0.0.0", settings.health_port).start()
    await runtime.start()
    events = web.AppRunner(event_app(runtime), access_log=None)
    await events.setup()
    await web.TCPSite(events, "0.0.0.0", settings.port, backlog=1024).start()
    log.info("accepting events on :%d", settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: no new events; handing claimed runs over")
    runtime.stopping = True
    await events.cleanup()
    await runtime.stop()
    await health.cleanup()


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    fmt = ('{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s",'
           '"message":"%(message)s"}' if settings.log_format == "json"
           else "%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
