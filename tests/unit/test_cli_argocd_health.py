"""The Argo CD health checks in docs/argocd, run in Lua 5.1 (the dialect Argo CD embeds).

Each case is a status the operator writes; the scripts must also be the ones that
docs/operations.md tells users to paste into argocd-cm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

DOCS = Path(__file__).resolve().parents[2] / "docs"
WORKFLOW = (DOCS / "argocd" / "workflow-health.lua").read_text()
VERSION = (DOCS / "argocd" / "workflowversion-health.lua").read_text()


def health(script: str, obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"] or "")


def workflow(phase: str = "Published", ready: tuple[str, str] | None = ("True", "Published"),
             generation: int = 4, observed: int = 4) -> dict[str, Any]:
    conditions = [{"type": "Published", "status": "True", "reason": "VersionActive"}]
    if ready is not None:
        conditions.insert(0, {"type": "Ready", "status": ready[0], "reason": ready[1],
                              "message": f"about {ready[1]}", "observedGeneration": observed})
    return {"metadata": {"name": "wf", "generation": generation},
            "status": {"phase": phase, "observedGeneration": observed,
                       "conditions": conditions}}


@pytest.mark.parametrize(("obj", "expected"), [
    (workflow(), "Healthy"),
    (workflow(phase="Draft", ready=("True", "NothingPublished")), "Healthy"),
    (workflow(phase="Archived", ready=("True", "Archived")), "Healthy"),
    (workflow(phase="Disabled", ready=("True", "Suspended")), "Suspended"),
    (workflow(ready=("False", "Publishing")), "Progressing"),
    (workflow(phase="Draft", ready=("False", "VersionNotFound")), "Progressing"),
    (workflow(ready=("False", "ValidationFailed")), "Degraded"),
    (workflow(ready=("False", "CompileFailed")), "Degraded"),
    (workflow(phase="PausedSafety", ready=("False", "SafetyPaused")), "Degraded"),
    (workflow(phase="Archived", ready=("False", "PublishRejected")), "Degraded"),
    (workflow(ready=("False", "ServiceConflict")), "Degraded"),
    (workflow(ready=("False", "InvalidSpec")), "Degraded"),
    (workflow(ready=("False", "ForkRefused")), "Degraded"),
    (workflow(ready=("False", "SomethingNew")), "Progressing"),
    # the operator has not acted on the latest spec yet: the old Ready does not count
    (workflow(ready=("True", "Published"), generation=5, observed=4), "Progressing"),
    (workflow(ready=None), "Progressing"),
    ({"metadata": {"name": "wf", "generation": 1}}, "Progressing"),
    ({"metadata": {"name": "wf", "generation": 1}, "status": {}}, "Progressing"),
])
def test_workflow_health(obj: dict[str, Any], expected: str) -> None:
    status, message = health(WORKFLOW, obj)
    assert status == expected
    assert message


def test_degraded_message_names_the_reason() -> None:
    status, message = health(WORKFLOW, workflow(ready=("False", "ValidationFailed")))
    assert (status, message) == ("Degraded", "ValidationFailed: about ValidationFailed")


def version(phase: str | None, errors: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"errors": [{"code": "MultipleTriggers", "message": "two"}] * errors}
    if phase:
        status["phase"] = phase
    return {"metadata": {"name": "wf-v1", "generation": 1}, "status": status}


@pytest.mark.parametrize(("obj", "expected"), [
    (version("Active"), "Healthy"), (version("Inactive"), "Healthy"),
    (version("Draft"), "Healthy"), (version("Draft", errors=2), "Healthy"),
    (version("Compiling"), "Progressing"), (version("Invalid", errors=2), "Degraded"),
    (version("Failed", errors=1), "Degraded"), (version(None), "Progressing"),
    ({"metadata": {"name": "wf-v1"}}, "Progressing"),
])
def test_workflow_version_health(obj: dict[str, Any], expected: str) -> None:
    assert health(VERSION, obj)[0] == expected


def test_error_summary() -> None:
    assert health(VERSION, version("Invalid", errors=2))[1] == (
        "Invalid: 2 error(s), first: MultipleTriggers: two")


def test_operations_doc_embeds_the_same_scripts() -> None:
    doc = (DOCS / "operations.md").read_text()
    for script in (WORKFLOW, VERSION):
        indented = "".join(f"    {line}" if line.strip() else line
                           for line in script.splitlines(keepends=True))
        assert indented in doc
