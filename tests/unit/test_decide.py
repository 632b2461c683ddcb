"""decide() as a table of situations, driven to convergence against an in-memory API."""

from __future__ import annotations

from typing import Any

import pytest

from flowplane.compiler import PlanLimits
from flowplane.reconcile.objects import trigger_url
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.writes import Kind
from tests.unit.fakeworld import (
    FakeWorld,
    action,
    broken_graph,
    graph,
    simple_graph,
    webhook,
)

WF = "form-to-slack"
ACTIVE = "flowplane.dev/active-version"


def published(world: FakeWorld, n: int) -> None:
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": n}})
    world.converge()


@pytest.fixture
def world() -> FakeWorld:
    w = FakeWorld()
    w.add_workflow(WF, displayName="Form submissions to Slack")
    w.add_version(1, simple_graph("v1"))
    w.converge()
    return w


def test_new_workflow_is_draft_with_an_unwired_service(world: FakeWorld) -> None:
    status = world.wf_status()
    assert status["phase"] == "Draft"
    assert "activeVersion" not in status
    assert status["latestVersion"] == 1
    assert world.phase(1) == "Draft"
    svc = world.service()
    assert "selector" not in svc["spec"]
    assert ACTIVE not in (svc["metadata"].get("annotations") or {})
    assert world.condition("Ready")["status"] == "True"
    assert world.condition("Published")["status"] == "False"
    validated = next(c for c in world.version(1)["status"]["conditions"]
                     if c["type"] == "Validated")
    assert validated["status"] == "True"


def test_draft_with_errors_stays_draft_with_validated_false(world: FakeWorld) -> None:
    world.add_version(2, broken_graph())
    world.converge()
    status = world.version(2)["status"]
    assert status["phase"] == "Draft"
    assert {e["code"] for e in status["errors"]} >= {"MultipleTriggers"}
    validated = next(c for c in status["conditions"] if c["type"] == "Validated")
    assert validated["status"] == "False"
    assert "MultipleTriggers" in validated["message"]


def test_seed_worked_example(world: FakeWorld) -> None:
    """v1 -> v2 live -> edit forks v3 -> publish v3 (the TaskJuice worked example)."""
    published(world, 1)
    world.add_version(2, simple_graph("v2"))
    published(world, 2)
    assert world.phase(1) == "Inactive" and world.phase(2) == "Active"
    assert world.wf_status()["activeVersion"] == 2
    assert world.service()["metadata"]["annotations"][ACTIVE] == "2"

    edited = simple_graph("v2 plus submitter email")
    world.edit(Kind.VERSION, f"{WF}-v2", {"spec": {"graph": edited}})
    world.converge()
    assert world.numbers() == [1, 2, 3]
    v3 = world.version(3)
    assert v3["spec"]["label"] == "Draft from v2"
    assert v3["status"]["forkedFrom"] == 2
    assert v3["status"]["phase"] == "Draft"
    assert v3["spec"]["graph"]["nodes"][1]["inputs"]["text"] == "v2 plus submitter email"
    # v2 still serves its published graph
    assert world.phase(2) == "Active"
    v2_nodes = {n["id"]: n for n in world.version(2)["spec"]["graph"]["nodes"]}
    assert v2_nodes["notify"]["inputs"]["text"] == "v2"
    assert world.service()["metadata"]["annotations"][ACTIVE] == "2"

    published(world, 3)
    assert world.actives() == [3]
    assert world.phase(2) == "Inactive"
    status = world.wf_status()
    assert status["phase"] == "Published" and status["activeVersion"] == 3
    assert status["lastPublish"]["result"] == "Succeeded"
    assert world.condition("Ready")["status"] == "True"
    world.check_invariants()


def test_failed_publish_keeps_the_previous_version_live(world: FakeWorld) -> None:
    published(world, 1)
    svc_before = world.service()
    world.add_version(2, broken_graph())
    published(world, 2)
    assert world.phase(2) == "Invalid"
    assert world.actives() == [1]
    assert world.service()["metadata"]["annotations"] == svc_before["metadata"]["annotations"]
    assert world.service()["spec"] == svc_before["spec"]
    status = world.wf_status()
    assert status["activeVersion"] == 1 and status["phase"] == "Published"
    assert status["lastPublish"]["result"] == "Rejected"
    assert status["lastPublish"]["reason"] == "ValidationFailed"
    ready = world.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "ValidationFailed"
    assert any(e.reason == "PublishRejected" and e.type == "Warning" for e in world.events)
    # Fixing the graph lets the still-requested publish go through.
    world.edit(Kind.VERSION, f"{WF}-v2", {"spec": {"graph": simple_graph("fixed")}})
    world.converge()
    assert world.actives() == [2]
    world.check_invariants()


