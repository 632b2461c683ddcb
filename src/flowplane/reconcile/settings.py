"""Operator settings that shape decisions (pure data; the operator reads them from flags/env)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowplane.compiler import PlanLimits

DEFAULT_RUNTIME_SELECTOR: Mapping[str, str] = {"app.kubernetes.io/name": "flowplane-runtime"}


@dataclass(frozen=True)
class Settings:
    runtime_selector: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_RUNTIME_SELECTOR)
    )
    limits: PlanLimits = field(default_factory=PlanLimits)
    service_port: int = 80
    target_port: int = 8080
