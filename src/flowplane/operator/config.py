"""Operator settings from flags and environment (flags win). Documented in README.md."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from flowplane.compiler import PlanLimits
from flowplane.reconcile.settings import (
    DEFAULT_RUNTIME_SELECTOR,
    DEFAULT_RUNTIME_SERVICE,
    Settings,
    unknown_trigger_types,
)


def _csv(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def parse_selector(raw: str) -> dict[str, str]:
    selector: dict[str, str] = {}
    for part in _csv(raw):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"bad selector term {part!r}: expected key=value")
        selector[key.strip()] = value.strip()
    if not selector:
        raise ValueError("the runtime selector cannot be empty")
    return selector


def parse_runtime_service(raw: str) -> tuple[str, str] | None:
    """NAMESPACE/NAME of the runtime's Service; empty: no endpoint mirroring."""
    raw = raw.strip()
    if not raw:
        return None
    namespace, sep, name = raw.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"bad runtime Service {raw!r}: expected NAMESPACE/NAME")
    return namespace, name


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    log_format: str = "plain"
    verbose: bool = False
    metrics_port: int = 8080
    health_port: int = 8081
    workers: int = 4
    leader_elect: bool = False
    """Off for a single local process; the Deployment (2 replicas) turns it on."""
    lease_name: str = "flowplane-operator"
    lease_namespace: str = "default"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="flowplane-operator",
        description="Reconcile flowplane Workflows and WorkflowVersions.",
    )
    p.add_argument("--namespace", "-n", action="append", dest="namespaces", default=None,
                   help="watch only this namespace (repeatable; env FLOWPLANE_NAMESPACES, "
                        "comma-separated); default: all namespaces")
    p.add_argument("--runtime-selector", default=env("FLOWPLANE_RUNTIME_SELECTOR", ",".join(
        f"{k}={v}" for k, v in DEFAULT_RUNTIME_SELECTOR.items())),
        help="pod selector of the workflow runtime, k=v[,k=v] (env FLOWPLANE_RUNTIME_SELECTOR)")
    p.add_argument("--runtime-service", default=env("FLOWPLANE_RUNTIME_SERVICE",
                                                    "/".join(DEFAULT_RUNTIME_SERVICE)),
                   help="NAMESPACE/NAME of the runtime's Service, whose ready endpoints each "
                        "wired trigger Service gets in an EndpointSlice; empty: none (env "
                        "FLOWPLANE_RUNTIME_SERVICE)")
    p.add_argument("--max-nodes", type=int, default=int(env("FLOWPLANE_MAX_NODES", "200")),
                   help="plan limit: nodes per graph (env FLOWPLANE_MAX_NODES)")
    p.add_argument("--allowed-trigger-types", default=env("FLOWPLANE_ALLOWED_TRIGGER_TYPES", ""),
                   help="plan limit: comma-separated trigger types; empty = all")
    p.add_argument("--allowed-apps", default=env("FLOWPLANE_ALLOWED_APPS", ""),
                   help="plan limit: comma-separated apps for action nodes; empty = any")
    p.add_argument("--version-retention-grace", type=float,
                   default=float(env("FLOWPLANE_VERSION_RETENTION_GRACE", "60")),
                   help="seconds a retired version is kept before spec.versionHistoryLimit "
                        "may delete it (env FLOWPLANE_VERSION_RETENTION_GRACE)")
    p.add_argument("--log-format", choices=("plain", "json"),
                   default=env("FLOWPLANE_LOG_FORMAT", "plain"))
    p.add_argument("--verbose", action="store_true",
                   default=env("FLOWPLANE_VERBOSE", "") in ("1", "true"))
    p.add_argument("--metrics-port", type=int, default=int(env("FLOWPLANE_METRICS_PORT", "8080")),
                   help="Prometheus /metrics port; 0 disables")
    p.add_argument("--health-port", type=int, default=int(env("FLOWPLANE_HEALTH_PORT", "8081")),
                   help="liveness /healthz port; 0 disables")
    p.add_argument("--workers", type=int, default=int(env("FLOWPLANE_WORKERS", "4")),
                   help="families reconciled in parallel")
    p.add_argument("--leader-elect", action=argparse.BooleanOptionalAction,
                   default=env("FLOWPLANE_LEADER_ELECT", "") in ("1", "true"),
                   help="hold a coordination.k8s.io Lease before writing, so replicas can "
                        "stand by (env FLOWPLANE_LEADER_ELECT)")
    p.add_argument("--lease-name", default=env("FLOWPLANE_LEASE_NAME", "flowplane-operator"))
    p.add_argument("--lease-namespace", default=env("FLOWPLANE_LEASE_NAMESPACE")
                   or env("POD_NAMESPACE") or _service_account_namespace() or "default",
                   help="default: the pod's namespace (POD_NAMESPACE), else `default`")
    p.add_argument("--identity", default=env("FLOWPLANE_IDENTITY", ""),
                   help="lease holder identity; default: POD_NAME, else hostname_pid")
    p.add_argument("--lease-duration", type=float,
                   default=float(env("FLOWPLANE_LEASE_DURATION", "15")))
    p.add_argument("--renew-deadline", type=float,
                   default=float(env("FLOWPLANE_RENEW_DEADLINE", "10")))
    p.add_argument("--retry-period", type=float,
                   default=float(env("FLOWPLANE_RETRY_PERIOD", "2")))
    return p


def _service_account_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip()
    except OSError:
        return ""


def parse_options(argv: list[str] | None = None) -> OperatorOptions:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        selector = parse_selector(args.runtime_selector)
        runtime_service = parse_runtime_service(args.runtime_service)
    except ValueError as exc:
        parser.error(str(exc))
    if args.max_nodes < 1:
        parser.error("--max-nodes must be at least 1")
    if not args.version_retention_grace >= 0:  # also refuses nan
        parser.error("--version-retention-grace must be at least 0")
    if not 0 < args.retry_period < args.renew_deadline < args.lease_duration:
        parser.error("need 0 < --retry-period < --renew-deadline < --lease-duration")
    triggers = frozenset(_csv(args.allowed_trigger_types)) or None
    unknown = unknown_trigger_types(triggers)
    if unknown:
        parser.error(f"--allowed-trigger-types: {unknown}")
    apps = frozenset(_csv(args.allowed_apps)) or None
    return OperatorOptions(
        namespaces=tuple(dict.fromkeys(
            args.namespaces if args.namespaces is not None
            else _csv(os.environ.get("FLOWPLANE_NAMESPACES")))),
        settings=Settings(
            runtime_selector=selector,
            limits=PlanLimits(max_nodes=args.max_nodes, allowed_trigger_types=triggers,
                              allowed_apps=apps),
            version_retention_grace_seconds=args.version_retention_grace,
            runtime_service=runtime_service,
        ),
        log_format=args.log_format,
        verbose=args.verbose,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        workers=max(1, args.workers),
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        identity=args.identity,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
    )
