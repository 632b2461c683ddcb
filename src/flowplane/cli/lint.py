"""`kubectl flowplane lint` / `flowplane-lint`: check flowplane YAML offline, for GitOps CI.

The operator's own checks, with no cluster: each Workflow and WorkflowVersion document
is validated against the API models (`flowplane.model.resources`), and each version's
graph is compiled by `flowplane.compiler.compile_graph` with the plan limits given as
flags (the operator's `--max-nodes`, `--allowed-trigger-types`, `--allowed-apps`). Then
the facts that only show across files: duplicate version numbers, versions of a
workflow that is not in the set, a `spec.publishedVersion` naming no version in the set,
one object defined twice.

Every finding has a stable code, the object, the node and the field path, and the
`file:line` of that field (PyYAML's composer keeps each node's position). Paths start
at the document root (`spec.graph.nodes[1]`; the operator's status.errors say
`graph.nodes[1]`, relative to the spec).

Exit codes: 0 no errors (warnings allowed), 1 an error was found, 2 wrong usage (no
files, an unreadable path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from flowplane.cli.table import clean
from flowplane.compiler import DEFAULT_LIMITS, PlanLimits, compile_graph
from flowplane.compiler.errors import SCHEMA_INVALID, join_path
from flowplane.model import reasons
from flowplane.model.graph import Graph
from flowplane.model.resources import GROUP, VERSION, WorkflowSpec, WorkflowVersionSpec
from flowplane.operator.config import _csv as csv_list  # the operator's flag parsing

PROG = "flowplane-lint"

WORKFLOW = "Workflow"
WORKFLOW_VERSION = "WorkflowVersion"
KINDS = (WORKFLOW, WORKFLOW_VERSION)
IGNORED_KINDS = frozenset({"WorkflowRun"})
"""flowplane.dev kinds that are not linted (the runtime creates runs)."""
KUSTOMIZATIONS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
EXTENSIONS = (".yaml", ".yml")

# Codes the lint adds to the compiler's (flowplane.compiler.ERROR_CODES).
INVALID_YAML = "InvalidYAML"
UNKNOWN_KIND = "UnknownKind"
UNKNOWN_FIELD = "UnknownField"
INVALID_NAME = reasons.REASON_INVALID_NAME
DUPLICATE_OBJECT = "DuplicateObject"
DUPLICATE_VERSION = reasons.REASON_DUPLICATE_VERSION
WORKFLOW_NOT_FOUND = reasons.REASON_WORKFLOW_NOT_FOUND
PUBLISHED_VERSION_NOT_FOUND = "PublishedVersionNotFound"
WARNING_CODES = frozenset({WORKFLOW_NOT_FOUND, DUPLICATE_OBJECT})
"""Warnings unless --strict; every other code is an error."""

ERROR = "error"
WARNING = "warning"

# The CEL rule on the Workflow CRD (flowplane.model.crd.workflow_crd): the name names the
# Service `<name>-trigger`, a DNS label.
WORKFLOW_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_WORKFLOW_NAME = 55
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_OBJECT_NAME = 253
MAX_EXPANDED_NODES = 1_000_000
"""YAML aliases can make a small file expand to an enormous document ("billion laughs")."""

Part = str | int


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    kind: str | None
    name: str | None
    code: str
    node: str | None
    path: str | None
    message: str
    severity: str = ERROR

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "kind": self.kind, "name": self.name,
                "code": self.code, "node": self.node, "path": self.path,
                "message": self.message, "severity": self.severity}


@dataclass
class Document:
    """One flowplane object from a YAML document (or from the items of a List)."""

    file: str
    order: int
    """Position of the file in the linted set (findings are sorted by it)."""
    root: yaml.Node
    base: tuple[Part, ...]
    """Where the object sits in its YAML document: () or ("items", i)."""
    body: dict[str, Any]
    kind: str
    name: str | None = None
    namespace: str = ""
    findings: list[Finding] = field(default_factory=list)

    def line_of(self, parts: Sequence[Part] = ()) -> int:
        return line_of(self.root, (*self.base, *parts))

    def add(self, code: str, message: str, parts: Sequence[Part] = (), *,
            node: str | None = None, path: str | None = None) -> None:
        self.findings.append(Finding(
            file=self.file, line=self.line_of(parts), kind=self.kind, name=self.name,
            code=code, node=node, path=path if path is not None else (
                join_path(str(parts[0]), parts[1:]) if parts else None),
            message=message))

    def where(self) -> str:
        return f"{self.file}:{self.line_of()}"


@dataclass(frozen=True)
class Options:
    limits: PlanLimits = DEFAULT_LIMITS
    namespace: str = ""
    """The namespace of objects that name none (what `kubectl apply -n` would use)."""
    strict: bool = False


class UsageError(Exception):
    """A path that cannot be read, or nothing to lint (exit 2)."""


# ------------------------------------------------------------------ YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader, but timestamps stay strings, as kubectl's YAML-to-JSON keeps them."""