def test_plan_limit_failure_is_failed_not_invalid() -> None:
    w = FakeWorld(Settings(limits=PlanLimits(max_nodes=1)))
    w.add_workflow(WF, publishedVersion=1)
    w.add_version(1)
    w.converge()
    assert w.phase(1) == "Failed"
    assert w.wf_status()["lastPublish"]["reason"] == "CompileFailed"


def test_deactivate_unwires_and_drops_to_draft(world: FakeWorld) -> None:
    published(world, 1)
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": None}})
    world.converge()
    assert world.phase(1) == "Inactive"
    status = world.wf_status()
    assert status["phase"] == "Draft" and "activeVersion" not in status
    svc = world.service()
    assert "selector" not in svc["spec"]
    assert ACTIVE not in (svc["metadata"].get("annotations") or {})
    world.check_invariants()


def test_rollback_to_an_inactive_version(world: FakeWorld) -> None:
    published(world, 1)
    world.add_version(2, simple_graph("v2"))
    published(world, 2)
    plans_before = {k for k in world.objects if k[0] == Kind.CONFIGMAP}
    published(world, 1)
    assert world.actives() == [1] and world.phase(2) == "Inactive"
    assert world.wf_status()["lastPublish"]["reason"] == "RolledBack"
    # the old plan is reused, never rewritten
    assert {k for k in world.objects if k[0] == Kind.CONFIGMAP} == plans_before
    world.check_invariants()


def test_same_edit_applied_twice_forks_once_and_label_edit_never_forks(world: FakeWorld) -> None:
    published(world, 1)
    world.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"label": "renamed"}})
    world.converge()
    assert world.numbers() == [1]
    edited = simple_graph("edited")
    for _ in range(3):  # a GitOps tool re-applying the same manifest
        world.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": edited}})
        world.converge()
    assert world.numbers() == [1, 2]
    assert world.version(1)["spec"]["label"] == "renamed"


def test_revert_replaces_a_draft_graph_with_the_live_graph_once(world: FakeWorld) -> None:
    published(world, 1)
    world.add_version(2, simple_graph("my experiment"))
    world.converge()
    revert = {"metadata": {"annotations": {"flowplane.dev/revert": "t1"}}}
    world.edit(Kind.VERSION, f"{WF}-v2", revert)
    world.converge()
    assert world.version(2)["spec"]["graph"] == world.version(1)["spec"]["graph"]
    assert world.version(2)["status"]["lastRevertToken"] == "t1"
    # An edit after the revert survives re-reconciles of the same token.
    world.edit(Kind.VERSION, f"{WF}-v2", {"spec": {"graph": simple_graph("again")}})
    world.converge()
    texts = {n["id"]: n for n in world.version(2)["spec"]["graph"]["nodes"]}
    assert texts["notify"]["inputs"]["text"] == "again"


def test_safety_pause_blocks_publish_until_resume(world: FakeWorld) -> None:
    published(world, 1)
    world.add_version(2, broken_graph())
    world.edit(Kind.WORKFLOW, WF, {"status": {"safety": {
        "tripped": True, "reason": "RunRateExceeded", "message": "900 runs/min"}}})
    world.converge()
    status = world.wf_status()
    assert status["phase"] == "PausedSafety"
    assert status["safety"]["trippedAt"]
    assert "selector" not in world.service()["spec"]
    assert world.condition("SafetyPaused")["status"] == "True"
    assert world.condition("TriggerWired")["status"] == "False"
    # fixing the graph and publishing does not clear the pause
    world.edit(Kind.VERSION, f"{WF}-v2", {"spec": {"graph": simple_graph("fixed")}})
    published(world, 2)
    assert world.actives() == [1]
    assert world.wf_status()["lastPublish"]["reason"] == "SafetyPaused"
    # deactivating is allowed while paused (nothing live); the pause stays
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": None}})
    world.converge()
    assert world.actives() == []
    assert world.wf_status()["phase"] == "PausedSafety"
    assert "activeVersion" not in world.wf_status()
    assert "selector" not in world.service()["spec"]
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}})
    world.edit(Kind.WORKFLOW, WF, {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "r1"}}})
    world.converge()
    status = world.wf_status()
    assert status["phase"] == "Published" and status["activeVersion"] == 2
    assert status["safety"]["tripped"] is False and status["safety"]["lastResumeToken"] == "r1"
    assert world.service()["spec"]["selector"]
    world.check_invariants()


