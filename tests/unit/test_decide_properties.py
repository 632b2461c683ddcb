"""decide() under random operation sequences, with kills between any two writes.

A Hypothesis state machine plays a user (and a crashing operator) against the in-memory
API of fakeworld.py: publish/rollback/deactivate to random (also missing) versions, graph
edits (valid, invalid, over the plan limit, identical to others), label edits, revert
tokens, safety trips and resumes, suspend, archive, new and duplicate versions, deleted
versions and deleted plans, and reconcile passes cut short after a random number of
writes. After every write a watcher's invariant must hold (never two Active versions);
after each `settle` the family must converge within a bounded number of passes and
satisfy the contract's invariants and the user's intent.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from flowplane.compiler import PlanLimits, compile_graph
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import ANN_FORKED_FROM, RuntimeEndpoints
from flowplane.reconcile.writes import Kind
from tests.unit.fakeworld import FakeWorld, action, broken_graph, graph, simple_graph, webhook

WF = "form-to-slack"
ACTIVE = "flowplane.dev/active-version"
PLAN = "flowplane.dev/plan"
LIMITS = PlanLimits(max_nodes=4)
MAX_ROUNDS = 6
"""A family at rest must be reached in this many reconcile passes after any history."""


def _cycle() -> dict[str, Any]:
    return graph(webhook(), action("a"), action("b"),
                 edges=[("form", "a"), ("a", "b"), ("b", "a")])


def _too_big() -> dict[str, Any]:
    """Valid, but over the plan limit of 4 nodes: publishing it Fails (not Invalid)."""
    return graph(webhook(), *(action(f"n{i}") for i in range(4)),
                 edges=[("form", f"n{i}") for i in range(4)])


def _template() -> dict[str, Any]:
    return graph(webhook(), action("a", "{{ nodes.form.output.body.email }}"),
                 edges=[("form", "a")])


GRAPHS = {
    "a": lambda: simple_graph("a"),
    "b": lambda: simple_graph("b"),
    "c": lambda: simple_graph("c"),
    "template": _template,
    "broken": broken_graph,
    "cycle": _cycle,
    "too-big": _too_big,
    "empty": lambda: {"nodes": [], "edges": []},
}
VALID = ("a", "b", "c", "template")
graph_kinds = st.one_of(st.sampled_from(VALID), st.sampled_from(sorted(GRAPHS)))
"""Valid graphs half the time, so publishes often succeed and live versions change hands."""
tokens = st.sampled_from(["t1", "t2", "t3"])
RUNTIMES = [RuntimeEndpoints(("10.0.0.10", "10.0.0.11"), 8080),
            RuntimeEndpoints(("10.0.0.12",), 8080), RuntimeEndpoints(), None]
"""What the operator's watch of the runtime's Service may show (None: not listed yet)."""


def _ok(raw: Any) -> bool:
    return compile_graph(raw, LIMITS).ok


class DecideMachine(RuleBasedStateMachine):
    """One workflow family; `settle` checks what a user is promised."""

    def __init__(self) -> None:
        super().__init__()
        self.world = FakeWorld(Settings(limits=LIMITS))
        self.world.check_compile_cache = True  # every decision, also made without it
        self.world.runtime_endpoints = RUNTIMES[0]
        self.world.observers.append(self._watch)
        self.numbers: dict[str, int] = {}  # every version name ever seen -> its number
        self.user_deleted: set[str] = set()
        self.live_edits: set[tuple[str, str]] = set()  # distinct (version, graph) live edits
        self.last_edit: tuple[str, str] | None = None
        self.last_live_edit: tuple[str, str] | None = None
        self.prev_live: int | None = None
        self.history: set[int | None] = set()  # spec.publishedVersion values since settle
        self.lost_live = False  # something since the last settle may leave nothing live
        self.edited = self.plan_deleted = self.deleted_since_settle = False  # since settle
        self.tripped_throughout = False
        self.dup = 0
        self.live_edited_since_settle: set[str] = set()
        self.plan_lost: set[str] = set()  # live versions edited while their plan was gone

    # ---------------------------------------------------------------- helpers

    def _watch(self, world: FakeWorld) -> None:
        """What a watcher may see after any single write (so also after any crash)."""
        assert len(world.actives()) <= 1, f"a watcher saw two Active versions: {world.actives()}"
        svc = world.objects.get((Kind.SERVICE, f"{WF}-trigger"))
        ann = (svc or {}).get("metadata", {}).get("annotations") or {}
        if PLAN in ann and not (self.plan_deleted or self.deleted_since_settle):
            assert (Kind.CONFIGMAP, ann[PLAN]) in world.objects, "the Service names a missing plan"

    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.world.workflow()["spec"]
        return spec

    def _version_names(self) -> list[str]:
        return sorted(n for (k, n) in self.world.objects if k == Kind.VERSION)

    def _canonical(self) -> dict[int, dict[str, Any]]:
        """The version object that counts for each number (the oldest, as decide() picks)."""
        bodies = sorted(
            (b for (k, _), b in self.world.objects.items() if k == Kind.VERSION),
            key=lambda b: (b["metadata"]["creationTimestamp"], b["metadata"]["name"]),
        )
        out: dict[int, dict[str, Any]] = {}
        for b in bodies:
            out.setdefault(b["spec"]["version"], b)
        return out

    def _maybe_live(self) -> set[str]:
        """Names of the versions some pointer (even a half-written one) calls live."""
        numbers = set(self.world.actives())
        svc = self.world.objects.get((Kind.SERVICE, f"{WF}-trigger"))
        raw = ((svc or {}).get("metadata", {}).get("annotations") or {}).get(ACTIVE)
        if raw:
            numbers.add(int(raw))
        if self.world.wf_status().get("activeVersion"):
            numbers.add(self.world.wf_status()["activeVersion"])
        return {b["metadata"]["name"] for (k, _), b in self.world.objects.items()
                if k == Kind.VERSION and b["spec"]["version"] in numbers}

    def _tripped(self) -> bool:
        safety = self.world.wf_status().get("safety") or {}
        return bool(safety.get("tripped"))

    # ---------------------------------------------------------------- setup

    @initialize(kinds=st.lists(graph_kinds, min_size=1, max_size=3))
    def setup(self, kinds: list[str]) -> None:
        self.world.add_workflow(WF)
        for n, kind in enumerate(kinds, start=1):
            self.world.add_version(n, GRAPHS[kind]())
        self.settle()

    # ---------------------------------------------------------------- the user

    @rule(number=st.one_of(st.none(), st.integers(1, 7)))
    def publish(self, number: int | None) -> None:
        self.world.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": number}})
        self.history.add(number)
        if number is None:
            self.lost_live = True

    @rule(kind=graph_kinds, duplicate=st.booleans())
    def add_version(self, kind: str, duplicate: bool) -> None:
        numbers = [b["spec"]["version"] for (k, _), b in self.world.objects.items()
                   if k == Kind.VERSION]
        if duplicate and numbers:
            self.dup += 1
            number = numbers[self.dup % len(numbers)]
            self.world.add_version(number, GRAPHS[kind](), name=f"{WF}-dup-{self.dup}")
        else:
            self.world.add_version(max([*numbers, 0]) + 1, GRAPHS[kind]())

    @rule(pick=st.integers(0, 50), kind=graph_kinds)
    def edit_graph(self, pick: int, kind: str) -> None:
        names = self._version_names()
        if not names:
            return
        self._edit(names[pick % len(names)], kind)

    def _edit(self, name: str, kind: str) -> None:
        if name in self._maybe_live():
            self.live_edits.add((name, kind))
            self.last_live_edit = (name, kind)
            self.live_edited_since_settle.add(name)
        self.last_edit = (name, kind)
        self.edited = True
        self.world.edit(Kind.VERSION, name, {"spec": {"graph": GRAPHS[kind]()}})

    @rule(kind=graph_kinds)
    def edit_live(self, kind: str) -> None:
        """A teammate edits the live version (it must fork, and the live graph stays)."""
        actives = self.world.actives()
        if actives:
            self._edit(self._canonical()[actives[0]]["metadata"]["name"], kind)

    @rule()
    def reapply_last_edit(self) -> None:
        """A GitOps tool applies the same manifest again (it must not fork again)."""
        if self.last_edit is not None and (Kind.VERSION, self.last_edit[0]) in self.world.objects:
            self._edit(*self.last_edit)

    @rule(pick=st.integers(0, 50), label=st.sampled_from(["", "x", "renamed"]))
    def edit_label(self, pick: int, label: str) -> None:
        names = self._version_names()
        if names:
            self.world.edit(Kind.VERSION, names[pick % len(names)], {"spec": {"label": label}})

    @rule(pick=st.integers(0, 50), token=tokens)
    def revert(self, pick: int, token: str) -> None:
        names = self._version_names()
        if names:
            self.world.edit(Kind.VERSION, names[pick % len(names)],
                            {"metadata": {"annotations": {"flowplane.dev/revert": token}}})

    @rule()
    def trip_safety(self) -> None:
        self.world.edit(Kind.WORKFLOW, WF, {"status": {"safety": {
            "tripped": True, "reason": "RunRateExceeded", "message": "too many runs"}}})

    @rule(token=tokens)
    def resume(self, token: str) -> None:
        self.world.edit(Kind.WORKFLOW, WF, {"metadata": {"annotations": {
            "flowplane.dev/resume-from-safety": token}}})
        self.tripped_throughout = False

    @rule(value=st.booleans())
    def suspend(self, value: bool) -> None:
        self.world.edit(Kind.WORKFLOW, WF, {"spec": {"suspend": value}})

    @rule(value=st.booleans())
    def archive(self, value: bool) -> None:
        self.world.edit(Kind.WORKFLOW, WF, {"spec": {"archived": value}})
        if value:
            self.lost_live = True

    @rule(pick=st.integers(0, 50))
    def delete_version(self, pick: int) -> None:
        names = self._version_names()
        if not names:
            return
        name = names[pick % len(names)]
        before = set(self._version_names())
        self.world.delete(Kind.VERSION, name)
        self.user_deleted |= before - set(self._version_names())
        self.deleted_since_settle = True
        self.lost_live = True

    @rule(pick=st.integers(0, len(RUNTIMES) - 1))
    def runtime_moves(self, pick: int) -> None:
        """The runtime's ready endpoints change (a rollout, a crash, an operator restart)."""
        self.world.runtime_endpoints = RUNTIMES[pick]

    @rule(pick=st.integers(0, 50))
    def delete_plan(self, pick: int) -> None:
        plans = sorted(n for (k, n) in self.world.objects if k == Kind.CONFIGMAP)
        if plans:
            self.world.delete(Kind.CONFIGMAP, plans[pick % len(plans)])
            self.plan_deleted = True

    # ---------------------------------------------------------------- the operator

    @rule(crash_after=st.integers(0, 8))
    def crash(self, crash_after: int) -> None:
        """A reconcile pass killed after `crash_after` writes (its events are lost too)."""
        self.world.step(WF, crash_after=crash_after)

    @rule()
    def settle(self) -> None:
        for name in self._version_names():
            self.numbers.setdefault(name, self.world.get(Kind.VERSION, name)["spec"]["version"])
        self.world.converge(WF, rounds=MAX_ROUNDS)
        self.check()
        self._reapply_probe()
        actives = self.world.actives()
        self.prev_live = actives[0] if actives else None
        self.history = {self._spec().get("publishedVersion")}
        self.lost_live = self.edited = self.plan_deleted = self.deleted_since_settle = False
        self.live_edited_since_settle = set()
        self.tripped_throughout = self._tripped()

    def _reapply_probe(self) -> None:
        """At rest, a GitOps tool re-applying the last edit of the live version forks nothing."""
        actives = self.world.actives()
        if self.last_live_edit is None or not actives:
            return
        name, kind = self.last_live_edit
        live = self._canonical()[actives[0]]
        edit = compile_graph(GRAPHS[kind](), LIMITS).graph_hash
        holders = [  # forks of the live version that hold this very edit
            b for (k, _), b in self.world.objects.items() if k == Kind.VERSION
            and (b["metadata"].get("annotations") or {}).get(ANN_FORKED_FROM)
            == str(live["spec"]["version"])
            and compile_graph(b["spec"]["graph"], LIMITS).graph_hash == edit]
        if live["metadata"]["name"] != name or not holders:
            return  # (a fork that was reverted, edited or deleted no longer holds the edit)
        before = self._version_names()
        self.world.edit(Kind.VERSION, name, {"spec": {"graph": GRAPHS[kind]()}})
        self.world.converge(WF, rounds=MAX_ROUNDS)
        assert self._version_names() == before, "the same edit forked twice"
        self.check()

    def _lost_to_edit(self, target: dict[str, Any], status: dict[str, Any]) -> bool:
        return (target["metadata"]["name"] in self.plan_lost
                and (status.get("lastPublish") or {}).get("reason") == "LivePlanLost")

    @invariant()
    def never_two_active(self) -> None:
        assert len(self.world.actives()) <= 1

    def teardown(self) -> None:
        if self.world.objects:
            self.settle()

    # ---------------------------------------------------------------- the promises

    def check(self) -> None:
        w = self.world
        # With both its plan and its graph gone (plan deleted by hand, spec edited), the
        # live graph cannot be served or rebuilt: the only honest outcome is nothing live.
        self.lost_live |= self.edited and self.plan_deleted
        if self.plan_deleted:
            self.plan_lost |= self.live_edited_since_settle
        w.check_invariants(WF)
        spec = self._spec()
        status = w.wf_status()
        wanted = spec.get("publishedVersion")
        archived, suspended, tripped = spec.get("archived"), spec.get("suspend"), self._tripped()
        actives = w.actives()
        active = actives[0] if actives else None
        canonical = self._canonical()

        # Generations observed; nothing left half-way.
        assert status.get("observedGeneration") == w.workflow()["metadata"]["generation"]
        for name in self._version_names():
            body = w.get(Kind.VERSION, name)
            vstatus = body.get("status") or {}
            assert vstatus.get("observedGeneration") == body["metadata"]["generation"], name
            assert vstatus.get("phase") != "Compiling", f"{name} left Compiling"
            ours = canonical.get(body["spec"]["version"]) is body
            if ours:
                assert bool(vstatus.get("errors")) == (not _ok(body["spec"]["graph"])), (
                    name, vstatus.get("errors"))
            else:
                codes = {e["code"] for e in vstatus.get("errors", [])}
                assert "DuplicateVersion" in codes, (name, codes)
                assert vstatus.get("phase") != "Active"
                assert not body["metadata"].get("ownerReferences")

        # The derived phase.
        expected_phase = ("Archived" if archived else "PausedSafety" if tripped else
                          "Disabled" if suspended else "Published" if active else "Draft")
        assert status["phase"] == expected_phase, (status["phase"], expected_phase)

        # The live version runs exactly its plan; edits never change what is live.
        svc = w.service(WF)
        ann = svc["metadata"].get("annotations") or {}
        if active is not None:
            body = canonical[active]
            plan_ref = body["status"]["plan"]
            assert compile_graph(body["spec"]["graph"], LIMITS).graph_hash == plan_ref["hash"]
            plan = w.get(Kind.CONFIGMAP, plan_ref["configMap"])
            assert plan["metadata"]["annotations"]["flowplane.dev/plan-hash"] == plan_ref["hash"]
            assert status["activeVersionName"] == body["metadata"]["name"]
        wired = active is not None and not (archived or suspended or tripped)
        if wired:
            assert ann.get(ACTIVE) == str(active) and svc["spec"].get("selector")
            assert ann.get(PLAN) == canonical[active]["status"]["plan"]["configMap"]
        else:
            assert ACTIVE not in ann and not svc["spec"].get("selector")

        # What the user asked for.
        target = canonical.get(wanted) if wanted is not None else None
        publishable = target is not None and _ok(target["spec"]["graph"])
        if archived:
            assert active is None
        elif tripped:
            if wanted is None:
                assert active is None, "deactivating is allowed while paused"
            elif self.tripped_throughout and not self.lost_live:
                assert active == self.prev_live, "a safety pause moved the live version"
        elif wanted is None:
            assert active is None
        elif publishable and target is not None and self._lost_to_edit(target, status):
            # Its plan was deleted and its graph edited: the edit never serves unpublished.
            assert active is None, "an unpublished edit went live"
            assert target["status"]["phase"] == "Failed"
        elif publishable:
            assert active == wanted
            last = status.get("lastPublish") or {}  # derived from the world, crash or not
            assert (last.get("version"), last.get("result")) == (wanted, "Succeeded"), last
        else:
            # A failed publish never takes down what is live, and never invents a live version.
            assert active is None or active == self.prev_live or active in self.history, (
                active, self.prev_live, self.history)
            if self.prev_live is not None and not self.lost_live and self.prev_live in canonical:
                assert active is not None, "a failed publish left nothing live"
            last = status.get("lastPublish") or {}
            assert last.get("version") == wanted
            assert last.get("result") in ("Rejected", "Pending")
            if target is not None:
                assert target["status"]["phase"] in ("Invalid", "Failed")
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        if not archived and not tripped:
            assert (ready["status"] == "True") == (wanted is None or active == wanted), ready

        # No version is lost or renumbered; the only new ones are user-made or forks.
        for name, number in self.numbers.items():
            if name in self.user_deleted:
                continue
            assert (Kind.VERSION, name) in w.objects, f"{name} was lost"
            assert w.get(Kind.VERSION, name)["spec"]["version"] == number, f"{name} renumbered"
        forks = [n for n in self._version_names()
                 if ANN_FORKED_FROM in (w.get(Kind.VERSION, n)["metadata"].get("annotations")
                                        or {})]
        # Only edits of the live version fork.
        assert not forks or self.live_edits, forks
        for name in forks:
            body = w.get(Kind.VERSION, name)
            origin = body["metadata"]["annotations"][ANN_FORKED_FROM]
            assert body["status"]["forkedFrom"] == int(origin)