def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def line_of(root: yaml.Node, parts: Sequence[Part]) -> int:
    """The 1-based line of the deepest node of `parts` that exists under `root`: a mapping
    entry's key, a list item's start."""
    node = root
    line = root.start_mark.line + 1
    for part in parts:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            entry = None
            for key, value in node.value:  # the last duplicate key wins, as when loading
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    entry = (key, value)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and 0 <= part < len(node.value)):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


_PATH_PART = re.compile(r'(?:^|\.)([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def parse_path(path: str) -> list[Part]:
    """`graph.nodes[3].config["a b"]` -> ["graph", "nodes", 3, "config", "a b"] (the
    inverse of flowplane.compiler.errors.join_path; stops at anything else)."""
    parts: list[Part] = []
    pos = 0
    while pos < len(path):
        m = _PATH_PART.match(path, pos)
        if m is None or m.end() == pos:
            break
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(str(json.loads(m.group(3))))
        pos = m.end()
    return parts


def _expansion_problem(root: yaml.Node) -> str | None:
    """Why the document cannot be expanded to JSON (recursive or excessive aliases)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Recursive
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_EXPANDED_NODES:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    try:
        if size(root) > MAX_EXPANDED_NODES:
            return (f"the document expands to more than {MAX_EXPANDED_NODES} nodes through "
                    "aliases")
    except _Recursive:
        return "the document contains a recursive alias"
    except RecursionError:
        return "the document is nested too deeply"
    return None


class _Recursive(Exception):
    pass


def _yaml_error(file: str, order: int, exc: BaseException, text: str) -> Finding:
    line = 1
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line = mark.line + 1
        what = exc.problem or exc.context or str(exc)
        if exc.problem and exc.context:
            start = exc.context_mark
            what += f" ({exc.context}" + (
                f" that starts on line {start.line + 1})" if start is not None else ")")
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        what = f"unacceptable character #x{exc.character:04x}: {exc.reason}" if isinstance(
            exc.character, int) else str(exc.reason)
    elif isinstance(exc, RecursionError):
        what = "the document is nested too deeply"
    else:
        what = str(exc) or type(exc).__name__
    return Finding(file=file, line=line, kind=None, name=None, code=INVALID_YAML, node=None,
                   path=None, message=f"the file is not valid YAML: {what}")


def _decode(data: bytes) -> tuple[str, int | None]:
    """The text, and the 1-based line of the first byte that is not UTF-8 (if any)."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return "", data[: exc.start].count(b"\n") + 1


def load_text(file: str, order: int, text: str) -> tuple[list[Document], list[Finding]]:
    """The flowplane objects in one file, and its file-level findings."""
    docs: list[Document] = []
    findings: list[Finding] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            root = loader.get_node()
            if root is None:
                continue
            if (problem := _expansion_problem(root)) is not None:
                findings.append(Finding(
                    file=file, line=root.start_mark.line + 1, kind=None, name=None,
                    code=INVALID_YAML, node=None, path=None,
                    message=f"the document cannot be read: {problem}"))
                continue
            data = loader.construct_document(root)
            docs.extend(_objects(file, order, root, data, findings))
    except (yaml.YAMLError, RecursionError) as exc:
        findings.append(_yaml_error(file, order, exc, text))
    finally:
        loader.dispose()
    return docs, findings


def _objects(file: str, order: int, root: yaml.Node, data: Any,
             findings: list[Finding]) -> Iterator[Document]:
    if not isinstance(data, dict):
        return
    items: list[tuple[tuple[Part, ...], Any]] = [((), data)]
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        items = [(("items", i), item) for i, item in enumerate(data["items"])]
    for base, body in items:
        if not isinstance(body, dict):
            continue
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not isinstance(api_version, str) or api_version.partition("/")[0] != GROUP:
            continue  # not ours: Argo Workflows also has a kind "Workflow"
        if kind in IGNORED_KINDS:
            continue
        if kind not in KINDS or api_version != f"{GROUP}/{VERSION}":
            findings.append(Finding(
                file=file, line=line_of(root, (*base, "kind")), kind=str(kind), name=None,
                code=UNKNOWN_KIND, node=None, path="kind",
                message=f"{api_version} {kind} is not served by flowplane; the kinds are "
                        f"{GROUP}/{VERSION} Workflow and WorkflowVersion"))
            continue
        doc = Document(file=file, order=order, root=root, base=base, body=body, kind=kind)
        meta = body.get("metadata")
        if isinstance(meta, dict):
            if isinstance(meta.get("name"), str):
                doc.name = meta["name"]
            if isinstance(meta.get("namespace"), str) and meta["namespace"]:
                doc.namespace = meta["namespace"]
        yield doc


# ------------------------------------------------------------------ one object


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a field's annotation (`X`, `X | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (model := _model_of(arg)) is not None:
                return model
    return None


def _unknown_fields(model: type[BaseModel], data: Any,
                    loc: tuple[Part, ...]) -> Iterator[tuple[Part, ...]]:
    """Fields the API server would refuse (kubectl's strict field validation). The graph is
    left to the compiler, whose models forbid unknown fields already."""
    if not isinstance(data, dict):
        return
    known = {info.alias or name: info for name, info in model.model_fields.items()}
    for key, value in data.items():
        info = known.get(key) if isinstance(key, str) else None
        if info is None:
            yield (*loc, key if isinstance(key, str) else str(key))
            continue
        sub = _model_of(info.annotation)
        if sub is not None and sub is not Graph:
            yield from _unknown_fields(sub, value, (*loc, key))


def _schema_errors(doc: Document, model: type[BaseModel], spec: dict[str, Any]) -> None:
    try:
        model.model_validate(spec, strict=True)
    except ValidationError as exc:
        for item in exc.errors(include_url=False, include_input=False):
            loc = tuple(p if isinstance(p, int) else str(p) for p in item.get("loc", ()))
            if loc[:1] == ("graph",) and "graph" in spec:
                continue  # the compiler reports the graph (same models, same messages)
            doc.add(SCHEMA_INVALID, str(item.get("msg", "invalid")), ("spec", *loc))
    except Exception as exc:  # hostile input can break validation itself
        doc.add(SCHEMA_INVALID, f"spec cannot be read: {type(exc).__name__}", ("spec",))
    for loc in _unknown_fields(model, spec, ("spec",)):
        doc.add(UNKNOWN_FIELD, f"unknown field {join_path(str(loc[0]), loc[1:])!r}; the API "
                               "server refuses it (kubectl's strict field validation)", loc)


def _name_errors(doc: Document) -> None:
    meta = doc.body.get("metadata")
    if not isinstance(meta, dict):
        doc.add(SCHEMA_INVALID, "metadata is required, with a name", ("metadata",))
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        doc.add(SCHEMA_INVALID, "metadata.name is required (a string)", ("metadata", "name"))
        return
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        doc.add(SCHEMA_INVALID, "metadata.namespace must be a string",
                ("metadata", "namespace"))
    if doc.kind == WORKFLOW:
        if len(name) > MAX_WORKFLOW_NAME or not WORKFLOW_NAME.match(name):
            doc.add(INVALID_NAME,
                    "a Workflow name must be a DNS label of at most 55 characters (lowercase "
                    "letters, digits and '-'), because it names the Service <name>-trigger",
                    ("metadata", "name"))
    elif len(name) > MAX_OBJECT_NAME or not DNS_SUBDOMAIN.match(name):
        doc.add(INVALID_NAME,
                "a WorkflowVersion name must be a DNS subdomain of at most 253 characters "
                "(lowercase letters, digits, '-' and '.')", ("metadata", "name"))


_NODE_PATH = re.compile(r"^graph\.nodes\[(\d+)\]")


def _node_of(graph: Any, path: str | None) -> str | None:
    """The id of the node a graph path points into, when the compiler did not say."""
    m = _NODE_PATH.match(path or "")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if m is None or not isinstance(nodes, list) or int(m.group(1)) >= len(nodes):
        return None
    node = nodes[int(m.group(1))]
    ident = node.get("id") if isinstance(node, dict) else None
    return ident if isinstance(ident, str) else None


def check_document(doc: Document, limits: PlanLimits) -> None:
    """The object's own findings: names, schema, and (for a version) the compiled graph."""
    _name_errors(doc)
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        doc.add(SCHEMA_INVALID, "spec is required (a mapping)", ("spec",))
        return
    if doc.kind == WORKFLOW:
        _schema_errors(doc, WorkflowSpec, spec)
        return
    _schema_errors(doc, WorkflowVersionSpec, spec)
    if "graph" not in spec:
        return
    graph = spec["graph"]
    for err in compile_graph(graph, limits).errors:
        parts: list[Part] = ["spec", *parse_path(err.path or "graph")]
        doc.add(err.code, err.message, parts,
                node=err.node if err.node is not None else _node_of(graph, err.path),
                path=f"spec.{err.path}" if err.path else "spec.graph")


# ------------------------------------------------------------------ across files


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ref(doc: Document) -> tuple[str, int | None] | None:
    """A version's (workflow name, version number), when its spec names a workflow."""
    spec = doc.body.get("spec")
    ref = spec.get("workflowRef") if isinstance(spec, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name:
        return None
    number = _int(spec.get("version")) if isinstance(spec, dict) else None
    return name, (number if number is not None and number >= 1 else None)


def check_set(docs: Sequence[Document]) -> None:
    """Facts that need every file: one object defined twice, duplicate version numbers,
    versions of a workflow not in the set, a publishedVersion naming no version."""
    # kubectl apply applies files in order: the last definition of an object wins.
    effective: dict[tuple[str, str, str], Document] = {}
    for doc in docs:
        if doc.name is None:
            continue
        key = (doc.kind, doc.namespace, doc.name)
        first = effective.get(key)
        if first is not None:
            doc.add(DUPLICATE_OBJECT,
                    f"{doc.kind} {doc.name!r} is also defined at {first.where()}; applying "
                    "both keeps only the last one", ("metadata", "name"))
        effective[key] = doc
    objects = list(effective.values())
    objects.sort(key=lambda d: (d.order, d.line_of()))
    workflows = {(d.namespace, d.name) for d in objects if d.kind == WORKFLOW}
    numbers: dict[tuple[str, str], dict[int, Document]] = {}
    for doc in objects:
        if doc.kind != WORKFLOW_VERSION or (ref := _ref(doc)) is None:
            continue
        workflow, number = ref
        if (doc.namespace, workflow) not in workflows:
            where = f" in namespace {doc.namespace!r}" if doc.namespace else ""
            doc.add(WORKFLOW_NOT_FOUND,
                    f"workflow {workflow!r}{where} is not defined in the linted files; the "
                    "operator leaves this version alone until the Workflow exists",
                    ("spec", "workflowRef", "name"))
        if number is None:
            continue
        family = numbers.setdefault((doc.namespace, workflow), {})
        other = family.get(number)
        if other is not None:
            doc.add(DUPLICATE_VERSION,
                    f"version {number} of workflow {workflow!r} is defined twice: by "
                    f"{other.name!r} at {other.where()} and by {doc.name!r} at {doc.where()}; "
                    "version numbers are unique per workflow (the operator adopts one and "
                    "marks the other DuplicateVersion)", ("spec", "version"))
        else:
            family[number] = doc
    for doc in objects:
        if doc.kind != WORKFLOW:
            continue
        spec = doc.body.get("spec")
        wanted = _int(spec.get("publishedVersion")) if isinstance(spec, dict) else None
        if wanted is None or wanted < 1:
            continue
        family = numbers.get((doc.namespace, doc.name or ""), {})
        if wanted not in family:
            found = ", ".join(str(n) for n in sorted(family)) or "none"
            doc.add(PUBLISHED_VERSION_NOT_FOUND,
                    f"spec.publishedVersion is {wanted}, but no WorkflowVersion of workflow "
                    f"{doc.name!r} with version {wanted} is in the linted files (versions "
                    f"found: {found}); the operator would wait for it with VersionNotFound",
                    ("spec", "publishedVersion"))


# ------------------------------------------------------------------ files


def _is_yaml(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and name not in KUSTOMIZATIONS


def collect_files(paths: Sequence[str]) -> list[str]:
    """The files to lint, in a stable order: each path as given, directories walked
    recursively in name order. Each file once. Raises UsageError."""
    out: list[str] = []
    seen: set[str] = set()

    def add(file: str) -> None:
        key = file if file == "-" else os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            out.append(file)

    for path in paths:
        if path == "-":
            add(path)
        elif os.path.isdir(path):
            found = list(_walk(path))
            if not found:
                raise UsageError(f"no *.yaml or *.yml files in {path}")
            for file in found:
                add(file)
        elif os.path.isfile(path):
            if os.path.basename(path) not in KUSTOMIZATIONS:
                add(path)
        elif os.path.exists(path):
            raise UsageError(f"{path} is neither a file nor a directory")
        else:
            raise UsageError(f"{path}: no such file or directory")
    if not out:
        raise UsageError("no files to lint (a kustomization file is not a resource)")
    return out


def _walk(top: str) -> Iterator[str]:
    """YAML files under `top` in the order `kubectl apply -R -f` applies them (Go's
    filepath.Walk: entries in name order, a directory's files where its name sorts).
    Symbolic links to directories are not followed."""
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise UsageError(f"cannot read {top}: {exc.strerror or exc}") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path)
        elif _is_yaml(entry.name) and entry.is_file():
            yield entry.path


def _read(file: str) -> bytes:
    try:
        if file == "-":
            return sys.stdin.buffer.read()
        return Path(file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    files: int
    objects: int

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors


def lint_files(paths: Sequence[str], options: Options = Options()) -> Report:
    """Lint every file under `paths`. Raises UsageError (nothing readable to lint)."""
    files = collect_files(paths)
    docs: list[Document] = []
    findings: list[Finding] = []
    for order, file in enumerate(files):
        display = "<stdin>" if file == "-" else file
        text, bad_line = _decode(_read(file))
        if bad_line is not None:
            findings.append(Finding(file=display, line=bad_line, kind=None, name=None,
                                    code=INVALID_YAML, node=None, path=None,
                                    message="the file is not valid UTF-8"))
            continue
        file_docs, file_findings = load_text(display, order, text)
        for doc in file_docs:
            if not doc.namespace:
                doc.namespace = options.namespace
        docs.extend(file_docs)
        findings.extend(file_findings)
    for doc in docs:
        check_document(doc, options.limits)
    check_set(docs)
    rank = {file if file != "-" else "<stdin>": i for i, file in enumerate(files)}
    for doc in docs:
        findings.extend(doc.findings)
    graded = [
        f if f.code not in WARNING_CODES or options.strict else
        replace(f, severity=WARNING)
        for f in findings
    ]
    # A stable sort: findings on one line keep the compiler's (deterministic) order.
    graded.sort(key=lambda f: (rank.get(f.file, len(rank)), f.line))
    return Report(findings=tuple(graded), files=len(files), objects=len(docs))


# ------------------------------------------------------------------ output


def format_text(report: Report) -> str:
    """One line per finding (`file:line: severity: Code: ...`, as compilers print them),
    then a summary. Everything from the files is made terminal-safe."""
    lines = []
    for f in report.findings:
        where = []
        if f.kind is not None:
            where.append(f"{f.kind.lower()}/{clean(f.name, 253)}" if f.name else f.kind.lower())
        if f.path:
            where.append(clean(f.path, 300))
        if f.node:
            where.append(f"node {clean(f.node, 63)}")
        context = f" [{', '.join(where)}]" if where else ""
        lines.append(f"{clean(f.file, 1000)}:{f.line}: {f.severity}: {f.code}{context}: "
                     f"{clean(f.message, 2000)}")

    def count(n: int, what: str) -> str:
        return f"{n} {what}" + ("" if n == 1 else "s")

    scope = f"{count(report.files, 'file')}, {count(report.objects, 'flowplane object')}"
    if report.findings:
        lines.append(f"{count(report.errors, 'error')}, {count(report.warnings, 'warning')} "
                     f"({scope})")
    else:
        lines.append(f"no problems ({scope})")
    return "\n".join(lines)


def format_json(report: Report) -> str:
    return json.dumps([f.as_json() for f in report.findings], indent=2)


# ------------------------------------------------------------------ arguments


def _max_nodes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--max-nodes must be at least 1")
    return value


def _names(text: str) -> frozenset[str] | None:
    """The operator's reading of --allowed-trigger-types / --allowed-apps: empty = any."""
    return frozenset(csv_list(text)) or None


def add_arguments(parser: argparse.ArgumentParser, *, namespace_flag: bool = True) -> None:
    """The lint flags, shared by `kubectl flowplane lint` and `flowplane-lint` (the plugin
    has -n among its connection flags already)."""
    parser.add_argument("paths", nargs="*", metavar="FILE_OR_DIR",
                        help="YAML files or directories (walked recursively); - for stdin")
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="FILE_OR_DIR",
                        help="a YAML file or directory, as for kubectl apply (repeatable)")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text (default) or json: a list of {file, line, kind, name, "
                             "code, node, path, message, severity} for bots")
    parser.add_argument("--max-nodes", type=_max_nodes, default=DEFAULT_LIMITS.max_nodes,
                        metavar="N", help="plan limit: nodes per graph (default: %(default)s)")
    parser.add_argument("--allowed-trigger-types", type=_names, default=None, metavar="A,B",
                        help="plan limit: comma-separated trigger types; default: all")
    parser.add_argument("--allowed-apps", type=_names, default=None, metavar="A,B",
                        help="plan limit: comma-separated apps for action nodes; default: any")
    parser.add_argument("--strict", action="store_true",
                        help="warnings (WorkflowNotFound, DuplicateObject) are errors too")
    if namespace_flag:
        parser.add_argument("-n", "--namespace", default=None,
                            help="the namespace of objects that name none (default: one "
                                 "unnamed namespace for all of them)")


def run(args: argparse.Namespace, error: Any = None) -> int:
    """Lint as `args` says and print the report. 0 clean, 1 errors, 2 usage."""
    paths = [*args.filename, *args.paths]
    if not paths:
        if error is not None:
            error("no files to lint: give FILE_OR_DIR or -f FILE_OR_DIR")  # exits 2
        print("error: no files to lint: give FILE_OR_DIR or -f FILE_OR_DIR", file=sys.stderr)
        return 2
    options = Options(
        limits=PlanLimits(max_nodes=args.max_nodes,
                          allowed_trigger_types=args.allowed_trigger_types,
                          allowed_apps=args.allowed_apps),
        namespace=getattr(args, "namespace", None) or "",
        strict=args.strict,
    )
    try:
        report = lint_files(paths, options)
    except UsageError as exc:
        print(f"error: {clean(str(exc), 2000)}", file=sys.stderr)
        return 2
    print(format_json(report) if args.output == "json" else format_text(report), flush=True)
    return 1 if report.errors else 0


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check flowplane Workflow and WorkflowVersion YAML offline, with the "
                    "operator's compiler and plan limits (no cluster needed).",
        epilog="Exit codes: 0 no errors (warnings allowed); 1 errors found; 2 wrong usage.")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser.error)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