@pytest.mark.parametrize("resumed_at", ["not-a-time", "9999", "2026-13-45T99:99:99Z", "",
                                        "2999-01-01T00:00:00Z"])
def test_a_safety_status_with_a_resumedAt_that_is_no_time_settles(
        world: FakeWorld, resumed_at: str) -> None:
    """status.safety is anyone's to write. A resumedAt that is not a timestamp compared as
    text ("n" sorts after "2"), and one ahead of the operator's clock stayed after every
    trippedAt it stamped: either way every pass took the trip for a new one (a new
    trippedAt, a status write and a SafetyPaused Event), forever."""
    published(world, 1)
    world.edit(Kind.WORKFLOW, WF, {"status": {"safety": {
        "tripped": True, "reason": "RunRateExceeded", "message": "900 runs/min",
        "resumedAt": resumed_at}}})
    world.converge()
    assert world.wf_status()["phase"] == "PausedSafety"
    assert world.wf_status()["safety"]["trippedAt"]
    assert "selector" not in world.service()["spec"]
    assert not world.decide(WF)  # settled: nothing more to write or say


def test_suspend_keeps_pointer_but_unwires(world: FakeWorld) -> None:
    published(world, 1)
    world.edit(Kind.WORKFLOW, WF, {"spec": {"suspend": True}})
    world.converge()
    status = world.wf_status()
    assert status["phase"] == "Disabled" and status["activeVersion"] == 1
    assert world.phase(1) == "Active"
    assert "selector" not in world.service()["spec"]
    world.edit(Kind.WORKFLOW, WF, {"spec": {"suspend": False}})
    world.converge()
    assert world.service()["spec"]["selector"]
    world.check_invariants()


def test_archive_deactivates_and_rejects_publish(world: FakeWorld) -> None:
    published(world, 1)
    world.edit(Kind.WORKFLOW, WF, {"spec": {"archived": True}})
    world.converge()
    status = world.wf_status()
    assert status["phase"] == "Archived" and "activeVersion" not in status
    assert world.phase(1) == "Inactive"
    assert status["lastPublish"]["reason"] == "Archived"
    world.check_invariants()


def test_gitops_order_workflow_before_its_version() -> None:
    w = FakeWorld()
    w.add_workflow(WF, publishedVersion=1)
    w.converge()
    assert w.condition("Published")["reason"] == "VersionNotFound"
    assert w.wf_status()["phase"] == "Draft"
    w.add_version(1)
    w.converge()
    assert w.actives() == [1] and w.condition("Ready")["status"] == "True"
    w.check_invariants()


def test_duplicate_version_number_is_reported_not_adopted(world: FakeWorld) -> None:
    world.add_version(1, simple_graph("impostor"), name="impostor")
    published(world, 1)
    impostor = world.get(Kind.VERSION, "impostor")
    assert impostor["status"]["errors"][0]["code"] == "DuplicateVersion"
    assert world.wf_status()["activeVersionName"] == f"{WF}-v1"
    assert "ownerReferences" not in impostor["metadata"]


def test_versions_are_adopted_and_deleting_the_workflow_cascades(world: FakeWorld) -> None:
    published(world, 1)
    wf_uid = world.workflow()["metadata"]["uid"]
    refs = world.version(1)["metadata"]["ownerReferences"]
    assert refs[0]["uid"] == wf_uid
    world.delete(Kind.WORKFLOW, WF)
    assert world.objects == {}


def test_at_rest_there_is_nothing_to_write(world: FakeWorld) -> None:
    published(world, 1)
    world.add_version(2, broken_graph())
    world.converge()
    decision = world.decide()
    assert decision.writes == [] and decision.events == []


def test_a_watcher_never_sees_two_active_versions() -> None:
    w = FakeWorld()
    w.add_workflow(WF)
    for n in (1, 2, 3):
        w.add_version(n, simple_graph(f"v{n}"))
    w.converge()
    seen: list[list[int]] = []
    w.observers.append(lambda world: seen.append(world.actives()))
    for n in (1, 2, 3, 1, 3, 2):
        published(w, n)
    assert seen and max(len(a) for a in seen) <= 1


