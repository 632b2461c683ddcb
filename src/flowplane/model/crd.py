"""Render the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth; `crds/` holds the rendered YAML and a
unit test fails when the two drift. Run `flowplane-crds --write crds` after a change.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from flowplane.model.resources import (
    GROUP,
    VERSION,
    VERSION_PLURAL,
    WORKFLOW_PLURAL,
    WorkflowSpec,
    WorkflowStatus,
    WorkflowVersionSpec,
    WorkflowVersionStatus,
)
from flowplane.model.run import RUN_PLURAL, WorkflowRunSpec, WorkflowRunStatus

JsonSchema = dict[str, Any]

_DROP_KEYS = {"title", "default", "additionalProperties", "$defs"}


def _structural(node: Any, defs: dict[str, JsonSchema]) -> Any:
    """Turn pydantic's JSON Schema into a Kubernetes structural schema.

    Inlines $refs, folds Optional (anyOf with null) into the plain type, and marks
    free-form dicts with x-kubernetes-preserve-unknown-fields.
    """
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _structural({**target, **extra}, defs)
    if "anyOf" in node:
        options = [opt for opt in node["anyOf"] if opt.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot render a union as a structural schema: {node}")
        merged = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        return _structural(merged, defs)
    out: JsonSchema = {}
    free_form = node.get("type") == "object" and node.get("additionalProperties") is True
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _structural(value, defs)
    if isinstance(node.get("additionalProperties"), dict):
        # A typed map (dict[str, str]): without this the API server prunes every key.
        out["additionalProperties"] = _structural(node["additionalProperties"], defs)
    if free_form:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def schema_of(model: type[BaseModel]) -> JsonSchema:
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    result: JsonSchema = _structural(raw, raw.get("$defs", {}))
    return result


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    root_rules: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    schema: JsonSchema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": schema_of(spec),
            "status": schema_of(status),
        },
    }
    if root_rules:
        schema["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "flowplane"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["flowplane"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _condition_column(name: str, cond: str, priority: int = 0, field: str = "status") -> JsonSchema:
    col: JsonSchema = {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{cond}")].{field}',
    }
    if priority:
        col["priority"] = priority
    return col


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def workflow_crd() -> dict[str, Any]:
    return _crd(
        kind="Workflow",
        plural=WORKFLOW_PLURAL,
        short_names=["flow", "flows"],
        spec=WorkflowSpec,
        status=WorkflowStatus,
        # `<name>-trigger` names the Service (a DNS label) and `<name>` is a label value.
        root_rules=[{
            "rule": "size(self.metadata.name) <= 55 && "
                    "self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
            "message": "a Workflow name must be a DNS label of at most 55 characters "
                       "(lowercase letters, digits and '-'), because it names the Service "
                       "<name>-trigger",
        }],
        columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Active", "type": "integer", "jsonPath": ".status.activeVersion"},
            {"name": "Latest", "type": "integer", "jsonPath": ".status.latestVersion"},
            _condition_column("Ready", "Ready"),
            _AGE,
            {"name": "Wanted", "type": "integer", "jsonPath": ".spec.publishedVersion",
             "priority": 1},
            _condition_column("Reason", "Ready", priority=1, field="reason"),
            _condition_column("Message", "Ready", priority=1, field="message"),
        ],
    )


def workflow_version_crd() -> dict[str, Any]:
    return _crd(
        kind="WorkflowVersion",
        plural=VERSION_PLURAL,
        short_names=["wfv", "flowver"],
        spec=WorkflowVersionSpec,
        status=WorkflowVersionStatus,
        columns=[
            {"name": "Workflow", "type": "string", "jsonPath": ".spec.workflowRef.name"},
            {"name": "Version", "type": "integer", "jsonPath": ".spec.version"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Label", "type": "string", "jsonPath": ".spec.label"},
            _AGE,
            _condition_column("Valid", "Validated", priority=1),
            {"name": "Forked-From", "type": "integer", "jsonPath": ".status.forkedFrom",
             "priority": 1},
            {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodeCount", "priority": 1},
            {"name": "Hash", "type": "string", "jsonPath": ".status.shortHash", "priority": 1},
        ],
    )


def workflow_run_crd() -> dict[str, Any]:
    doc = _crd(
        kind="WorkflowRun",
        plural=RUN_PLURAL,
        short_names=["wfr", "flowrun"],
        spec=WorkflowRunSpec,
        status=WorkflowRunStatus,
        columns=[
            {"name": "Workflow", "type": "string", "jsonPath": ".spec.workflowRef.name"},
            {"name": "Version", "type": "integer", "jsonPath": ".spec.version"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
            {"name": "Duration", "type": "string", "jsonPath": ".status.duration"},
            _AGE,
            {"name": "Trigger", "type": "string", "jsonPath": ".spec.trigger.type",
             "priority": 1},
            _condition_column("Reason", "Succeeded", priority=1, field="reason"),
            {"name": "Error", "type": "string", "jsonPath": ".status.error.message",
             "priority": 1},
        ],
    )
    spec_schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [
        {"rule": "self == oldSelf", "message": "a WorkflowRun's spec is immutable"}]
    return doc


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD document."""
    return {
        f"{WORKFLOW_PLURAL}.{GROUP}.yaml": workflow_crd(),
        f"{VERSION_PLURAL}.{GROUP}.yaml": workflow_version_crd(),
        f"{RUN_PLURAL}.{GROUP}.yaml": workflow_run_crd(),
    }


def render(doc: dict[str, Any]) -> str:
    header = "# Generated by `flowplane-crds --write crds` from src/flowplane/model. Do not edit.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render flowplane's CRDs from its models.")
    parser.add_argument("--write", metavar="DIR", help="write the CRD files into DIR")
    parser.add_argument("--check", metavar="DIR", help="exit 1 if DIR is out of date")
    args = parser.parse_args(argv)
    if args.write:
        for name, doc in all_crds().items():
            (Path(args.write) / name).write_text(render(doc))
        return 0
    if args.check:
        stale = [n for n, d in all_crds().items()
                 if not (Path(args.check) / n).exists()
                 or (Path(args.check) / n).read_text() != render(d)]
        for name in stale:
            print(f"out of date: {Path(args.check) / name}", file=sys.stderr)
        return 1 if stale else 0
    for doc in all_crds().values():
        sys.stdout.write("---\n" + render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
