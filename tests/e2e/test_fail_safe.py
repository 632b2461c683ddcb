"""Fail-safe on a real API server (issue 11: defects 1, 3, 5, 8, 9 and 10).

A safety pause must unwire whatever its status says, a spec the operator cannot read must
keep what is live, a tenant's limits must follow its annotations without a restart, and
version numbers stay far from int64.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from flowplane.model.resources import VERSION_MAX
from flowplane_devtools.kube import Kube, install_crds, wait_for
from flowplane_devtools.operator_process import OperatorProcess
from tests.e2e.sentinel import edit_answered
from tests.e2e.test_reliability import create_family, graph, version_body, wait_live, workflow_body

pytestmark = pytest.mark.usefixtures("running_operator")

CRDS = Path(__file__).resolve().parents[2] / "crds"
WORKFLOW_CRD = CRDS / "workflows.flowplane.dev.yaml"


def _refused(fn: Any) -> ApiException:
    with pytest.raises(ApiException) as info:
        fn()
    assert info.value.status == 422, info.value
    return info.value


def _unwired(kube: Kube, wf: str) -> bool:
    return not kube.service(wf).spec.selector


# ---------------------------------------------------------------- defect 1: safety pause


def test_a_safety_reason_over_the_bound_is_refused_by_the_api_server(kube: Kube) -> None:
    create_family(kube, "bounded", versions=1, publishedVersion=1)
    wait_live(kube, "bounded", 1)
    err = _refused(lambda: kube.patch("Workflow", "bounded", {"status": {"safety": {
        "tripped": True, "reason": "R" * 1100}}}, status=True))
    assert "status.safety.reason" in (err.body or "")
    _refused(lambda: kube.patch("Workflow", "bounded", {"status": {"safety": {
        "tripped": True, "reason": "not a reason!"}}}, status=True))
    _refused(lambda: kube.patch("Workflow", "bounded", {"status": {"safety": {
        "tripped": True, "reason": "Valid", "message": "m" * 1025}}}, status=True))
    # within the bounds, a trip is accepted and unwires
    kube.patch("Workflow", "bounded", {"status": {"safety": {
        "tripped": True, "reason": "R" * 128, "message": "m" * 1024}}}, status=True)
    wait_for(lambda: _unwired(kube, "bounded"), 30, "unwired by the pause")
    paused = kube.condition("bounded", "SafetyPaused")
    assert paused is not None and paused["status"] == "True" and paused["reason"] == "R" * 128


def _loosened_workflow_crd(part: str, fields: dict[str, str]) -> dict[str, Any]:
    """The Workflow CRD without the bounds of `fields` under `part` (e.g. "status.safety"),
    as a CRD from before those bounds existed."""
    doc = yaml.safe_load(WORKFLOW_CRD.read_text())
    for version in doc["spec"]["versions"]:
        node = version["schema"]["openAPIV3Schema"]
        for key in part.split("."):
            node = node["properties"][key]
        for field, type_ in fields.items():
            node["properties"][field] = {"type": type_}
    return doc


def _store_under_old_schema(kube: Kube, part: str, fields: dict[str, str], wf: str,
                            patch: dict[str, Any], *, status: bool) -> None:
    """Write `patch` while the bounds are off, then install the CRDs as they are."""
    _replace_crd(kube.api, _loosened_workflow_crd(part, fields))
    try:
        def write() -> bool:
            try:
                kube.patch("Workflow", wf, patch, status=status)
            except ApiException as exc:
                if exc.status != 422:  # the loosened schema is not served yet
                    raise
                return False
            return True
        wait_for(write, 30, f"{part} stored under the old schema")
    finally:
        install_crds(kube.api, CRDS)


def _replace_crd(api: client.ApiClient, doc: dict[str, Any]) -> None:
    ext: Any = client.ApiextensionsV1Api(api)
    current = ext.read_custom_resource_definition(doc["metadata"]["name"])
    doc = copy.deepcopy(doc)
    doc["metadata"]["resourceVersion"] = current.metadata.resource_version
    ext.replace_custom_resource_definition(doc["metadata"]["name"], doc)


def test_a_trip_stored_before_the_bound_still_unwires(kube: Kube) -> None:
    """An object written before the CRD bound existed holds a reason no condition may carry."""
    create_family(kube, "old-trip", versions=1, publishedVersion=1)
    wait_live(kube, "old-trip", 1)
    weird = "Tripped by " + "a very long and strange reason; " * 40  # about 1,300 chars
    _store_under_old_schema(
        kube, "status.safety", {"reason": "string", "message": "string"}, "old-trip",
        {"status": {"safety": {"tripped": True, "reason": weird, "message": "x" * 2000}}},
        status=True)
    wait_for(lambda: _unwired(kube, "old-trip"), 30, "unwired despite the weird reason")
    wait_for(lambda: kube.wf_status("old-trip").get("phase") == "PausedSafety", 30, "paused")
    paused = kube.condition("old-trip", "SafetyPaused")
    assert paused is not None and paused["status"] == "True"
    assert len(paused["reason"]) <= 1024 and len(paused["message"]) <= 1024


def _safety_paused_events(kube: Kube, wf: str) -> int:
    return sum(1 for e in kube.events(wf) if e.reason == "SafetyPaused")


@pytest.mark.parametrize("resumed_at", ["not-a-time", "2999-01-01T00:00:00Z"])
def test_a_resume_time_that_is_no_time_or_ahead_of_the_clock_trips_once(
        kube: Kube, resumed_at: str) -> None:
    """status.safety.resumedAt compared as text ("n" after "2"), or a time ahead of the
    operator's clock, made every pass take the trip for a new one: a new trippedAt and a
    SafetyPaused Event on each. The CRD now refuses what is not a time; one stored before
    that, and a future one, trip once."""
    wf = "odd-resume" if resumed_at == "not-a-time" else "future-resume"
    create_family(kube, wf, versions=1, publishedVersion=1)
    wait_live(kube, wf, 1)
    trip = {"status": {"safety": {"tripped": True, "reason": "RunRateExceeded",
                                  "message": "900 runs/min", "resumedAt": resumed_at}}}
    if resumed_at == "not-a-time":
        err = _refused(lambda: kube.patch("Workflow", wf, trip, status=True))
        assert "status.safety.resumedAt" in (err.body or "")
        _store_under_old_schema(kube, "status.safety", {"resumedAt": "string"}, wf, trip,
                                status=True)
    else:
        kube.patch("Workflow", wf, trip, status=True)
    wait_for(lambda: _unwired(kube, wf), 30, "unwired by the pause")
    wait_for(lambda: kube.wf_status(wf).get("safety", {}).get("trippedAt"), 30, "stamped")
    stamped = kube.wf_status(wf)["safety"]["trippedAt"]
    for _ in range(2):  # two more passes: with the bug, each said SafetyPaused again
        edit_answered(kube, f"{wf}-v1")
    assert kube.wf_status(wf)["safety"]["trippedAt"] == stamped
    assert kube.wf_status(wf)["phase"] == "PausedSafety"
    assert _safety_paused_events(kube, wf) == 1


# ---------------------------------------------------------------- defect 3: lost plan + edit


def _plans(kube: Kube, wf: str) -> list[str]:
    items = kube.core.list_namespaced_config_map(
        kube.ns, label_selector=f"flowplane.dev/workflow={wf}").items
    return sorted(cm.metadata.name for cm in items)


def test_an_edit_of_the_live_version_never_serves_when_its_plan_is_gone(
        kube: Kube, operator: OperatorProcess) -> None:
    create_family(kube, "lostplan", versions=1, publishedVersion=1)
    wait_live(kube, "lostplan", 1)
    published_graph = kube.get("WorkflowVersion", "lostplan-v1")["spec"]["graph"]
    [plan] = _plans(kube, "lostplan")
    # Both happen while the operator is down, so it meets them together (running, it
    # would rebuild the plan before the edit arrives, which is right, and fork the edit).
    operator.stop()
    kube.core.delete_namespaced_config_map(plan, kube.ns)
    edited = graph("an edit nobody published")
    kube.patch("WorkflowVersion", "lostplan-v1", {"spec": {"graph": edited}})
    operator.start()

    def reported() -> dict[str, Any] | None:
        ready = kube.condition("lostplan", "Ready")
        return ready if ready and ready["reason"] == "LivePlanLost" else None

    ready = wait_for(reported, 30, "Ready=False LivePlanLost")
    assert ready["status"] == "False" and "saved as draft v2" in ready["message"]
    versions = kube.versions("lostplan")
    assert versions[2]["spec"]["graph"] == edited  # the edit is kept, as a draft
    wait_for(lambda: _unwired(kube, "lostplan"), 30, "the trigger unwired")
    status = kube.wf_status("lostplan")
    assert "activeVersion" not in status and status["lastPublish"]["reason"] == "LivePlanLost"
    assert _plans(kube, "lostplan") == []  # nothing was compiled from the edit
    assert kube.phases("lostplan")[1] == "Failed"
    # Undoing the edit brings v1 back from its own (published) graph.
    kube.patch("WorkflowVersion", "lostplan-v1", {"spec": {"graph": published_graph}})
    wait_live(kube, "lostplan", 1)
    assert kube.condition("lostplan", "Ready")["status"] == "True"  # type: ignore[index]
    assert len(_plans(kube, "lostplan")) == 1


# ---------------------------------------------------------------- defect 8: owned, unlabelled


def test_a_trigger_service_that_lost_its_labels_is_still_ours_and_still_unwires(
        kube: Kube) -> None:
    """Our watches select by label; a Service we own without them must not drop out of sight
    (status would claim it wired as asked, and a safety pause would never reach it)."""
    create_family(kube, "unlabelled", versions=1, publishedVersion=1)
    wait_live(kube, "unlabelled", 1)
    labels = dict(kube.service("unlabelled").metadata.labels)
    kube.core.patch_namespaced_service("unlabelled-trigger", kube.ns, {
        "metadata": {"labels": {key: None for key in labels}}})
    kube.patch("Workflow", "unlabelled", {"status": {"safety": {
        "tripped": True, "reason": "TooManyFailures", "message": "tripped by a test"}}},
        status=True)
    wait_for(lambda: _unwired(kube, "unlabelled"), 30, "the unlabelled Service unwired")
    assert kube.service("unlabelled").metadata.labels == labels  # put back
    wait_for(lambda: kube.wf_status("unlabelled").get("phase") == "PausedSafety", 30, "paused")
    wired = kube.condition("unlabelled", "TriggerWired")
    assert wired is not None and wired["status"] == "False", wired


# ---------------------------------------------------------------- defect 5: unreadable spec


def test_a_spec_the_operator_cannot_read_keeps_what_is_live(kube: Kube) -> None:
    """No spec the API server accepts today fails the model (the CRD is rendered from it),
    but one stored before a bound existed does: it must hold what is live, not deactivate."""
    create_family(kube, "unreadable", versions=1, publishedVersion=1)
    wait_live(kube, "unreadable", 1)
    _store_under_old_schema(kube, "spec", {"displayName": "string"}, "unreadable",
                            {"spec": {"displayName": "d" * 300}}, status=False)

    def reported() -> dict[str, Any] | None:
        ready = kube.condition("unreadable", "Ready")
        return ready if ready is not None and ready["reason"] == "InvalidSpec" else None
    ready = wait_for(reported, 30, "Ready=False InvalidSpec")
    assert ready["status"] == "False"
    assert "spec.displayName" in ready["message"] and "v1 stays live" in ready["message"]
    status = kube.wf_status("unreadable")
    assert status["activeVersion"] == 1 and status["phase"] == "Published"
    assert kube.service("unreadable").spec.selector
    assert kube.phases("unreadable")[1] == "Active"
    wait_for(lambda: [e for e in kube.events("unreadable") if e.reason == "InvalidSpec"],
             30, "an InvalidSpec Event")
    events = [e for e in kube.events("unreadable") if e.reason == "InvalidSpec"]
    assert len(events) == 1 and events[0].type == "Warning" and (events[0].count or 1) == 1
    assert not [e for e in kube.events("unreadable") if e.reason == "Deactivated"]
    # fixing the spec clears it
    kube.patch("Workflow", "unreadable", {"spec": {"displayName": "fine"}})
    wait_for(lambda: (kube.condition("unreadable", "Ready") or {}).get("reason") == "Published",
             30, "Ready again")
    assert kube.service("unreadable").spec.selector


# ---------------------------------------------------------------- defect 9: tenant limits


def test_removing_a_tenants_limit_takes_effect_without_a_restart(
    kube: Kube, running_operator: OperatorProcess,
) -> None:
    pid = running_operator.proc.pid if running_operator.proc is not None else None
    kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
        "flowplane.dev/allowed-apps": "github"}}})
    try:
        create_family(kube, "limited", versions=1)  # v1 posts to slack
        # Once the operator has written a status, its indexes (Namespaces included) are
        # listed, and the annotation (written before) is in them.
        wait_for(lambda: kube.wf_status("limited").get("phase") == "Draft", 30, "a status")
        kube.patch("Workflow", "limited", {"spec": {"publishedVersion": 1}})

        def rejection() -> dict[str, Any] | None:
            last = kube.wf_status("limited").get("lastPublish") or {}
            return last if last.get("result") == "Rejected" else None
        last = wait_for(rejection, 30, "publish rejected by the tenant's allowed apps")
        assert "AppNotAllowed" in last["message"] and "github" in last["message"], last
        assert not kube.service("limited").spec.selector
    finally:
        kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
            "flowplane.dev/allowed-apps": None}}})
    # The same publish, with no limit left: live, from the same operator process.
    wait_live(kube, "limited", 1)
    assert kube.wf_status("limited")["lastPublish"]["result"] == "Succeeded"
    assert running_operator.proc is not None and running_operator.proc.pid == pid


def test_an_unknown_trigger_type_in_a_tenant_limit_is_said_once(
    kube: Kube, running_operator: OperatorProcess,
) -> None:
    """Issue 12.8: the limit holds as written, and the operator says once why it bites."""
    kube.core.patch_namespace(kube.ns, {"metadata": {"annotations": {
        "flowplane.dev/allowed-trigger-types": "webhok"}}})
    said = f"namespace {kube.ns}: flowplane.dev/allowed-trigger-types names unknown trigger " \
           "types webhok (known: webhook, schedule, app)"

    def lines() -> int:
        return running_operator.log_path.read_text(errors="replace").count(said)

    create_family(kube, "typo", versions=1, publishedVersion=1)
    wait_for(lambda: (kube.wf_status("typo").get("lastPublish") or {}).get("result")
             == "Rejected", 30, "rejected by the tenant's allowed trigger types")
    assert "TriggerTypeNotAllowed" in kube.wf_status("typo")["lastPublish"]["message"]
    # More reconciles of the family (each reads the tenant's limits): nothing more is said.
    for n in range(3):
        kube.patch("Workflow", "typo", {"spec": {"displayName": f"typo {n}"}})
        wait_for(lambda: kube.workflow("typo")["status"].get("observedGeneration")
                 == kube.workflow("typo")["metadata"]["generation"], 30, "observed")
    assert lines() == 1


# ---------------------------------------------------------------- defect 10: version numbers


def test_version_numbers_near_int64_are_refused_by_the_api_server(kube: Kube) -> None:
    kube.create(workflow_body("huge"))
    err = _refused(lambda: kube.create(version_body("huge", 10**12)))
    assert "spec.version" in (err.body or "") and "1000000000" in (err.body or ""), err.body
    err = _refused(lambda: kube.create(version_body("huge", 2**63 - 1, name="huge-max")))
    assert "spec.version" in (err.body or "")
    err = _refused(lambda: kube.patch("Workflow", "huge", {"spec": {"publishedVersion": 10**12}}))
    assert "spec.publishedVersion" in (err.body or "") and "1000000000" in (err.body or "")


def test_an_edit_of_the_highest_version_is_reported_not_retried(
    kube: Kube, running_operator: OperatorProcess,
) -> None:
    top = VERSION_MAX
    kube.create(workflow_body("top", publishedVersion=top))
    kube.create(version_body("top", top))
    wait_live(kube, "top", top)
    edited = graph("an edit of the last number")
    kube.patch("WorkflowVersion", f"top-v{top}", {"spec": {"graph": edited}})

    def refused() -> dict[str, Any] | None:
        ready = kube.condition("top", "Ready")
        return ready if ready is not None and ready["reason"] == "ForkRefused" else None
    ready = wait_for(refused, 30, "Ready=False ForkRefused")
    assert ready["status"] == "False" and f"version numbers end at {top}" in ready["message"]
    wait_for(lambda: [e for e in kube.events("top") if e.reason == "ForkRefused"], 30,
             "a ForkRefused Event")
    events = [e for e in kube.events("top") if e.reason == "ForkRefused"]
    assert len(events) == 1 and events[0].type == "Warning"
    # nothing was forked, the edit is kept, the published graph keeps serving
    assert list(kube.versions("top")) == [top]
    assert kube.versions("top")[top]["spec"]["graph"] == edited
    assert kube.phases("top")[top] == "Active" and kube.service("top").spec.selector
    # and no create the API server refuses (then retried forever) was ever tried
    log = running_operator.log_path.read_text()
    assert f"top-v{top + 1}" not in log