SCENARIOS = {
    "publish": lambda w: w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}}),
    "rollback": lambda w: w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}}),
    "deactivate": lambda w: w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": None}}),
    "fork": lambda w: w.edit(Kind.VERSION, f"{WF}-v3", {"spec": {"graph": simple_graph("e")}}),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_killed_after_any_write_the_next_pass_converges(scenario: str) -> None:
    def setup() -> FakeWorld:
        w = FakeWorld()
        w.add_workflow(WF)
        for n in (1, 2, 3):
            w.add_version(n, simple_graph(f"v{n}"))
        w.converge()
        w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}})
        w.converge()
        w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 3}})
        w.converge()
        SCENARIOS[scenario](w)
        return w

    reference = setup()
    writes = len(reference.decide().writes)
    assert writes > 0
    reference.converge()
    for crash_after in range(writes):
        w = setup()
        w.step(crash_after=crash_after)
        w.converge()
        w.check_invariants()
        assert w.actives() == reference.actives()
        assert w.numbers() == reference.numbers()


def test_template_reference_to_a_non_ancestor_is_reported(world: FakeWorld) -> None:
    g = graph(webhook(), action("a", "{{ nodes.b.output.id }}"), action("b"),
              edges=[("form", "a"), ("form", "b")])
    world.add_version(2, g)
    world.converge()
    assert "InvalidTemplateReference" in {e["code"] for e in world.version(2)["status"]["errors"]}