_ops: list[tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = [
    # (weight, operation): publishes and crashes are common, pauses and archives rare
    (8, st.tuples(st.just("publish"),
                  st.one_of(st.integers(1, 4), st.none(), st.integers(1, 7)))),
    (4, st.tuples(st.just("crash"), st.integers(0, 8))),
    (2, st.tuples(st.just("settle"))),
    (2, st.tuples(st.just("add_version"), graph_kinds, st.booleans())),
    (2, st.tuples(st.just("edit_graph"), st.integers(0, 50), graph_kinds)),
    (2, st.tuples(st.just("edit_live"), graph_kinds)),
    (2, st.tuples(st.just("reapply_last_edit"))),
    (1, st.tuples(st.just("edit_label"), st.integers(0, 50), st.sampled_from(["", "x"]))),
    (1, st.tuples(st.just("revert"), st.integers(0, 50), tokens)),
    (1, st.tuples(st.just("suspend"), st.sampled_from([False, False, True]))),
    (2, st.tuples(st.just("resume"), tokens)),
    (1, st.tuples(st.just("trip_safety"))),
    (1, st.tuples(st.just("archive"), st.sampled_from([False, False, False, True]))),
    (1, st.tuples(st.just("delete_version"), st.integers(0, 50))),
    (1, st.tuples(st.just("delete_plan"), st.integers(0, 50))),
    (1, st.tuples(st.just("runtime_moves"), st.integers(0, len(RUNTIMES) - 1))),
]
OPERATIONS: st.SearchStrategy[tuple[Any, ...]] = st.sampled_from(
    [op for weight, op in _ops for _ in range(weight)]
).flatmap(lambda op: op)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(graph_kinds, min_size=2, max_size=4),
       operations=st.lists(OPERATIONS, min_size=20, max_size=60))
