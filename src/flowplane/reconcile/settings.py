"""Operator settings that shape decisions (pure data; the operator reads them from flags/env)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from flowplane.compiler import PlanLimits
from flowplane.model.graph import TRIGGER_TYPES
from flowplane.model.numbers import parse_decimal

DEFAULT_RUNTIME_SELECTOR: Mapping[str, str] = {"app.kubernetes.io/name": "flowplane-runtime"}
DEFAULT_RUNTIME_SERVICE: tuple[str, str] = ("flowplane-system", "flowplane-runtime")


@dataclass(frozen=True)
class Settings:
    runtime_selector: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_RUNTIME_SELECTOR)
    )
    limits: PlanLimits = field(default_factory=PlanLimits)
    service_port: int = 80
    target_port: int = 8080
    runtime_service: tuple[str, str] | None = DEFAULT_RUNTIME_SERVICE
    """(namespace, name) of the runtime's own Service, whose ready endpoints each wired
    trigger Service gets in a mirrored EndpointSlice (a Service selects pods in its own
    namespace only). None: no mirroring; the selector alone routes."""
    version_retention_grace_seconds: float = 60.0
    """An Inactive version is deleted by `versionHistoryLimit` only this long after it was
    retired: the runtime pins new runs from the Service annotation, so a run may still be
    pinned to a version for a moment after it was retired."""


# Per-tenant plan limits: annotations on the tenant's Namespace, set by the platform
# team (tenants usually cannot edit their Namespace object), override the defaults.
ANN_MAX_NODES = "flowplane.dev/max-nodes"
ANN_ALLOWED_TRIGGER_TYPES = "flowplane.dev/allowed-trigger-types"
ANN_ALLOWED_APPS = "flowplane.dev/allowed-apps"
TENANT_LIMIT_ANNOTATIONS = (ANN_MAX_NODES, ANN_ALLOWED_TRIGGER_TYPES, ANN_ALLOWED_APPS)


def _names(raw: str) -> frozenset[str] | None:
    names = frozenset(p.strip() for p in raw.split(",") if p.strip())
    return None if not names or "*" in names else names


def unknown_trigger_types(allowed: frozenset[str] | None) -> str | None:
    """"unknown trigger types X (known: ...)" when an allow-list names a type no trigger has."""
    unknown = sorted((allowed or frozenset()) - set(TRIGGER_TYPES))
    if not unknown:
        return None
    return f"unknown trigger types {', '.join(unknown)} (known: {', '.join(TRIGGER_TYPES)})"


def tenant_settings(
    defaults: Settings, annotations: Mapping[str, str]
) -> tuple[Settings, list[str]]:
    """Settings for one namespace, and the problems with its limit annotations."""
    limits = defaults.limits
    problems: list[str] = []
    raw_max = annotations.get(ANN_MAX_NODES)
    if raw_max is not None:
        max_nodes = parse_decimal(raw_max.strip(), max_digits=9)
        if max_nodes is not None and max_nodes >= 1:
            limits = replace(limits, max_nodes=max_nodes)
        else:
            problems.append(f"{ANN_MAX_NODES}={raw_max!r} is not a positive integer; ignored")
    if ANN_ALLOWED_TRIGGER_TYPES in annotations:
        allowed = _names(annotations[ANN_ALLOWED_TRIGGER_TYPES])
        unknown = unknown_trigger_types(allowed)
        if unknown:
            # Kept as written (a stricter limit is the safe reading), but said: a typo
            # such as "webhok" would otherwise reject every webhook with no hint why.
            problems.append(f"{ANN_ALLOWED_TRIGGER_TYPES} names {unknown}")
        limits = replace(limits, allowed_trigger_types=allowed)
    if ANN_ALLOWED_APPS in annotations:
        limits = replace(limits, allowed_apps=_names(annotations[ANN_ALLOWED_APPS]))
    if limits == defaults.limits:
        return defaults, problems
    return replace(defaults, limits=limits), problems