def test_a_service_name_taken_by_someone_else_is_reported_not_hijacked() -> None:
    from dataclasses import replace

    from flowplane.reconcile.decide import decide

    w = FakeWorld()
    w.add_workflow(WF, publishedVersion=1)
    w.add_version(1)
    family = replace(w.family(), taken_names=frozenset({("Service", f"{WF}-trigger")}))
    decision = decide(family, w.settings, w.now())
    assert not [x for x in decision.writes if x.kind == Kind.SERVICE]
    status = next(x for x in decision.writes if x.kind == Kind.WORKFLOW).patch["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    wired = next(c for c in status["conditions"] if c["type"] == "TriggerWired")
    assert ready["reason"] == wired["reason"] == "ServiceConflict"
    assert status["trigger"]["enabled"] is False


def test_a_plan_name_taken_by_someone_else_gets_another_name() -> None:
    from dataclasses import replace

    from flowplane.reconcile.decide import decide

    w = FakeWorld()
    w.add_workflow(WF, publishedVersion=1)
    w.add_version(1)
    family = replace(w.family(), taken_names=frozenset({("ConfigMap", f"{WF}-v1-plan")}))
    plan = next(x for x in decide(family, w.settings, w.now()).writes if x.kind == Kind.CONFIGMAP)
    assert plan.name.startswith(f"{WF}-v1-plan-") and len(plan.name) > len(f"{WF}-v1-plan-")


def test_version_status_says_its_size_and_a_short_hash(world: FakeWorld) -> None:
    world.add_version(2, graph(webhook()))
    world.converge()
    status = world.version(2)["status"]
    validated = next(c for c in status["conditions"] if c["type"] == "Validated")
    assert validated["message"].endswith("(1 node)")
    assert status["nodeCount"] == 1
    assert status["shortHash"] == status["graphHash"].removeprefix("sha256:")[:12]
    two = world.version(1)["status"]
    assert two["nodeCount"] == len(simple_graph("v1")["nodes"])
    assert next(c for c in two["conditions"]
                if c["type"] == "Validated")["message"].endswith(f"({two['nodeCount']} nodes)")


@pytest.mark.parametrize(("graph_", "url"), [
    (simple_graph("v1"), "http://s.ns.svc/submit"),
    (graph(webhook(path="/hooks/forms")), "http://s.ns.svc/hooks/forms"),
    ({"nodes": [{"id": "t", "role": "trigger", "type": "schedule",
                 "config": {"cron": "* * * * *", "path": "/x"}}]}, "http://s.ns.svc/"),
    ({"nodes": [{"id": "t", "role": "trigger", "type": "webhook", "config": {}}]},
     "http://s.ns.svc/"),
    ({"nodes": [{"id": "t", "role": "trigger", "type": "webhook",
                 "config": {"path": "no-slash"}}]}, "http://s.ns.svc/"),
    ({"nodes": [{"id": "t", "role": "trigger", "type": "webhook", "config": {"path": 7}}]},
     "http://s.ns.svc/"),
    ({"nodes": "nope"}, "http://s.ns.svc/"),
    (None, "http://s.ns.svc/"),
])
def test_trigger_url_names_the_path_the_runtime_listens_on(graph_: Any, url: str) -> None:
    assert trigger_url("s", "ns", graph_) == url


def test_workflow_status_url_follows_the_live_versions_webhook_path(world: FakeWorld) -> None:
    assert world.wf_status()["trigger"]["url"].endswith(".svc/")  # nothing live yet
    published(world, 1)
    assert world.wf_status()["trigger"]["url"].endswith(".svc/submit")


def _plan_names(world: FakeWorld) -> list[str]:
    return sorted(n for (k, n) in world.objects if k == Kind.CONFIGMAP)


def test_a_lost_plan_is_rebuilt_only_from_the_published_graph(world: FakeWorld) -> None:
    """Issue 11.3: with the live plan deleted, an edit of the live version never serves."""
    published(world, 1)
    published_graph = world.version(1)["spec"]["graph"]
    # The plan deleted by hand, the graph unchanged: rebuilt, still live.
    world.delete(Kind.CONFIGMAP, _plan_names(world)[0])
    world.converge()
    assert world.actives() == [1] and len(_plan_names(world)) == 1
    # The plan deleted, then the live graph edited: the edit becomes a draft, nothing serves.
    world.delete(Kind.CONFIGMAP, _plan_names(world)[0])
    edited = simple_graph("edited, never published")
    world.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": edited}})
    world.converge()
    world.check_invariants()
    assert world.actives() == [] and _plan_names(world) == []
    assert world.numbers() == [1, 2] and world.version(2)["spec"]["graph"] == edited
    assert "selector" not in world.service()["spec"]
    ready = world.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "LivePlanLost"
    assert "saved as draft v2" in ready["message"] and "nothing is live" in ready["message"]
    assert world.wf_status()["lastPublish"]["reason"] == "LivePlanLost"
    assert world.phase(1) == "Failed"
    assert world.converge() == 0  # settled: no pass publishes the edit later
    # Undoing the edit makes v1 servable again from its own graph.
    world.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": published_graph}})
    world.converge()
    assert world.actives() == [1] and world.condition("Ready")["status"] == "True"
    assert world.numbers() == [1, 2]


def test_a_lost_plan_and_an_edit_then_another_publish(world: FakeWorld) -> None:
    published(world, 1)
    world.delete(Kind.CONFIGMAP, _plan_names(world)[0])
    world.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": simple_graph("edited")}})
    world.converge()
    published(world, 2)  # the fork holding the edit, published on purpose
    assert world.actives() == [2] and world.condition("Ready")["status"] == "True"
    assert world.phase(1) == "Draft"
    assert world.converge() == 0


def _crash_after_the_service_switch(world: FakeWorld, n: int) -> None:
    """Ask for vN and run one pass that dies right after it patched the Service."""
    world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": n}})
    writes = world.decide().writes
    switch = next(i for i, w in enumerate(writes) if w.kind == Kind.SERVICE)
    world.step(crash_after=switch + 1)
    assert world.service()["metadata"]["annotations"][ACTIVE] == str(n)


@pytest.mark.parametrize(("first", "then", "reason"), [
    (None, 1, "RolledBack"),  # live before, then deactivated
    (1, 2, "Published"),
    (2, 1, "RolledBack"),
])
def test_lastpublish_is_derived_from_the_world_after_a_crash(
        world: FakeWorld, first: int | None, then: int, reason: str) -> None:
    """(issue 11.4) The operator died between the Service switch and the workflow status:
    the next pass says how the request ended, and sends the Event the dead pass did not."""
    world.add_version(2, simple_graph("v2"))
    world.converge()
    published(world, 1)
    if first is not None:
        published(world, first)
    else:
        world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": None}})
        world.converge()
    world.add_version(3, broken_graph())
    published(world, 3)  # rejected: lastPublish now describes another request
    assert world.wf_status()["lastPublish"]["result"] == "Rejected"
    _crash_after_the_service_switch(world, then)
    world.events.clear()
    world.converge()
    last = world.wf_status()["lastPublish"]
    was = f" (was v{first})" if first is not None and first != then else ""
    assert (last["version"], last["result"], last["reason"], last["message"]) == (
        then, "Succeeded", reason, f"v{then} is live{was}")
    assert [e.reason for e in world.events if e.reason in ("Published", "RolledBack")] == [
        reason]
    assert world.converge() == 0 and not world.decide().events  # said once
