"""`kubectl flowplane lint` / `flowplane-lint`: the operator's checks on YAML files, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplane.cli import lint
from flowplane.cli import main as plugin
from flowplane.compiler import compile_graph
from flowplane.compiler.errors import join_path
from flowplane.model.crd import workflow_crd

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "manifests" / "samples" / "form-to-slack"
WORKFLOW = SAMPLES / "workflow.yaml"
V1 = SAMPLES / "v1.yaml"
V2 = SAMPLES / "v2.yaml"
V2_EDIT = SAMPLES / "edits" / "v2-add-email.yaml"
V4_BROKEN = SAMPLES / "edits" / "v4-broken.yaml"

JSON_KEYS = {"file", "line", "kind", "name", "code", "node", "path", "message", "severity"}


def run_json(*argv: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[Any]]:
    code = lint.main(["-o", "json", *map(str, argv)])
    out = capsys.readouterr().out
    findings = json.loads(out)
    assert isinstance(findings, list)
    for item in findings:
        assert set(item) == JSON_KEYS
    return code, findings


def codes(findings: list[Any]) -> list[str]:
    return [f["code"] for f in findings]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def workflow_doc(name: str = "wf", published: int | None = None, namespace: str | None = None
                 ) -> str:
    meta = f"{{name: {name}" + (f", namespace: {namespace}" if namespace else "") + "}"
    spec = f"{{publishedVersion: {published}}}" if published is not None else "{}"
    return f"apiVersion: flowplane.dev/v1alpha1\nkind: Workflow\nmetadata: {meta}\nspec: {spec}\n"


def version_doc(workflow: str = "wf", number: int = 1, name: str | None = None,
                namespace: str | None = None) -> str:
    """A valid version: metadata.name on line 4, workflowRef line 6, version line 7, the
    nodes on lines 10 and 11 (one more each with a namespace)."""
    lines = [
        "apiVersion: flowplane.dev/v1alpha1",
        "kind: WorkflowVersion",
        "metadata:",
        f"  name: {name or f'{workflow}-v{number}'}",
        *([f"  namespace: {namespace}"] if namespace else []),
        "spec:",
        f"  workflowRef: {{name: {workflow}}}",
        f"  version: {number}",
        "  graph:",
        "    nodes:",
        "      - {id: form, role: trigger, type: webhook, config: {path: /submit}}",
        "      - {id: notify, role: action, app: slack, operation: chat.postMessage}",
        "    edges:",
        "      - {from: form, to: notify}",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the shipped samples


@pytest.mark.parametrize("files", [
    [WORKFLOW, V1, V2],
    [WORKFLOW, V1, V2_EDIT],
    [WORKFLOW, V1],
])
def test_the_samples_are_clean(files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, findings = run_json(*files, capsys=capsys)
    assert (code, findings) == (0, [])
    assert lint.main([str(f) for f in files]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"no problems ({len(files)} files, {len(files)} flowplane objects)"


def test_a_version_alone_warns_that_its_workflow_is_missing(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, findings = run_json(V2_EDIT, capsys=capsys)
    assert code == 0  # a warning only
    assert [(f["code"], f["severity"], f["line"], f["path"]) for f in findings] == [
        ("WorkflowNotFound", "warning", 9, "spec.workflowRef.name")]
    assert lint.main(["--strict", str(V2_EDIT)]) == 1


def test_v4_broken_reports_every_compiler_error_with_file_and_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, findings = run_json(WORKFLOW, V4_BROKEN, capsys=capsys)
    assert code == 1
    assert findings == [
        {"file": str(V4_BROKEN), "line": 14, "kind": "WorkflowVersion",
         "name": "form-to-slack-v4", "code": "MultipleTriggers", "node": "second",
         "path": "spec.graph.nodes[1]", "severity": "error",
         "message": 'the graph must have exactly one trigger; "form" is the trigger, so '
                    '"second" cannot be one too'},
        {"file": str(V4_BROKEN), "line": 16, "kind": "WorkflowVersion",
         "name": "form-to-slack-v4", "code": "UnreachableNode", "node": "orphan",
         "path": "spec.graph.nodes[3]", "severity": "error",
         "message": 'node "orphan" is not reachable from the trigger; connect it downstream '
                    "of the trigger or remove it"},
    ]
    # the very errors the operator's compiler gives (and would write to status.errors)
    graph = yaml.safe_load(V4_BROKEN.read_text())["spec"]["graph"]
    expected = compile_graph(graph).errors
    assert [(f["code"], f["node"], f["path"], f["message"]) for f in findings] == [
        (e.code, e.node, f"spec.{e.path}", e.message) for e in expected]
    lines = V4_BROKEN.read_text().splitlines()
    assert "id: second" in lines[14 - 1] and "id: orphan" in lines[16 - 1]


def test_v4_broken_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["lint", "-f", str(WORKFLOW), "-f", str(V4_BROKEN)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{V4_BROKEN}:14: error: MultipleTriggers [workflowversion/form-to-slack-v4, "
        'spec.graph.nodes[1], node second]: the graph must have exactly one trigger; "form" '
        'is the trigger, so "second" cannot be one too',
        f"{V4_BROKEN}:16: error: UnreachableNode [workflowversion/form-to-slack-v4, "
        'spec.graph.nodes[3], node orphan]: node "orphan" is not reachable from the trigger; '
        "connect it downstream of the trigger or remove it",
        "2 errors, 0 warnings (2 files, 2 flowplane objects)",
    ]


def test_the_samples_directory_in_kubectl_apply_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert lint.collect_files([str(SAMPLES)]) == [
        str(V2_EDIT), str(V4_BROKEN), str(V1), str(V2), str(WORKFLOW)]
    code, findings = run_json(SAMPLES, capsys=capsys)
    assert code == 1
    assert [(Path(f["file"]).name, f["line"], f["code"], f["severity"]) for f in findings] == [
        ("v4-broken.yaml", 14, "MultipleTriggers", "error"),
        ("v4-broken.yaml", 16, "UnreachableNode", "error"),
        # edits/v2-add-email.yaml and v2.yaml are the same object: the later one wins
        ("v2.yaml", 4, "DuplicateObject", "warning"),
    ]
    assert f"{V2_EDIT}:4" in findings[2]["message"]


# ------------------------------------------------------------------ across files


def test_duplicate_version_names_both_files(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "wf.yaml", workflow_doc(published=1))
    a = write(tmp_path / "a.yaml", version_doc(number=1, name="wf-one"))
    b = write(tmp_path / "b.yaml", version_doc(number=1, name="wf-first"))
    code, findings = run_json(tmp_path, capsys=capsys)
    assert code == 1
    (dup,) = findings
    assert (dup["code"], dup["file"], dup["line"], dup["name"], dup["path"]) == (
        "DuplicateVersion", str(b), 7, "wf-first", "spec.version")
    assert f"{a}:1" in dup["message"] and f"{b}:1" in dup["message"]


def test_same_names_in_other_namespaces_are_other_objects(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.yaml", workflow_doc(namespace="team-a") + "---\n"
          + version_doc(namespace="team-a"))
    write(tmp_path / "b.yaml", workflow_doc(namespace="team-b") + "---\n"
          + version_doc(namespace="team-b"))
    assert run_json(tmp_path, capsys=capsys) == (0, [])
    # an object that names no namespace is in the namespace -n names
    write(tmp_path / "c.yaml", version_doc(number=2))
    code, findings = run_json(tmp_path, capsys=capsys)
    assert (code, codes(findings)) == (0, ["WorkflowNotFound"])
    assert lint.main(["-o", "json", "-n", "team-a", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert lint.main(["-n", "team-b", str(tmp_path / "b.yaml"), str(tmp_path / "c.yaml")]) == 0
    capsys.readouterr()


def test_workflow_not_found_is_a_warning_unless_strict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = write(tmp_path / "v.yaml", version_doc(workflow="ghost"))
    code, findings = run_json(v, capsys=capsys)
    assert code == 0
    assert [(f["code"], f["severity"], f["line"]) for f in findings] == [
        ("WorkflowNotFound", "warning", 6)]
    assert "'ghost'" in findings[0]["message"]
    code, findings = run_json("--strict", v, capsys=capsys)
    assert (code, findings[0]["severity"]) == (1, "error")
    assert lint.main([str(v)]) == 0
    assert "0 errors, 1 warning (1 file, 1 flowplane object)" in capsys.readouterr().out


def test_published_version_not_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = write(tmp_path / "wf.yaml", """
        # the handle
        apiVersion: flowplane.dev/v1alpha1
        kind: Workflow
        metadata:
          name: wf
        spec:
          displayName: W
          publishedVersion: 3
        """)
    write(tmp_path / "v1.yaml", version_doc(number=1))
    write(tmp_path / "v2.yaml", version_doc(number=2))
    code, findings = run_json(tmp_path, capsys=capsys)
    assert code == 1
    (f,) = findings
    assert (f["code"], f["file"], f["line"], f["kind"], f["name"], f["path"]) == (
        "PublishedVersionNotFound", str(wf), 8, "Workflow", "wf", "spec.publishedVersion")
    assert "versions found: 1, 2" in f["message"]
    # a version of another workflow does not count
    write(tmp_path / "v3.yaml", version_doc(workflow="other", number=3))
    write(tmp_path / "other.yaml", workflow_doc(name="other"))
    assert codes(run_json(tmp_path, capsys=capsys)[1]) == ["PublishedVersionNotFound"]
    write(tmp_path / "v3b.yaml", version_doc(number=3))
    assert run_json(tmp_path, capsys=capsys) == (0, [])


def test_invalid_yaml_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.yaml", version_doc() + "---\nkind: [unclosed\nmore: x\n")
    code, findings = run_json(bad, capsys=capsys)
    assert code == 1
    # the document before the broken one is still linted
    assert [(f["code"], f["line"]) for f in findings] == [
        ("WorkflowNotFound", 6), ("InvalidYAML", 16)]
    assert findings[1]["message"] == (
        "the file is not valid YAML: expected ',' or ']', but got ':' (while parsing a flow "
        "sequence that starts on line 15)")
    assert findings[1]["kind"] is None and findings[1]["name"] is None
    tabs = write(tmp_path / "tabs.yaml", "a:\n\tb: 1\n")
    assert [(f["code"], f["line"]) for f in run_json(tabs, capsys=capsys)[1]] == [
        ("InvalidYAML", 2)]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    assert [(f["code"], f["line"]) for f in run_json(latin, capsys=capsys)[1]] == [
        ("InvalidYAML", 2)]


@pytest.mark.parametrize("text", [
    "a: &a [*a, *a]\n",
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(7)),
])
def test_alias_bombs_are_refused(tmp_path: Path, text: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "bomb.yaml", text)
    code, findings = run_json(f, capsys=capsys)
    assert (code, codes(findings)) == (1, ["InvalidYAML"])


@pytest.mark.parametrize(("name", "ok"), [
    ("a" * 55, True),
    ("a" * 56, False),
    ("form-to-slack", True),
    ("trailing-", False),
    ("with.dot", False),
    ("Upper", False),
])
def test_workflow_names_must_name_a_service(tmp_path: Path, name: str, ok: bool,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "wf.yaml", workflow_doc(name=name))
    code, findings = run_json(f, capsys=capsys)
    if ok:
        assert (code, findings) == (0, [])
    else:
        assert code == 1
        assert [(x["code"], x["path"], x["line"]) for x in findings] == [
            ("InvalidName", "metadata.name", 3)]


def test_the_name_rule_is_the_crds() -> None:
    rule = workflow_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "x-kubernetes-validations"][0]["rule"]
    assert f"size(self.metadata.name) <= {lint.MAX_WORKFLOW_NAME}" in rule
    assert f"matches('{lint.WORKFLOW_NAME.pattern}')" in rule


def test_one_object_defined_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.yaml", version_doc())
    b = write(tmp_path / "b.yaml", workflow_doc() + "---\n" + version_doc())
    code, findings = run_json(a, b, capsys=capsys)
    assert code == 0
    assert [(f["code"], f["file"], f["line"], f["severity"]) for f in findings] == [
        ("DuplicateObject", str(b), 9, "warning")]
    assert f"{a}:1" in findings[0]["message"]
    # the same file named twice is read once
    assert run_json(b, tmp_path / "b.yaml", capsys=capsys) == (0, [])
    assert run_json("--strict", a, b, capsys=capsys)[0] == 1


# ------------------------------------------------------------------ one object


def test_schema_errors_with_field_paths(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "v.yaml", """
        apiVersion: flowplane.dev/v1alpha1
        kind: WorkflowVersion
        metadata:
          name: wf-v0
        spec:
          workflowRef: {}
          version: 0
          lable: typo
          graph:
            nodes:
              - id: Form
                role: trigger
                type: webhook
                config: {path: /x}
        ---
        apiVersion: flowplane.dev/v1alpha1
        kind: Workflow
        metadata:
          name: wf
        spec:
          publishedVersion: "2"
          runHistory: {succeeded: 3, faild: 1}
        ---
        apiVersion: flowplane.dev/v1alpha1
        kind: WorkflowVersion
        metadata: {name: nograph}
        spec: {workflowRef: {name: wf}, version: 2}
        ---
        apiVersion: flowplane.dev/v1alpha1
        kind: Workflow
        metadata: {namespace: x}
        """)
    code, findings = run_json(f, capsys=capsys)
    assert code == 1
    got = [(x["code"], x["line"], x["path"], x["node"]) for x in findings]
    assert got == [
        ("SchemaInvalid", 6, "spec.workflowRef.name", None),
        ("SchemaInvalid", 7, "spec.version", None),
        ("UnknownField", 8, "spec.lable", None),
        ("SchemaInvalid", 11, "spec.graph.nodes[0].id", "Form"),
        ("SchemaInvalid", 21, "spec.publishedVersion", None),
        ("UnknownField", 22, "spec.runHistory.faild", None),
        ("SchemaInvalid", 27, "spec.graph", None),
        ("SchemaInvalid", 29, "spec", None),  # no spec: the document's first line
        ("SchemaInvalid", 31, "metadata.name", None),
    ]


def test_graph_paths_map_to_lines_in_block_and_flow_style(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "v.yaml", """
        apiVersion: flowplane.dev/v1alpha1
        kind: WorkflowVersion
        metadata:
          name: wf-v1
        spec:
          workflowRef: {name: wf}
          version: 1
          graph:
            nodes:
              - id: form
                role: trigger
                type: schedule
                config:
                  cron: "not a cron"
              - id: wait
                role: system
                type: delay
                config:
                  duration: soon
              - {id: say, role: action, app: slack, operation: post,
                 inputs: {text: "{{ nodes.nobody.output }}"}}
            edges:
              - {from: form, to: wait}
              - from: wait
                to: say
                port: "true"
        """)
    code, findings = run_json(f, capsys=capsys)
    assert code == 1
    assert [(x["code"], x["line"], x["node"], x["path"]) for x in findings] == [
        ("WorkflowNotFound", 6, None, "spec.workflowRef.name"),
        ("InvalidCron", 14, "form", "spec.graph.nodes[0].config.cron"),
        ("InvalidDuration", 19, "wait", "spec.graph.nodes[1].config.duration"),
        ("InvalidTemplateReference", 21, "say", "spec.graph.nodes[2].inputs.text"),
        ("InvalidPort", 26, "wait", "spec.graph.edges[1].port"),
    ]


def test_other_documents_are_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "kustomization.yaml", "resources: [wf.yaml]\nnamespace: team-a\n")
    write(tmp_path / "notes.txt", "not: [yaml\n")
    write(tmp_path / "sub" / "other.yml", """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: hello-}
        spec: {entrypoint: main}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm}
        ---
        ---
        - just a list
        ---
        apiVersion: flowplane.dev/v1alpha1
        kind: WorkflowRun
        metadata: {name: r}
        """)
    write(tmp_path / "wf.yaml", workflow_doc(published=1))
    write(tmp_path / "list.yaml", "apiVersion: v1\nkind: List\nitems:\n- "
          + textwrap.indent(version_doc(), "  ").lstrip())
    code, findings = run_json(tmp_path, capsys=capsys)
    assert (code, findings) == (0, [])
    assert lint.main([str(tmp_path)]) == 0
    assert "(3 files, 2 flowplane objects)" in capsys.readouterr().out
    # an explicitly named kustomization is skipped too
    assert lint.collect_files([str(tmp_path / "kustomization.yaml"), str(tmp_path / "wf.yaml")]
                              ) == [str(tmp_path / "wf.yaml")]


def test_list_items_map_to_their_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [workflow_doc(), version_doc().replace("type: webhook", "type: shedule")]
    f = write(tmp_path / "list.yaml", "apiVersion: v1\nkind: WorkflowVersionList\nitems:\n"
              + "".join("- " + textwrap.indent(item, "  ").lstrip() for item in items))
    code, findings = run_json(f, capsys=capsys)
    assert code == 1
    (x,) = findings
    assert (x["code"], x["line"], x["name"], x["path"]) == (
        "InvalidNodeType", 17, "wf-v1", "spec.graph.nodes[0].type")
    assert "type: shedule" in f.read_text().splitlines()[17 - 1]


def test_unknown_flowplane_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "x.yaml", """
        apiVersion: flowplane.dev/v1
        kind: Workflow
        metadata: {name: wf}
        ---
        apiVersion: flowplane.dev/v1alpha1
        kind: Flow
        metadata: {name: wf}
        """)
    code, findings = run_json(f, capsys=capsys)
    assert (code, [(x["code"], x["line"]) for x in findings]) == (
        1, [("UnknownKind", 2), ("UnknownKind", 6)])


def test_timestamps_stay_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "v.yaml", version_doc().replace(
        "config: {path: /submit}", "config: {path: /submit, since: 2024-01-02}")
        + "---\n" + workflow_doc().replace("spec: {}", "spec: {displayName: 2024-01-02}"))
    assert run_json(f, capsys=capsys) == (0, [])


# ------------------------------------------------------------------ plan limits


def test_plan_limits_from_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "wf.yaml", workflow_doc())
    v = write(tmp_path / "v.yaml", version_doc())
    assert run_json(tmp_path, capsys=capsys) == (0, [])
    code, findings = run_json("--max-nodes", "1", tmp_path, capsys=capsys)
    assert (code, [(f["code"], f["path"], f["line"]) for f in findings]) == (
        1, [("TooManyNodes", "spec.graph.nodes", 9)])
    code, findings = run_json("--allowed-trigger-types", " schedule, app ", tmp_path,
                              capsys=capsys)
    assert (code, [(f["code"], f["node"], f["line"]) for f in findings]) == (
        1, [("TriggerTypeNotAllowed", "form", 10)])
    assert "allowed: app, schedule" in findings[0]["message"]
    code, findings = run_json("--allowed-apps", "http,email", tmp_path, capsys=capsys)
    assert (code, [(f["code"], f["node"], f["path"]) for f in findings]) == (
        1, [("AppNotAllowed", "notify", "spec.graph.nodes[1].app")])
    # empty means any, as for the operator's flags
    assert run_json("--allowed-apps", "", "--allowed-trigger-types", ",", v, tmp_path,
                    capsys=capsys) == (0, [])
    assert run_json("--max-nodes", "2", "--allowed-apps", "slack", "--allowed-trigger-types",
                    "webhook", tmp_path, capsys=capsys) == (0, [])


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_bad_max_nodes_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        lint.main(["--max-nodes", value, str(WORKFLOW)])
    assert exc.value.code == 2


# ------------------------------------------------------------------ usage and exit codes


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    for argv in ([], ["-o", "json"]):
        with pytest.raises(SystemExit) as exc:
            lint.main(argv)
        assert exc.value.code == 2
        with pytest.raises(SystemExit) as exc:
            plugin.main(["lint", *argv])
        assert exc.value.code == 2
    assert lint.main([str(tmp_path / "missing.yaml")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert lint.main([str(tmp_path / "empty")]) == 2
    assert "no *.yaml or *.yml files" in capsys.readouterr().err
    write(tmp_path / "k" / "kustomization.yaml", "resources: []\n")
    assert lint.main(["-f", str(tmp_path / "k" / "kustomization.yaml")]) == 2
    capsys.readouterr()

    f = write(tmp_path / "wf.yaml", workflow_doc())
    real = Path.read_bytes

    def unreadable(self: Path) -> bytes:
        if self.name == "wf.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    assert lint.main([str(f)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lint.main([str(WORKFLOW), str(V1)]) == 0
    assert lint.main([str(V1)]) == 0  # a warning only
    assert lint.main([str(V4_BROKEN)]) == 1
    capsys.readouterr()


def test_the_plugin_needs_no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setattr(plugin, "Api", None)  # any use of the API would fail
    args = ["lint", "-f", str(WORKFLOW), "-f", str(V1), "-f", str(V2), "-o", "json"]
    assert plugin.main(args) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert plugin.main(["-n", "team-a", "lint", str(SAMPLES), "--strict"]) == 1
    assert plugin.main(["lint", "-f", str(V1), "--max-nodes", "1"]) == 1
    capsys.readouterr()


def test_output_is_stable_and_terminal_safe(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "v.yaml", version_doc(workflow="wf", name="evil")
              .replace("id: notify", 'id: "no\\e[2Jtify"'))
    assert lint.main([str(f)]) == 1
    first = capsys.readouterr().out
    assert "\x1b" not in first and "no?[2Jtify" in first
    assert lint.main([str(f)]) == 1
    assert capsys.readouterr().out == first
    assert run_json(f, capsys=capsys)[0] == 1
    findings = run_json(f, capsys=capsys)[1]
    assert any("\x1b" in (x["node"] or "") + x["message"] for x in findings)  # JSON keeps it


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "flowplane-lint"
    assert script.exists(), "run `.venv/bin/pip install -e .` to install the console scripts"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KUBECONFIG")}
    ok = subprocess.run([str(script), str(WORKFLOW), str(V1), str(V2)], capture_output=True,
                        text=True, timeout=60, env=env, check=False)
    assert (ok.returncode, ok.stdout.strip()) == (0, "no problems (3 files, 3 flowplane objects)")
    broken = subprocess.run([str(script), "-o", "json", str(WORKFLOW), str(V4_BROKEN)],
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert broken.returncode == 1
    assert [(f["code"], f["line"]) for f in json.loads(broken.stdout)] == [
        ("MultipleTriggers", 14), ("UnreachableNode", 16)]
    usage = subprocess.run([str(script)], capture_output=True, text=True, timeout=60, env=env,
                           check=False)
    assert usage.returncode == 2 and "usage: flowplane-lint" in usage.stderr
    stdin = subprocess.run([str(script), "-"], input=V4_BROKEN.read_text(), capture_output=True,
                           text=True, timeout=60, env=env, check=False)
    assert stdin.returncode == 1
    assert "\n<stdin>:14: error: MultipleTriggers" in stdin.stdout


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize("parts", [
    ["graph"],
    ["graph", "nodes", 3],
    ["graph", "nodes", 0, "config", "a b"],
    ["graph", "edges", 12, "port"],
    ["graph", "nodes", 1, "inputs", 'q"uote', "x-y"],
])
def test_parse_path_inverts_join_path(parts: list[str | int]) -> None:
    assert lint.parse_path(join_path(str(parts[0]), parts[1:])) == parts


def test_line_of_falls_back_to_the_deepest_node() -> None:
    root = yaml.compose("a:\n  b:\n    - x\n    - {c: 1,\n       d: 2}\n")
    assert root is not None
    assert lint.line_of(root, []) == 1
    assert lint.line_of(root, ["a", "b"]) == 2
    assert lint.line_of(root, ["a", "b", 1]) == 4
    assert lint.line_of(root, ["a", "b", 1, "d"]) == 5
    assert lint.line_of(root, ["a", "b", 1, "missing"]) == 4
    assert lint.line_of(root, ["a", "b", 9]) == 2
