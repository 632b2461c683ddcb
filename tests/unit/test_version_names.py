"""The one rule for a new version's number and name, shared by the operator's fork and
the plugin's new-draft (flowplane.model.versions)."""

from __future__ import annotations

import pytest

from flowplane.model.versions import draft_body, free_version, next_version_number, version_name


def test_version_name() -> None:
    assert version_name("wf", 3) == "wf-v3"


@pytest.mark.parametrize(("numbers", "expected"), [
    ([], 1),
    ([1], 2),
    ([3, 1, 2], 4),
    ([7, 2], 8),
])
def test_next_version_number(numbers: list[int], expected: int) -> None:
    assert next_version_number(numbers) == expected


@pytest.mark.parametrize(("number", "taken", "renumber", "expected"), [
    # nothing in the way: the number and its plain name, either way
    (4, set(), True, (4, "wf-v4")),
    (4, set(), False, (4, "wf-v4")),
    # names of other workflows' versions do not count
    (4, {"other-v4", "wf-v3"}, True, (4, "wf-v4")),
    # the operator moves on to the next number whose name is free
    (4, {"wf-v4"}, True, (5, "wf-v5")),
    (4, {"wf-v4", "wf-v5", "wf-v7"}, True, (6, "wf-v6")),
    # the plugin keeps its number and suffixes the name
    (4, {"wf-v4"}, False, (4, "wf-v4-2")),
    (5, {"wf-v5", "wf-v5-2"}, False, (5, "wf-v5-3")),
    (5, {"wf-v5-2"}, False, (5, "wf-v5")),
])
def test_free_version(number: int, taken: set[str], renumber: bool,
                      expected: tuple[int, str]) -> None:
    assert free_version("wf", number, taken, renumber=renumber) == expected


def test_a_draft_is_the_same_object_for_the_plugin_and_the_fork() -> None:
    graph = {"nodes": [{"id": "t"}], "edges": []}
    plain = draft_body("wf", "team-a", "wf-v4", 4, 2, graph)
    assert plain == {
        "apiVersion": "flowplane.dev/v1alpha1", "kind": "WorkflowVersion",
        "metadata": {"name": "wf-v4", "namespace": "team-a",
                     "labels": {"flowplane.dev/workflow": "wf"}},
        "spec": {"workflowRef": {"name": "wf"}, "version": 4, "label": "Draft from v2",
                 "graph": graph},
    }
    forked = draft_body("wf", "team-a", "wf-v4", 4, 2, graph,
                        {"annotations": {"flowplane.dev/forked-from": "2"}})
    assert forked["metadata"]["annotations"] == {"flowplane.dev/forked-from": "2"}
    assert {k: v for k, v in forked.items() if k != "metadata"} == {
        k: v for k, v in plain.items() if k != "metadata"}
