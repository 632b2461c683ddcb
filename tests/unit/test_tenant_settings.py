"""A platform team holds a tenant to a plan with annotations on the tenant's Namespace."""

from __future__ import annotations

import logging

import pytest

from flowplane.compiler import PlanLimits
from flowplane.operator.reconciler import FamilyReconciler
from flowplane.reconcile.settings import Settings, tenant_settings
from flowplane.reconcile.writes import Kind
from tests.unit.fakeworld import FakeWorld, simple_graph

DEFAULTS = Settings(limits=PlanLimits(max_nodes=200))


def test_no_annotations_keep_the_defaults() -> None:
    settings, problems = tenant_settings(DEFAULTS, {"unrelated": "x"})
    assert settings is DEFAULTS and problems == []


def test_annotations_override_each_limit() -> None:
    settings, problems = tenant_settings(DEFAULTS, {
        "flowplane.dev/max-nodes": "5",
        "flowplane.dev/allowed-trigger-types": "webhook, schedule",
        "flowplane.dev/allowed-apps": "slack",
    })
    assert problems == []
    assert settings.limits.max_nodes == 5
    assert settings.limits.allowed_trigger_types == frozenset({"webhook", "schedule"})
    assert settings.limits.allowed_apps == frozenset({"slack"})
    assert settings.runtime_selector == DEFAULTS.runtime_selector


def test_a_wildcard_allows_everything_and_bad_numbers_are_reported() -> None:
    settings, problems = tenant_settings(DEFAULTS, {"flowplane.dev/allowed-apps": "*",
                                                    "flowplane.dev/max-nodes": "lots"})
    assert settings.limits.allowed_apps is None
    assert settings.limits.max_nodes == 200
    assert problems and "max-nodes" in problems[0]


def test_a_tenant_held_to_webhooks_cannot_publish_a_schedule() -> None:
    settings, _ = tenant_settings(DEFAULTS, {"flowplane.dev/allowed-trigger-types": "webhook"})
    world = FakeWorld(settings)
    world.add_workflow("wf", publishedVersion=1)
    schedule = simple_graph()
    schedule["nodes"][0] = {"id": "form", "role": "trigger", "type": "schedule",
                            "config": {"cron": "*/5 * * * *"}}
    world.add_version(1, schedule, workflow="wf")
    world.converge("wf")
    assert world.phase(1, "wf") == "Failed"
    assert world.wf_status("wf")["lastPublish"]["reason"] == "CompileFailed"
    codes = {e["code"] for e in world.version(1, "wf")["status"]["errors"]}
    assert codes == {"TriggerTypeNotAllowed"}
    world.edit(Kind.VERSION, "wf-v1", {"spec": {"graph": simple_graph()}})
    world.converge("wf")
    assert world.actives("wf") == [1]


def test_an_unknown_trigger_type_is_kept_strict_but_said() -> None:
    settings, problems = tenant_settings(DEFAULTS, {
        "flowplane.dev/allowed-trigger-types": "webhok, schedule"})
    assert settings.limits.allowed_trigger_types == frozenset({"webhok", "schedule"})
    assert problems == ["flowplane.dev/allowed-trigger-types names unknown trigger types "
                        "webhok (known: webhook, schedule, app)"]
    assert tenant_settings(DEFAULTS, {"flowplane.dev/allowed-trigger-types": "*"})[1] == []


def test_a_bad_tenant_limit_is_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    reconciler = FamilyReconciler(client=None, settings=DEFAULTS)  # type: ignore[arg-type]
    annotations: dict[str, list[dict[str, str]]] = {
        "team-a": [{"flowplane.dev/max-nodes": "lots"}]}
    reconciler.namespace_limits = annotations  # type: ignore[assignment]

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    with caplog.at_level(logging.WARNING, logger="flowplane"):
        for _ in range(3):
            reconciler.settings_for("team-a")
        assert warnings() == ["namespace team-a: flowplane.dev/max-nodes='lots' is not a "
                              "positive integer; ignored"]
        record = next(r for r in caplog.records if r.levelno == logging.WARNING)
        assert (record.namespace, record.reason) == ("team-a", "InvalidTenantLimit")
        annotations["team-a"] = [{"flowplane.dev/max-nodes": "many"}]
        reconciler.settings_for("team-a")
        reconciler.settings_for("team-a")
        assert len(warnings()) == 2 and "'many'" in warnings()[1]
        annotations["team-a"] = []
        reconciler.settings_for("team-a")
        annotations["team-a"] = [{"flowplane.dev/max-nodes": "many"}]
        reconciler.settings_for("team-a")
        assert len(warnings()) == 3