def test_long_random_histories(kinds: list[str], operations: list[tuple[Any, ...]]) -> None:
    """The same machine, driven through long histories (the state machine favours short ones)."""
    machine = DecideMachine()
    machine.setup(kinds)
    for name, *args in operations:
        getattr(machine, name)(*args)
        machine.never_two_active()
    machine.teardown()


DecideMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_decide_state_machine = DecideMachine.TestCase


# ---------------------------------------------------------------- regressions found above


def _world(*kinds: str, wanted: int | None = None) -> FakeWorld:
    w = FakeWorld(Settings(limits=LIMITS))
    w.add_workflow(WF)
    for n, kind in enumerate(kinds, start=1):
        w.add_version(n, GRAPHS[kind]())
    if wanted is not None:
        w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": wanted}})
    w.converge(WF, rounds=MAX_ROUNDS)
    return w


def test_a_duplicate_made_in_the_same_second_never_takes_the_live_number() -> None:
    """creationTimestamp has 1 s resolution: age alone cannot pick the original."""
    w = _world("a", wanted=1)
    impostor = w.add_version(1, GRAPHS["b"](), name="a-impostor")  # sorts before the original
    impostor["metadata"]["creationTimestamp"] = w.version(1)["metadata"]["creationTimestamp"]
    w.converge(WF, rounds=MAX_ROUNDS)
    assert w.wf_status()["activeVersionName"] == f"{WF}-v1"
    assert w.get(Kind.VERSION, "a-impostor")["status"]["errors"][0]["code"] == "DuplicateVersion"
    assert w.get(Kind.VERSION, "a-impostor")["status"]["phase"] == "Draft"
    assert "ownerReferences" not in w.get(Kind.VERSION, "a-impostor")["metadata"]
    w.check_invariants(WF)


