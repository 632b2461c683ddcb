"""Version names and numbers: how the operator (a fork) and the plugin (new-draft) pick
the next version of a workflow, so both name a new draft the same way."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from flowplane.model.resources import API_VERSION, LABEL_WORKFLOW


def version_name(workflow: str, number: int) -> str:
    """The name a new version of `workflow` gets: `<workflow>-v<number>`."""
    return f"{workflow}-v{number}"


def next_version_number(numbers: Iterable[int]) -> int:
    """One past the highest number in use (1 for a workflow with no version)."""
    return max([*numbers, 0]) + 1


def free_version(workflow: str, number: int, taken: Collection[str], *,
                 renumber: bool = True) -> tuple[int, str]:
    """`number` (or, with `renumber`, the first free one after it) and a name for it that no
    object in `taken` holds.

    Versions of other workflows share the namespace, so `<workflow>-v<n>` may be taken.
    With `renumber` (the operator's fork) the number moves on to the next free name: a
    fork must never be mistaken for an object it did not create. Without it (the plugin,
    which keeps the number it announced) the name gets a suffix: `-2`, `-3`, ...
    """
    name = version_name(workflow, number)
    suffix = 1
    while name in taken:
        if renumber:
            number += 1
            name = version_name(workflow, number)
        else:
            suffix += 1
            name = f"{version_name(workflow, number)}-{suffix}"
    return number, name


def draft_body(workflow: str, namespace: str, name: str, number: int, source: object,
               graph: Any, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A new draft WorkflowVersion `name` of `workflow` holding `graph`, made from
    v`source`: the object both the plugin's new-draft and the operator's fork of an edit
    create (the fork adds its forked-from annotation and owner in `metadata`)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowVersion",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {LABEL_WORKFLOW: workflow}, **(metadata or {})},
        "spec": {
            "workflowRef": {"name": workflow},
            "version": number,
            "label": f"Draft from v{source}",
            "graph": graph,
        },
    }
