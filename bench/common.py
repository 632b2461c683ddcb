"""Shared helpers of the cluster benchmarks: objects, namespaces, statistics, the machine."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flowplane.model.resources import (
    API_VERSION,
    GROUP,
    VERSION,
    VERSION_PLURAL,
    WORKFLOW_PLURAL,
)

Json = dict[str, Any]
ACTIVE_ANNOTATION = "flowplane.dev/active-version"
TRIGGER_SELECTOR = "flowplane.dev/workflow,app.kubernetes.io/component=trigger"
BENCH_LABEL = "flowplane.dev/bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- objects


def version_graph(workflow: str, number: int) -> Json:
    """The worked example's shape (webhook -> branch -> action), different per version."""
    return {
        "nodes": [
            {"id": "form", "role": "trigger", "type": "webhook",
             "config": {"path": f"/{workflow}", "method": "POST"}},
            {"id": "has-email", "role": "system", "type": "branch",
             "config": {"condition": "{{ nodes.form.output.body.email != '' }}"}},
            {"id": "notify", "role": "action", "app": "slack", "operation": "chat.postMessage",
             "inputs": {"channel": "#forms",
                        "text": f"v{number}: {{{{ nodes.form.output.body.email }}}}"}},
        ],
        "edges": [
            {"from": "form", "to": "has-email"},
            {"from": "has-email", "to": "notify", "port": "true"},
        ],
    }


def workflow_body(name: str, published: int | None) -> Json:
    spec: Json = {"displayName": f"bench {name}"}
    if published is not None:
        spec["publishedVersion"] = published
    return {"apiVersion": API_VERSION, "kind": "Workflow",
            "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}, "spec": spec}


def version_body(workflow: str, number: int) -> Json:
    return {
        "apiVersion": API_VERSION, "kind": "WorkflowVersion",
        "metadata": {"name": f"{workflow}-v{number}",
                     "labels": {"flowplane.dev/workflow": workflow, BENCH_LABEL: "true"}},
        "spec": {"workflowRef": {"name": workflow}, "version": number, "label": f"v{number}",
                 "graph": version_graph(workflow, number)},
    }


def workflow_names(count: int, prefix: str = "wf") -> list[str]:
    width = max(3, len(str(count - 1)))
    return [f"{prefix}-{i:0{width}d}" for i in range(count)]


def family_bodies(names: Sequence[str], versions: int,
                  published: Callable[[int], int | None]) -> list[Json]:
    """Workflows first (so versions find them), then their versions."""
    bodies = [workflow_body(name, published(i)) for i, name in enumerate(names)]
    bodies += [version_body(name, n) for name in names for n in range(1, versions + 1)]
    return bodies


def create_objects(api: client.ApiClient, namespace: str, bodies: Sequence[Json],
                   threads: int = 8) -> tuple[float, dict[str, Json]]:
    """Create flowplane objects in parallel (workflows, then versions).

    Returns the seconds it took and the created objects by "Kind/name".
    """
    custom: Any = client.CustomObjectsApi(api)

    def create(body: Json) -> Json:
        plural = WORKFLOW_PLURAL if body["kind"] == "Workflow" else VERSION_PLURAL
        for attempt in range(5):
            try:
                created: Json = custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, body)
                return created
            except ApiException as exc:
                if exc.status in (429, 500, 503, 504) and attempt < 4:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")

    started = time.monotonic()
    workflows = [b for b in bodies if b["kind"] == "Workflow"]
    versions = [b for b in bodies if b["kind"] != "Workflow"]
    created: dict[str, Json] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for batch in (workflows, versions):
            for obj in pool.map(create, batch):
                created[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return time.monotonic() - started, created


# ----------------------------------------------------------------------------- namespaces


def create_namespace(api: client.ApiClient, name: str) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}})


def delete_namespace(api: client.ApiClient, name: str, wait: float = 0.0) -> float:
    """Delete a namespace; with `wait` > 0, block until it is gone. Returns seconds waited."""
    core: Any = client.CoreV1Api(api)
    started = time.monotonic()
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
    while wait > 0 and time.monotonic() - started < wait:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                break
            raise
        time.sleep(0.5)
    return time.monotonic() - started


def terminating_namespaces(api: client.ApiClient) -> list[str]:
    core: Any = client.CoreV1Api(api)
    return [ns.metadata.name for ns in core.list_namespace().items
            if ns.status and ns.status.phase == "Terminating"]


# ----------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    max: float
    mean: float
    min: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(len(values), percentile(values, 50), percentile(values, 95), max(values),
                   sum(values) / len(values), min(values))


# ----------------------------------------------------------------------------- metrics text


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str, names: Iterable[str]) -> list[tuple[str, dict[str, str], float]]:
    """The samples of the named metrics in a Prometheus text exposition."""
    wanted = set(names)
    out: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        match = _SAMPLE.match(line)
        if not match or match.group(1) not in wanted:
            continue
        labels = dict(_LABEL.findall(match.group(3) or ""))
        try:
            out.append((match.group(1), labels, float(match.group(4))))
        except ValueError:
            continue
    return out


def metric_sum(text: str, name: str, **match: str) -> float:
    return sum(v for _, labels, v in parse_metrics(text, [name])
               if all(labels.get(k) == want for k, want in match.items()))


def apiserver_metrics(api: client.ApiClient) -> str:
    """GET /metrics of the kube-apiserver with the client's credentials."""
    request: Any = api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    response: Any = api.call_api(*request)
    if not 200 <= int(response.status) < 300:
        raise RuntimeError(f"GET /metrics: HTTP {response.status}")
    data: bytes = response.read()
    return data.decode()


# ----------------------------------------------------------------------------- processes


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM (the resident set's high-water mark) of a live process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ----------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_version() -> str:
    """The commit benchmarked, and whether the work tree had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + uncommitted changes" if dirty.strip() else "")


def machine_info(api: client.ApiClient | None) -> dict[str, str]:
    info = {
        "nproc": str(os.cpu_count()),
        "memory": _memory(),
        "CPU": _cpu_model(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kopf": _version_of("kopf"),
        "kubernetes (python client)": _version_of("kubernetes"),
        "flowplane code": code_version(),
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if api is not None:
        version: Any = client.VersionApi(api).get_code()
        info["kubernetes (server)"] = str(version.git_version)
    return info


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