def test_a_number_that_changes_hands_is_not_live_by_inheritance() -> None:
    """The live v2 is deleted; a broken duplicate takes number 2. The Service still says
    "2", but it was set for another object: nothing is live, and status says so."""
    w = _world("a", "a", wanted=2)
    w.add_version(2, GRAPHS["broken"](), name="dup-2")
    w.converge(WF, rounds=MAX_ROUNDS)
    w.delete(Kind.VERSION, f"{WF}-v2")
    w.converge(WF, rounds=MAX_ROUNDS)
    w.check_invariants(WF)
    status = w.wf_status()
    assert "activeVersion" not in status and w.actives() == []
    assert status["lastPublish"]["reason"] == "ValidationFailed"
    assert w.get(Kind.VERSION, "dup-2")["status"]["phase"] == "Invalid"


def test_a_live_version_that_lost_its_plan_and_its_graph_is_not_reported_live() -> None:
    """Its plan ConfigMap is deleted by hand and its graph edited into a broken one:
    neither can serve, so the trigger is unwired and status tells why (it used to keep
    claiming "v1 is live" with an unwired Service and an unwritten version status)."""
    w = _world("a", wanted=1)
    w.delete(Kind.CONFIGMAP, f"{WF}-v1-plan")
    w.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": GRAPHS["broken"]()}})
    w.converge(WF, rounds=MAX_ROUNDS)
    w.check_invariants(WF)
    # (issue 11.3) the edit is never served nor lost: it is saved as draft v2.
    assert w.actives() == [] and w.phase(1) == "Failed"
    assert w.version(2)["spec"]["graph"] == GRAPHS["broken"]()
    assert w.wf_status()["lastPublish"]["result"] == "Rejected"
    assert w.wf_status()["lastPublish"]["reason"] == "LivePlanLost"
    assert w.condition("Ready")["status"] == "False"


