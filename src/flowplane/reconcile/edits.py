"""Edits of versions: fork on edit (an edit of the live version is saved as a new draft,
then the live graph is restored from its plan) and revert (a version's graph replaced
with the live one). Spec writes, so they come before anything that reads a graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowplane.compiler import compile_graph
from flowplane.model.reasons import EVENT_FORKED, EVENT_REVERT_IGNORED, EVENT_REVERTED
from flowplane.model.resources import ANN_REVERT, VERSION_MAX
from flowplane.model.versions import free_version, next_version_number
from flowplane.reconcile.context import Context
from flowplane.reconcile.objects import fork_body
from flowplane.reconcile.plans import LivePlan
from flowplane.reconcile.snapshot import VersionObj
from flowplane.reconcile.writes import Create, Kind, Patch


def fork_if_edited(ctx: Context, live: VersionObj, live_plan: LivePlan) -> None:
    """An edit of the live version becomes a new draft, and the live graph is put back."""
    if ctx.results[live.meta.name].graph_hash == live_plan.hash:
        return
    assert live_plan.graph is not None
    if fork_edit(ctx, live) is None:
        return
    _put_graph(ctx, live, live_plan.graph, why=f"restore live v{live.number}")


def _put_graph(ctx: Context, v: VersionObj, graph: Mapping[str, Any], why: str) -> None:
    """Write `graph` into v's spec; the rest of the pass reads v as it will be."""
    ctx.write(Patch(Kind.VERSION, v.meta.name, {"spec": {"graph": graph}},
                    v.meta.resource_version, why=why))
    ctx.spec_patched.add(v.meta.name)
    ctx.results[v.meta.name] = compile_graph(graph, ctx.settings.limits)


def fork_edit(ctx: Context, live: VersionObj) -> int | None:
    """Save the edit of live v as a draft (once per edit): the draft's number, or None
    (and `fork_refused` says why) when no number is left for it."""
    edited_hash = ctx.results[live.meta.name].graph_hash
    wf = ctx.wf
    already = [
        v for v in ctx.family.versions
        if v.forked_from == live.number and ctx.results[v.meta.name].graph_hash == edited_hash
        and edited_hash is not None
    ]
    if already:
        return max(v.number for v in already)
    # The next free number, under a name no other object has: versions of other
    # workflows share the namespace, and a create that finds the name taken must
    # not be taken for the fork (the restore below would lose the user's edit).
    taken = {v.meta.name for v in ctx.family.versions} | {
        n for k, n in ctx.family.taken_names if k == Kind.VERSION.value}
    number, name = free_version(
        wf.meta.name, next_version_number(v.number for v in ctx.family.versions), taken)
    if number > VERSION_MAX:
        # No number is left for the draft, and restoring the live graph would
        # discard the edit: keep both as they are (the plan serves the published
        # graph) and ask the user, instead of a create the API server refuses.
        ctx.fork_refused = (
            f"the edit of live v{live.number} cannot be saved as a new draft: "
            f"version numbers end at {VERSION_MAX}; v{live.number} keeps serving "
            "its published graph. Undo the edit of "
            f"{live.meta.name} (or publish another version first)")
        return None
    body = fork_body(wf, ctx.family.namespace, live, number, name)
    ctx.write(Create(Kind.VERSION, name, body, why=f"fork of edited v{live.number}"))
    msg = (f"the edit of live v{live.number} was saved as draft v{number} ({name}); "
           f"v{live.number} keeps serving unchanged")
    ctx.event(Kind.WORKFLOW, wf.meta.name, wf.meta.uid, "Normal", EVENT_FORKED, msg)
    ctx.event(Kind.VERSION, live.meta.name, live.meta.uid, "Normal", EVENT_FORKED, msg)
    return number


def reverts(ctx: Context, live: VersionObj | None, live_plan: LivePlan | None) -> None:
    """Each new revert token replaces that version's graph with the live one (once)."""
    for v in ctx.canonical.values():
        token = v.meta.annotations.get(ANN_REVERT)
        if not token or token == v.status.lastRevertToken:
            continue
        if v is live:
            ctx.event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning", EVENT_REVERT_IGNORED,
                      f"v{v.number} is the live version; there is nothing to revert")
        elif live_plan is None or live_plan.graph is None:
            ctx.event(Kind.VERSION, v.meta.name, v.meta.uid, "Warning", EVENT_REVERT_IGNORED,
                      "no version is live, so there is no published graph to revert to")
        elif ctx.results[v.meta.name].graph_hash != live_plan.hash:
            assert live is not None
            _put_graph(ctx, v, live_plan.graph, why=f"revert v{v.number}")
            ctx.event(Kind.VERSION, v.meta.name, v.meta.uid, "Normal", EVENT_REVERTED,
                      f"graph replaced with the graph of live v{live.number}")
