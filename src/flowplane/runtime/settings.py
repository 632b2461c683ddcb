"""`flowplane-runtime` settings from flags and environment (flags win)."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field

from flowplane.runtime.actions import DEFAULT_DENIED_NETWORKS, AISettings, DestinationGuard
from flowplane.runtime.connectors import ConnectorSettings


@dataclass(frozen=True)
class RuntimeSettings:
    namespaces: tuple[str, ...] = ()
    port: int = 8080
    metrics_port: int = 9090
    health_port: int = 8081
    executor_id: str = field(default_factory=socket.gethostname)
    max_runs_per_minute: int = 600
    max_consecutive_failures: int = 20
    max_body_bytes: int = 1024 * 1024
    lease_seconds: int = 15
    action_timeout: float = 30.0
    action_retries: int = 0
    retry_backoff: float = 1.0
    max_loop_items: int = 1000
    schedule_interval: float = 1.0
    ai: AISettings = field(default_factory=AISettings)
    connectors: ConnectorSettings = field(default_factory=ConnectorSettings)
    log_format: str = "plain"
    http_deny_cidrs: tuple[str, ...] = DEFAULT_DENIED_NETWORKS


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="flowplane-runtime",
        description="Receive events for live workflows and execute their runs.")
    p.add_argument("--namespace", "-n", action="append", dest="namespaces", default=None,
                   help="serve only this namespace (repeatable; env FLOWPLANE_NAMESPACES); "
                        "default: all")
    p.add_argument("--port", type=int, default=int(env("FLOWPLANE_RUNTIME_PORT", "8080")),
                   help="event port (the trigger Services' targetPort)")
    p.add_argument("--metrics-port", type=int,
                   default=int(env("FLOWPLANE_METRICS_PORT", "9090")), help="0 disables")
    p.add_argument("--health-port", type=int, default=int(env("FLOWPLANE_HEALTH_PORT", "8081")),
                   help="/healthz and /readyz")
    p.add_argument("--executor-id", default=env("POD_NAME") or socket.gethostname(),
                   help="this replica's name in status.executor (env POD_NAME)")
    p.add_argument("--max-runs-per-minute", type=int,
                   default=int(env("FLOWPLANE_MAX_RUNS_PER_MINUTE", "600")),
                   help="per workflow; Namespace annotation flowplane.dev/max-runs-per-minute "
                        "overrides")
    p.add_argument("--max-consecutive-failures", type=int,
                   default=int(env("FLOWPLANE_MAX_CONSECUTIVE_FAILURES", "20")))
    p.add_argument("--max-body-bytes", type=int,
                   default=int(env("FLOWPLANE_MAX_BODY_BYTES", str(1024 * 1024))))
    p.add_argument("--lease-seconds", type=int, default=int(env("FLOWPLANE_LEASE_SECONDS", "15")))
    p.add_argument("--action-timeout", type=float,
                   default=float(env("FLOWPLANE_ACTION_TIMEOUT", "30")))
    p.add_argument("--action-retries", type=int,
                   default=int(env("FLOWPLANE_ACTION_RETRIES", "0")),
                   help="retries of a failed action or ai step, with exponential backoff")
    p.add_argument("--retry-backoff", type=float, default=1.0, help="first retry delay, seconds")
    p.add_argument("--max-loop-items", type=int, default=1000)
    p.add_argument("--schedule-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--slack-base-url", default=env("FLOWPLANE_SLACK_BASE_URL", ""))
    p.add_argument("--slack-token", default=env("FLOWPLANE_SLACK_TOKEN", ""))
    p.add_argument("--ai-base-url", default=env("FLOWPLANE_AI_BASE_URL", ""),
                   help="an OpenAI-compatible endpoint, e.g. https://host/v1")
    p.add_argument("--ai-api-key", default=env("FLOWPLANE_AI_API_KEY", ""))
    p.add_argument("--ai-model", default=env("FLOWPLANE_AI_MODEL", "gpt-4o-mini"))
    p.add_argument("--http-deny-cidrs",
                   default=env("FLOWPLANE_HTTP_DENY_CIDRS", ",".join(DEFAULT_DENIED_NETWORKS)),
                   help="comma-separated networks action and connector calls may not reach "
                        "(default: link-local, where clouds serve node credentials)")
    p.add_argument("--log-format", choices=("plain", "json"),
                   default=env("FLOWPLANE_LOG_FORMAT", "plain"))
    return p


def parse_settings(argv: list[str] | None = None) -> RuntimeSettings:
    parser = build_parser()
    a = parser.parse_args(argv)
    for name in ("max_runs_per_minute", "max_consecutive_failures", "max_body_bytes",
                 "lease_seconds", "max_loop_items"):
        if getattr(a, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    deny = tuple(c.strip() for c in a.http_deny_cidrs.split(",") if c.strip())
    try:
        DestinationGuard(deny)
    except ValueError as exc:
        parser.error(f"--http-deny-cidrs: {exc}")
    if len(a.executor_id) > 253:
        parser.error("--executor-id must be at most 253 characters")
    namespaces = a.namespaces if a.namespaces is not None else [
        n.strip() for n in (os.environ.get("FLOWPLANE_NAMESPACES") or "").split(",") if n.strip()]
    return RuntimeSettings(
        namespaces=tuple(dict.fromkeys(namespaces)), port=a.port, metrics_port=a.metrics_port,
        health_port=a.health_port, executor_id=a.executor_id,
        max_runs_per_minute=a.max_runs_per_minute,
        max_consecutive_failures=a.max_consecutive_failures, max_body_bytes=a.max_body_bytes,
        lease_seconds=a.lease_seconds, action_timeout=a.action_timeout,
        action_retries=max(0, a.action_retries), retry_backoff=a.retry_backoff,
        max_loop_items=a.max_loop_items, schedule_interval=a.schedule_interval,
        ai=AISettings(base_url=a.ai_base_url, api_key=a.ai_api_key, model=a.ai_model),
        connectors=ConnectorSettings(
            values={"slack": {"base_url": a.slack_base_url, "token": a.slack_token}},
            timeout_seconds=a.action_timeout),
        log_format=a.log_format, http_deny_cidrs=deny,
    )