def test_a_workflow_name_that_cannot_name_its_service_is_reported() -> None:
    for name in ("dotted.name", "n" * 56, "UPPER"):
        w = FakeWorld(Settings(limits=LIMITS))
        w.add_workflow(name, publishedVersion=1)
        w.add_version(1, simple_graph(), workflow=name)
        decision = w.decide(name)
        assert {(x.kind, x.status) for x in decision.writes} <= {
            (Kind.WORKFLOW, True), (Kind.VERSION, True)}, decision.writes
        w.converge(name, rounds=MAX_ROUNDS)
        ready = w.condition("Ready", name)
        assert (ready["status"], ready["reason"]) == ("False", "InvalidName")
        assert w.condition("TriggerWired", name)["reason"] == "InvalidName"
        assert w.wf_status(name)["lastPublish"]["reason"] == "InvalidName"
        assert w.phase(1, name) == "Draft"


def test_a_plan_name_stays_within_the_object_name_limit() -> None:
    w = FakeWorld(Settings(limits=LIMITS))
    w.add_workflow(WF, publishedVersion=1)
    w.add_version(1, simple_graph(), name="v" * 253)
    w.converge(WF, rounds=MAX_ROUNDS)
    plan = w.service()["metadata"]["annotations"][PLAN]
    assert len(plan) <= 253 and plan.endswith(w.version(1)["status"]["plan"]["hash"][7:17])
    w.check_invariants(WF)


