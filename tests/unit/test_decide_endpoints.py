"""decide() and the trigger Service's mirrored EndpointSlice, as a table of situations.

A Service selects pods in its own namespace only, and the runtime runs in another, so
while a trigger is wired its Service gets an EndpointSlice `<wf>-trigger-runtime` with
the runtime's ready endpoints (kube-proxy routes a Service to every slice labelled with
its name). Unwiring empties it first of all, with the Service.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from flowplane.reconcile.decide import decide
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import RuntimeEndpoints, runtime_endpoints_from_slices
from flowplane.reconcile.writes import Create, Kind, Patch
from tests.unit.fakeworld import FakeWorld, simple_graph

WF = "form-to-slack"
SVC = f"{WF}-trigger"
SLICE = f"{WF}-trigger-runtime"
RUNTIME = RuntimeEndpoints(addresses=("10.0.0.10", "10.0.0.11"), port=8080)
TRIP = {"status": {"safety": {"tripped": True, "reason": "RunRateExceeded",
                              "message": "900 runs/min"}}}


def world(endpoints: RuntimeEndpoints | None = RUNTIME, settings: Settings | None = None,
          publish: bool = True) -> FakeWorld:
    w = FakeWorld(settings)
    w.runtime_endpoints = endpoints
    w.add_workflow(WF)
    w.add_version(1, simple_graph("v1"))
    w.add_version(2, simple_graph("v2"))
    w.converge()
    if publish:
        w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}})
        w.converge()
    return w


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_a_wired_trigger_gets_the_runtimes_endpoints() -> None:
    w = world()
    body = w.endpoint_slice()
    assert body is not None
    assert body["addressType"] == "IPv4"
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert body["endpoints"] == [{"addresses": ["10.0.0.10"], "conditions": {"ready": True}},
                                 {"addresses": ["10.0.0.11"], "conditions": {"ready": True}}]
    labels = body["metadata"]["labels"]
    assert labels["kubernetes.io/service-name"] == SVC
    assert labels["endpointslice.kubernetes.io/managed-by"] == "operator.flowplane.dev"
    assert labels["flowplane.dev/workflow"] == WF
    assert labels["app.kubernetes.io/component"] == "trigger-endpoints"
    assert labels["app.kubernetes.io/managed-by"] == "flowplane"
    (owner,) = body["metadata"]["ownerReferences"]
    svc = w.service()
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Service", SVC,
                                                             svc["metadata"]["uid"])
    # the contract is unchanged: the selector and the annotations
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "flowplane-runtime"}
    assert svc["metadata"]["annotations"]["flowplane.dev/active-version"] == "1"
    assert condition(w.wf_status(), "TriggerWired")["status"] == "True"
    w.check_invariants()


def test_the_slice_is_written_right_after_the_service_switch() -> None:
    w = world(publish=False)
    w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}})
    writes = w.decide().writes
    kinds = [x.kind for x in writes]
    switch = kinds.index(Kind.SERVICE)
    assert kinds[switch + 1] == Kind.ENDPOINT_SLICE
    assert isinstance(writes[switch + 1], Create)
    assert Kind.CONFIGMAP in kinds[:switch]  # the plan exists before anything points at it


def test_changed_runtime_endpoints_are_one_slice_patch() -> None:
    w = world()
    w.runtime_endpoints = RuntimeEndpoints(addresses=("10.0.0.11", "10.0.0.12"), port=8080)
    (write,) = w.decide().writes
    assert isinstance(write, Patch) and write.kind == Kind.ENDPOINT_SLICE
    assert write.patch == {"endpoints": [
        {"addresses": ["10.0.0.11"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.12"], "conditions": {"ready": True}}]}
    assert write.resource_version  # guarded like every patch
    w.converge()
    assert w.slice_addresses() == ["10.0.0.11", "10.0.0.12"]
    # and a new port follows too
    w.runtime_endpoints = replace(w.runtime_endpoints, port=9000)
    (write,) = w.decide().writes
    assert isinstance(write, Patch)
    assert write.patch == {"ports": [{"name": "http", "port": 9000, "protocol": "TCP"}]}


def test_at_rest_nothing_is_written() -> None:
    w = world()
    decision = w.decide()
    assert decision.writes == [] and decision.events == []
    w.runtime_endpoints = RuntimeEndpoints(addresses=RUNTIME.addresses, port=RUNTIME.port)
    assert w.decide().writes == []  # an equal value, not the same object


@pytest.mark.parametrize("how", ["trip", "suspend", "archive", "deactivate"])
def test_unwiring_empties_the_slice_first_with_the_service(how: str) -> None:
    w = world()
    # A teammate edits the live version at the same moment: its fork must not go first.
    w.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": simple_graph("edited")}})
    w.edit(Kind.WORKFLOW, WF, {
        "trip": TRIP,
        "suspend": {"spec": {"suspend": True}},
        "archive": {"spec": {"archived": True}},
        "deactivate": {"spec": {"publishedVersion": None}},
    }[how])
    writes = w.decide().writes
    first, second = writes[0], writes[1]
    assert isinstance(first, Patch) and first.kind == Kind.SERVICE
    assert first.patch["spec"]["selector"] is None
    assert first.patch["metadata"]["annotations"]["flowplane.dev/active-version"] is None
    assert isinstance(second, Patch) and second.kind == Kind.ENDPOINT_SLICE
    assert second.patch == {"endpoints": []}
    assert Kind.VERSION in [x.kind for x in writes[2:]]  # the fork and restore come after
    w.converge()
    assert w.slice_addresses() == []
    assert "selector" not in w.service()["spec"]
    w.check_invariants()


def test_a_safety_trip_and_resume_restore_the_endpoints() -> None:
    w = world()
    w.edit(Kind.WORKFLOW, WF, TRIP)
    w.converge()
    assert w.slice_addresses() == []
    assert w.wf_status()["phase"] == "PausedSafety"
    w.edit(Kind.WORKFLOW, WF, {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "r1"}}})
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)
    w.check_invariants()


def test_no_ready_runtime_endpoints_is_a_slice_without_endpoints() -> None:
    w = world(endpoints=RuntimeEndpoints())
    body = w.endpoint_slice()
    assert body is not None and body["endpoints"] == []
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # targetPort
    w.runtime_endpoints = RUNTIME
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)


def test_endpoints_not_listed_yet_leave_a_wired_slice_alone_but_never_block_unwiring() -> None:
    w = world()
    w.runtime_endpoints = None  # an operator restart: its watch has not listed them yet
    assert w.decide().writes == []
    w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}})
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)  # kept, not emptied on a guess
    w.edit(Kind.WORKFLOW, WF, TRIP)
    w.converge()
    assert w.slice_addresses() == []
    # and a new workflow wired meanwhile gets its slice once they are known
    fresh = world(endpoints=None)
    assert fresh.endpoint_slice() is None
    fresh.runtime_endpoints = RUNTIME
    fresh.converge()
    assert fresh.slice_addresses() == list(RUNTIME.addresses)


def test_mirroring_off_writes_no_slice_and_empties_an_old_one() -> None:
    off = Settings(runtime_service=None)
    w = world(settings=off)
    assert w.endpoint_slice() is None
    assert w.service()["spec"]["selector"]  # the selector alone routes
    assert condition(w.wf_status(), "TriggerWired")["status"] == "True"
    w.check_invariants()
    # Turned off after it was on: the slice keeps no endpoints (it goes with its Service).
    w = world()
    w.settings = off
    (write,) = w.decide().writes
    assert isinstance(write, Patch) and write.patch == {"endpoints": []}
    w.converge()
    assert w.slice_addresses() == []


def test_a_workflow_created_published_gets_its_slice_once_its_service_exists() -> None:
    w = FakeWorld()
    w.runtime_endpoints = RUNTIME
    w.add_workflow(WF, publishedVersion=1)
    w.add_version(1)
    first = w.decide().writes
    assert Kind.SERVICE in [x.kind for x in first]
    assert Kind.ENDPOINT_SLICE not in [x.kind for x in first]  # it needs the Service's uid
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)
    w.check_invariants()


def test_a_slice_name_taken_by_someone_else_is_reported_not_overwritten() -> None:
    w = world(publish=False)
    w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}})
    family = replace(w.family(), taken_names=frozenset({("EndpointSlice", SLICE)}))
    decision = decide(family, w.settings, w.now())
    assert not [x for x in decision.writes if x.kind == Kind.ENDPOINT_SLICE]
    assert [x for x in decision.writes if x.kind == Kind.SERVICE]  # still wired: the pin
    status = next(x for x in decision.writes if x.kind == Kind.WORKFLOW).patch["status"]
    wired, ready = condition(status, "TriggerWired"), condition(status, "Ready")
    assert wired["status"] == ready["status"] == "False"
    assert wired["reason"] == ready["reason"] == "EndpointSliceConflict"
    assert SLICE in wired["message"]


def test_a_slice_with_our_labels_but_another_owner_is_never_written() -> None:
    w = world(publish=False)
    w.create(Kind.ENDPOINT_SLICE, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": SLICE, "labels": {
            "kubernetes.io/service-name": SVC, "flowplane.dev/workflow": WF,
            "endpointslice.kubernetes.io/managed-by": "operator.flowplane.dev"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": "someone", "uid": "uid-x"}]},
        "addressType": "IPv4", "ports": [], "endpoints": [
            {"addresses": ["10.9.9.9"], "conditions": {"ready": True}}]})
    foreign = dict(w.endpoint_slice() or {})
    w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 1}})
    w.converge()
    assert w.endpoint_slice() == foreign
    assert condition(w.wf_status(), "Ready")["reason"] == "EndpointSliceConflict"
    w.edit(Kind.WORKFLOW, WF, TRIP)  # unwiring does not touch it either
    w.converge()
    assert w.endpoint_slice() == foreign
    # once it is gone, the trigger gets its own
    w.delete(Kind.ENDPOINT_SLICE, SLICE)
    w.edit(Kind.WORKFLOW, WF, {"metadata": {"annotations": {
        "flowplane.dev/resume-from-safety": "r1"}}})
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)
    assert condition(w.wf_status(), "Ready")["status"] == "True"


def test_a_hand_edited_slice_is_put_back() -> None:
    w = world()
    w.edit(Kind.ENDPOINT_SLICE, SLICE, {"endpoints": [
        {"addresses": ["10.6.6.6"], "conditions": {"ready": True}}],
        "metadata": {"labels": {"kubernetes.io/service-name": "elsewhere"}}})
    w.converge()
    assert w.slice_addresses() == list(RUNTIME.addresses)
    assert (w.endpoint_slice() or {})["metadata"]["labels"]["kubernetes.io/service-name"] == SVC


def test_deleting_the_workflow_takes_the_slice_with_the_service() -> None:
    w = world()
    w.delete(Kind.WORKFLOW, WF)
    assert w.objects == {}


UNWIRE_OR_MOVE = {
    "publish": lambda w: w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}}),
    "trip": lambda w: w.edit(Kind.WORKFLOW, WF, TRIP),
    "deactivate": lambda w: w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": None}}),
    "runtime-moves": lambda w: setattr(w, "runtime_endpoints", RuntimeEndpoints(
        addresses=("10.0.0.12",), port=8080)),
    "fork-and-trip": lambda w: (
        w.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": simple_graph("edited")}}),
        w.edit(Kind.WORKFLOW, WF, TRIP)),
}


@pytest.mark.parametrize("scenario", UNWIRE_OR_MOVE)
def test_killed_after_any_write_the_next_pass_converges(scenario: str) -> None:
    def setup() -> FakeWorld:
        w = world()
        UNWIRE_OR_MOVE[scenario](w)
        return w

    reference = setup()
    writes = len(reference.decide().writes)
    assert writes > 0
    reference.converge()
    reference.check_invariants()
    for crash_after in range(writes):
        w = setup()
        w.step(crash_after=crash_after)
        w.converge()
        w.check_invariants()
        assert w.slice_addresses() == reference.slice_addresses()
        assert w.actives() == reference.actives()


# ---------------------------------------------------------------- the runtime's own slices


def _slice(name: str, *endpoints: tuple[str, bool | None], port: int | None = 8080,
           address_type: str = "IPv4", port_name: str = "http") -> dict[str, Any]:
    eps = []
    for address, ready in endpoints:
        conditions = {} if ready is None else {"ready": ready}
        eps.append({"addresses": [address], "conditions": conditions})
    return {"metadata": {"name": name}, "addressType": address_type, "endpoints": eps,
            "ports": [] if port is None else [{"name": port_name, "port": port,
                                               "protocol": "TCP"}]}


def test_runtime_endpoints_are_the_sorted_ready_ipv4_addresses_of_all_slices() -> None:
    slices = [
        _slice("rt-b", ("10.0.0.9", True), ("10.0.0.100", None), ("10.0.0.7", False)),
        _slice("rt-a", ("10.0.0.10", True), ("10.0.0.9", True)),
        _slice("rt-6", ("fd00::1", True), address_type="IPv6"),
        _slice("rt-empty", port=None),  # the controller's placeholder
    ]
    got = runtime_endpoints_from_slices(slices)
    assert got == RuntimeEndpoints(addresses=("10.0.0.9", "10.0.0.10", "10.0.0.100"), port=8080)
    assert runtime_endpoints_from_slices([]) == RuntimeEndpoints()
    assert runtime_endpoints_from_slices([_slice("p", port=None)]) == RuntimeEndpoints()
    # the port named http, else a slice's only port; a serving slice's wins
    assert runtime_endpoints_from_slices(
        [_slice("a", port=9000, port_name="web")]).port == 9000
    assert runtime_endpoints_from_slices(
        [_slice("a", port=7000), _slice("b", ("10.0.0.1", True), port=9000)]).port == 9000
