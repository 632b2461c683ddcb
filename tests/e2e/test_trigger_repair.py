"""A trigger Service edited by hand is repaired, and the repair is not written as history.

Issue 11.11: overwriting the Service's annotations to name an older version made the
operator restore the live version but post `RolledBack`, count a publish and bounce the
live version through Compiling.
"""

from __future__ import annotations

import pytest

from flowplane_devtools.kube import Kube, wait_for
from tests.e2e.test_reliability import create_family, publish, wait_live

pytestmark = pytest.mark.usefixtures("running_operator")

ANN_VERSION = "flowplane.dev/active-version"
ANN_PLAN = "flowplane.dev/plan"


def test_a_tampered_trigger_service_is_repaired_not_republished(kube: Kube) -> None:
    create_family(kube, "tamper", versions=2, publishedVersion=1)
    wait_live(kube, "tamper", 1)
    v1_plan = kube.service("tamper").metadata.annotations[ANN_PLAN]
    publish(kube, "tamper", 2)
    wait_live(kube, "tamper", 2)
    before = kube.wf_status("tamper")
    v2_rv = kube.get("WorkflowVersion", "tamper-v2")["metadata"]["resourceVersion"]

    kube.core.patch_namespaced_service("tamper-trigger", kube.ns, {"metadata": {
        "annotations": {ANN_VERSION: "1", ANN_PLAN: v1_plan}}})

    wait_for(lambda: any(e.reason == "TriggerRepaired" for e in kube.events("tamper")),
             30, "a TriggerRepaired Event")
    wait_live(kube, "tamper", 2)
    annotations = kube.service("tamper").metadata.annotations
    assert annotations[ANN_VERSION] == "2"
    assert annotations[ANN_PLAN] != v1_plan
    after = kube.wf_status("tamper")
    assert after["lastPublish"] == before["lastPublish"]
    assert after["activeVersion"] == 2
    reasons = [e.reason for e in kube.events("tamper")]
    assert "RolledBack" not in reasons
    assert reasons.count("Published") == 2  # v1 and v2, nothing for the repair
    # v2 stayed Active: its status was not touched (no Compiling bounce).
    v2 = kube.get("WorkflowVersion", "tamper-v2")
    assert v2["status"]["phase"] == "Active"
    assert v2["metadata"]["resourceVersion"] == v2_rv