def test_a_fork_never_takes_a_name_someone_else_has() -> None:
    """The fork of an edited live version is the only copy of the edit: if its name is
    taken (by another workflow's version, invisible to this family), it gets another."""
    from dataclasses import replace

    from flowplane.reconcile.decide import decide

    w = _world("a", "b", wanted=1)
    w.edit(Kind.VERSION, f"{WF}-v1", {"spec": {"graph": GRAPHS["c"]()}})
    family = replace(w.family(), taken_names=frozenset({("WorkflowVersion", f"{WF}-v3")}))
    writes = decide(family, w.settings, w.now()).writes
    fork = next(x for x in writes if x.kind == Kind.VERSION and hasattr(x, "body"))
    assert fork.name == f"{WF}-v4"
    assert fork.body["spec"]["version"] == 4  # type: ignore[union-attr]
    assert fork.body["spec"]["graph"] == GRAPHS["c"]()  # type: ignore[union-attr]


def test_a_trip_during_a_half_done_publish_keeps_the_live_version() -> None:
    """Found by the machine: v2's publish was cut short after the Service switch (the
    Service is the only record of v2 being live), then the safety pause tripped. Unwiring
    first, and dying right after, erased that record: nothing was live, and a resume
    restored nothing. Then the statuses go first and the unwire right after them."""
    def setup() -> FakeWorld:
        w = _world("a", "b", wanted=1)
        w.edit(Kind.WORKFLOW, WF, {"spec": {"publishedVersion": 2}})
        w.step(WF, crash_after=4)  # Compiling, plan, the switch, v1 retired
        assert w.service()["metadata"]["annotations"][ACTIVE] == "2"
        assert w.phase(2) == "Compiling" and w.wf_status()["activeVersion"] == 1
        w.edit(Kind.WORKFLOW, WF, {"status": {"safety": {
            "tripped": True, "reason": "RunRateExceeded", "message": "too many runs"}}})
        return w

    writes = setup().decide().writes
    assert writes[0].kind == Kind.VERSION  # v2's status before the unwire
    for crash_after in range(len(writes)):
        w = setup()
        w.step(WF, crash_after=crash_after)
        w.converge(WF, rounds=MAX_ROUNDS)
        assert w.actives() == [2] and w.wf_status()["activeVersion"] == 2
        assert w.wf_status()["phase"] == "PausedSafety"
        assert "selector" not in w.service()["spec"]
        w.check_invariants(WF)
