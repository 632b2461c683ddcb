"""The operator's plumbing without a cluster: queue semantics, expectations, diffs, settings."""

from __future__ import annotations

import asyncio

import pytest

from flowplane.model.resources import Condition, WorkflowVersionStatus
from flowplane.operator.config import parse_options, parse_selector
from flowplane.operator.expectations import Expectations
from flowplane.operator.queue import FamilyQueue, Retry, backoff
from flowplane.reconcile.conditions import Desired, merge_conditions
from flowplane.reconcile.snapshot import Family, Meta, VersionObj
from flowplane.reconcile.writes import Kind, changed_entries, diff


@pytest.mark.parametrize(("want", "have", "patch"), [
    ({"a": "1"}, {"a": "1", "theirs": "x"}, {}),
    ({"a": "1"}, {}, {"a": "1"}),
    ({"a": "2"}, {"a": "1"}, {"a": "2"}),
    ({"a": None}, {"a": "1"}, {"a": None}),
    ({"a": None}, {}, {}),
])
def test_changed_entries_leave_other_keys_alone(want: dict[str, str | None],
                                                have: dict[str, str],
                                                patch: dict[str, str | None]) -> None:
    assert changed_entries(want, have) == patch


def test_merge_patch_diff_removes_adds_and_skips_unchanged() -> None:
    old = {"phase": "Draft", "plan": {"hash": "a"}, "errors": [1], "keep": 1}
    new = {"phase": "Active", "errors": [1], "keep": 1, "activatedAt": "t"}
    assert diff(old, new) == {"phase": "Active", "plan": None, "activatedAt": "t"}
    assert diff(new, dict(new)) is None


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    first = merge_conditions([], [Desired.of("Ready", True, "Published", "v1")], now="t1",
                             generation=1)
    same = merge_conditions(first, [Desired.of("Ready", True, "Published", "v2 msg")], now="t2",
                            generation=2)
    flipped = merge_conditions(same, [Desired.of("Ready", False, "Rejected")], now="t3",
                               generation=2)
    assert first[0].lastTransitionTime == "t1"
    assert same[0].lastTransitionTime == "t1" and same[0].observedGeneration == 2
    assert flipped[0].lastTransitionTime == "t3"
    assert isinstance(flipped[0], Condition)


def test_queue_serialises_a_family_and_reprocesses_when_dirtied_meanwhile() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        started, gate = asyncio.Event(), asyncio.Event()
        queue: FamilyQueue[str] = FamilyQueue(lambda k: work(k), workers=3)

        async def work(key: str) -> None:
            log.append(f"start {key}")
            if len([x for x in log if x == f"start {key}"]) == 1:
                started.set()
                await gate.wait()
            log.append(f"end {key}")

        queue.start()
        queue.add("a")
        await asyncio.wait_for(started.wait(), 2)
        queue.add("a")  # while "a" runs: must run again after, never concurrently
        queue.add("a")
        gate.set()
        assert await queue.wait_idle(2)
        await queue.stop()
        return log

    assert asyncio.run(scenario()) == ["start a", "end a", "start a", "end a"]


def test_queue_retries_failures_with_backoff() -> None:
    """A Retry comes back after its own delay, an error after the backoff (here 10-20 ms,
    jittered), a success not at all. Timers never fire early (beyond the clock's
    resolution), so the gaps between calls are at least those delays, however loaded the
    machine: no sleep, and nothing that a slow run can fail."""
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        calls: list[float] = []
        succeeded = asyncio.Event()

        async def work(key: str) -> None:
            calls.append(loop.time())
            if len(calls) == 1:
                raise Retry(delay=0.05)
            if len(calls) == 2:
                raise RuntimeError("boom")
            succeeded.set()

        queue: FamilyQueue[str] = FamilyQueue(work, workers=1, base_backoff=0.02,
                                              max_backoff=0.02)
        queue.start()
        queue.add("a")
        await asyncio.wait_for(succeeded.wait(), 5)
        assert await queue.wait_idle(2)  # nothing scheduled after the success
        await queue.stop()
        return calls

    calls = asyncio.run(scenario())
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.05 - 1e-3  # the Retry's delay, not the backoff
    assert calls[2] - calls[1] >= 0.01 - 1e-3  # the backoff: at least half of 20 ms


@pytest.mark.parametrize(("failures", "rand", "expected"), [
    (1, 0.0, 0.1), (1, 1.0, 0.2),      # the first retry: half to all of the base
    (3, 1.0, 0.8), (3, 0.5, 0.6),      # doubling
    (9, 1.0, 30.0), (9, 0.0, 15.0),    # capped, still jittered
    (10_000, 1.0, 30.0),               # no overflow however long it fails
    (0, 1.0, 0.2),                     # never below the first step
])
def test_backoff_doubles_with_jitter_up_to_the_cap(failures: int, rand: float,
                                                   expected: float) -> None:
    assert backoff(failures, 0.2, 30.0, rand=lambda: rand) == pytest.approx(expected)


def _family(rv: str) -> Family:
    v = VersionObj(meta=Meta(name="wf-v1", namespace="ns", resource_version=rv),
                   workflow_name="wf", number=1, label="", graph_raw={}, status_raw={},
                   status=WorkflowVersionStatus())
    return Family(namespace="ns", name="wf", versions=(v,))


