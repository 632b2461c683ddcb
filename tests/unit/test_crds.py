"""The CRDs in crds/ are generated from the pydantic models and must not drift."""

from __future__ import annotations

from pathlib import Path

from flowplane.model.crd import all_crds, render

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def test_checked_in_crds_match_the_models() -> None:
    for name, doc in all_crds().items():
        path = CRD_DIR / name
        assert path.exists(), f"{path} is missing: run `flowplane-crds --write crds`"
        assert path.read_text() == render(doc), f"{path} drifted: run `flowplane-crds --write crds`"


def _walk(node: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("x-kubernetes-preserve-unknown-fields"):
            found.append(path)
        for key, value in node.items():
            found += _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk(value, f"{path}[{i}]")
    return found


FREE_FORM = {
    # API.md: only a node's config/inputs are free-form in Workflow and WorkflowVersion.
    "Workflow": (),
    "WorkflowVersion": (".config", ".inputs"),
    # RUNTIME.md: what arrived (the event body) and what each step produced.
    "WorkflowRun": (".event.properties.body", ".steps.items.properties.output"),
}


def test_schemas_are_structural_with_free_form_only_where_the_contract_says() -> None:
    for doc in all_crds().values():
        schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        free = _walk(schema)
        allowed = FREE_FORM[doc["spec"]["names"]["kind"]]
        assert all(p.endswith(allowed) for p in free) if allowed else not free, free
        text = str(schema)
        assert "$ref" not in text and "anyOf" not in text


def test_typed_maps_keep_their_value_schema() -> None:
    """Without additionalProperties the API server would prune every header and query key."""
    run = all_crds()["workflowruns.flowplane.dev.yaml"]
    event = run["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["event"]["properties"]
    assert event["headers"]["additionalProperties"] == {"type": "string"}
    assert event["query"]["additionalProperties"] == {"type": "string"}


def test_names_short_names_columns_and_category() -> None:
    crds = {d["spec"]["names"]["kind"]: d for d in all_crds().values()}
    wf, wfv = crds["Workflow"]["spec"], crds["WorkflowVersion"]["spec"]
    assert wf["names"]["shortNames"] == ["flow", "flows"]
    assert wfv["names"]["shortNames"] == ["wfv", "flowver"]
    assert wf["names"]["categories"] == wfv["names"]["categories"] == ["flowplane"]
    cols = [c["name"].upper() for c in wf["versions"][0]["additionalPrinterColumns"]
            if not c.get("priority")]
    assert cols == ["PHASE", "ACTIVE", "LATEST", "READY", "AGE"]
    cols = [c["name"].upper() for c in wfv["versions"][0]["additionalPrinterColumns"]
            if not c.get("priority")]
    assert cols == ["WORKFLOW", "VERSION", "PHASE", "LABEL", "AGE"]
    wfr = crds["WorkflowRun"]["spec"]
    assert wfr["names"]["shortNames"] == ["wfr", "flowrun"]
    assert wfr["names"]["categories"] == ["flowplane"]
    cols = [c["name"].upper() for c in wfr["versions"][0]["additionalPrinterColumns"]
            if not c.get("priority")]
    assert cols == ["WORKFLOW", "VERSION", "PHASE", "STARTED", "DURATION", "AGE"]
    for spec in (wf, wfv, wfr):
        assert spec["versions"][0]["subresources"] == {"status": {}}
        assert spec["scope"] == "Namespaced"