def test_expectations_hold_back_a_snapshot_older_than_our_writes() -> None:
    exp = Expectations(ttl=10)
    exp.patched(("ns", "wf"), (Kind.VERSION, "wf-v1"), before="5")
    assert exp.wait_for(_family("5")) > 0  # the watch still shows the pre-write object
    assert exp.wait_for(_family("6")) == 0  # our write (or a newer one) is visible
    assert exp.wait_for(_family("5")) == 0  # satisfied expectations are forgotten
    exp.created(("ns", "wf"), (Kind.CONFIGMAP, "wf-v1-plan"))
    assert exp.wait_for(_family("6")) > 0


def test_settings_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPLANE_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("FLOWPLANE_MAX_NODES", "50")
    opts = parse_options(["--allowed-apps", "slack,github", "--runtime-selector", "app=rt"])
    assert opts.namespaces == ("team-a", "team-b") and not opts.clusterwide
    assert opts.settings.limits.max_nodes == 50
    assert opts.settings.limits.allowed_apps == frozenset({"slack", "github"})
    assert dict(opts.settings.runtime_selector) == {"app": "rt"}
    assert parse_options(["-n", "team-c"]).namespaces == ("team-c",)  # flags win over env
    with pytest.raises(ValueError):
        parse_selector("novalue")
    with pytest.raises(SystemExit):
        parse_options(["--max-nodes", "0"])
    assert parse_options(["--allowed-trigger-types", "webhook,app"]).settings.limits \
        .allowed_trigger_types == frozenset({"webhook", "app"})


def test_an_unknown_allowed_trigger_type_stops_the_operator_with_a_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--allowed-trigger-types", "webhook,webhok"])
    assert ("--allowed-trigger-types: unknown trigger types webhok (known: webhook, "
            "schedule, app)") in capsys.readouterr().err


def test_runtime_service_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_options([]).settings.runtime_service == ("flowplane-system", "flowplane-runtime")
    assert parse_options(["--runtime-service", "rt/edge"]).settings.runtime_service == (
        "rt", "edge")
    assert parse_options(["--runtime-service", ""]).settings.runtime_service is None
    monkeypatch.setenv("FLOWPLANE_RUNTIME_SERVICE", "")
    assert parse_options([]).settings.runtime_service is None  # empty disables mirroring
    monkeypatch.setenv("FLOWPLANE_RUNTIME_SERVICE", "ops/runtime")
    assert parse_options([]).settings.runtime_service == ("ops", "runtime")
    for bad in ("no-namespace", "/name", "ns/", "a/b/c"):
        with pytest.raises(SystemExit):
            parse_options(["--runtime-service", bad])


def test_the_runtime_slice_store_follows_list_and_watch_events() -> None:
    from flowplane.operator.endpoints import SliceStore
    from flowplane.reconcile.snapshot import RuntimeEndpoints

    def body(name: str, rv: str, *addresses: str) -> dict[str, object]:
        return {"metadata": {"name": name, "resourceVersion": rv}, "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": [a], "conditions": {"ready": True}}
                              for a in addresses]}

    store = SliceStore()
    listed = store.replace({"metadata": {"resourceVersion": "10"},
                            "items": [body("rt-1", "9", "10.0.0.2")]})
    assert listed == RuntimeEndpoints(("10.0.0.2",), 8080) and store.resource_version == "10"
    assert store.apply({"type": "ADDED", "object": body("rt-2", "11", "10.0.0.1")}) == (
        RuntimeEndpoints(("10.0.0.1", "10.0.0.2"), 8080))
    assert store.apply({"type": "BOOKMARK", "object": {"metadata": {
        "resourceVersion": "12"}}}) is None
    assert store.resource_version == "12"
    assert store.apply({"type": "DELETED", "object": body("rt-1", "13")}) == (
        RuntimeEndpoints(("10.0.0.1",), 8080))


def test_changed_runtime_endpoints_touch_only_the_wired_families() -> None:
    from typing import Any

    from flowplane.operator.reconciler import FamilyReconciler
    from flowplane.reconcile.settings import Settings
    from flowplane.reconcile.snapshot import RuntimeEndpoints, ServiceObj

    def svc(name: str, wired: bool) -> ServiceObj:
        return ServiceObj(meta=Meta(name=f"{name}-trigger", namespace="ns"),
                          selector={"app": "rt"} if wired else None, ports=())

    class Idx(dict[Any, Any]):
        def get(self, key: Any, default: Any = None) -> Any:
            return super().get(key, default)

    services = Idx({("ns", "a"): [svc("a", True)], ("ns", "b"): [svc("b", False)]})
    slices = Idx({("ns", "c"): []})
    reconciler = FamilyReconciler(client=None, settings=Settings())  # type: ignore[arg-type]
    touched: list[Any] = []
    reconciler.touch = touched.append  # type: ignore[method-assign]
    reconciler.set_runtime_endpoints(RuntimeEndpoints(("10.0.0.1",), 8080))
    assert touched == [] and reconciler.runtime_endpoints is not None  # no index bound yet
    reconciler.bind({"flowplane_workflows": Idx(), "flowplane_versions": Idx(),
                     "flowplane_plans": Idx(), "flowplane_services": services,
                     "flowplane_endpoint_slices": slices})
    reconciler.set_runtime_endpoints(RuntimeEndpoints(("10.0.0.1",), 8080))  # the same: nothing
    assert touched == []
    reconciler.set_runtime_endpoints(RuntimeEndpoints(("10.0.0.2",), 8080))
    assert touched == [("ns", "a"), ("ns", "c")]
