"""The README's walkthrough, run as written, against the real API server.

Every `sh` block of "Five-minute walkthrough" runs in one bash session (as a user
pastes them one after another into one terminal, with `set -e`), after the equivalent
of `make run`: the operator and the runtime as processes, Slack pointed at the sink.
Two substitutions only, because the test cannot own the user's paths and ports: the
kubeconfig of `make run` becomes the test cluster's, and `localhost:8080` the test
runtime's port. After each block, the output block the README shows for it is compared
with what the commands printed: kubectl tables by their stable columns (not AGE,
STARTED, DURATION, or random run names), JSON answers by their fields. A table that
shows state still converging is read again, as a user would look again a second later.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess
from flowplane_devtools.sink import Sink
from tests.e2e.conftest import runtime_args

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NAMESPACE = "team-a"
VOLATILE = {"AGE", "STARTED", "DURATION", "MESSAGE"}


def walkthrough_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block in the walkthrough section, in order."""
    section = text.split("## Five-minute walkthrough", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```(\w*)\n(.*?)^```", section, re.S | re.M)]


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every kubectl table in `text`: (header columns, rows), split on blank lines."""
    tables = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        rows = _rows(chunk)
        if rows and rows[0] and rows[0][0] == "NAME":
            tables.append((rows[0], rows[1:]))
    return tables


def _stable(header: list[str], rows: list[list[str]]) -> list[tuple[str, ...]]:
    runs = "WORKFLOW" in header and "DURATION" in header
    keep = [i for i, col in enumerate(header)
            if col not in VOLATILE and not (runs and col == "NAME")]
    return sorted(tuple(r[i] if i < len(r) else "" for i in keep) for r in rows)


def _answers(text: str) -> list[dict[str, object]]:
    found = []
    for line in text.splitlines():
        if line.startswith('{"run"'):
            doc = json.loads(line)
            doc.pop("run")
            found.append(doc)
    return found


def mismatch(expected: str, actual: str) -> str | None:
    """Why `actual` does not show what the README's `expected` block shows, or None."""
    want, got = _tables(expected), _tables(actual)
    for header, rows in want:
        same_header = [g for g in got if g[0] == header]
        if not same_header:
            return f"no table with columns {header} in:\n{actual}"
        if not any(_stable(header, rows) == _stable(*g) for g in same_header):
            return f"table {header}: want {_stable(header, rows)}, got " \
                   f"{[_stable(*g) for g in same_header]}"
    if _answers(expected) and _answers(expected) != _answers(actual):
        return f"answers: want {_answers(expected)}, got {_answers(actual)}"
    return None


@pytest.fixture
def walkthrough_runtime(operator: OperatorProcess, sink: Sink, kubeconfig: str,
                        runtime: RuntimeProcess, tmp_path: Path) -> Iterator[RuntimeProcess]:
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start()
    runtime.stop()  # one replica serves the walkthrough, as with `make run`
    proc = RuntimeProcess(kubeconfig, tmp_path / "runtime.log",
                          runtime_args(sink, "--executor-id", "readme"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _bash(script: str, kubeconfig: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                               "KUBECONFIG": kubeconfig})


def test_the_walkthrough_runs_as_written(walkthrough_runtime: RuntimeProcess, kubeconfig: str,
                                         api_client: object) -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert sum(1 for lang, _ in blocks if lang == "sh") >= 6
    subs = {"$PWD/.cache/cluster/kubeconfig": kubeconfig,
            "localhost:8080": f"localhost:{walkthrough_runtime.port}"}
    _bash(f"export PATH=$PWD/.cache/bin:$PATH; kubectl delete namespace {NAMESPACE} "
          "--ignore-not-found --wait=true", kubeconfig).check_returncode()
    session = ""  # every block runs after the ones before it, in the same shell state
    try:
        for index, (lang, body) in enumerate(blocks):
            if lang != "sh":
                continue
            script = body
            for old, new in subs.items():
                script = script.replace(old, new)
            exports = "\n".join(line for line in session.splitlines()
                                if line.startswith("export "))
            result = _bash(exports + "\n" + script, kubeconfig)
            assert result.returncode == 0, (
                f"README block {index} failed ({result.returncode}):\n{body}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
            session += script + "\n"
            follows = blocks[index + 1] if index + 1 < len(blocks) else ("sh", "")
            if follows[0] == "sh":
                continue
            expected = follows[1]
            why = mismatch(expected, result.stdout)
            gets = [line for line in script.splitlines() if re.search(r"\bkubectl\b.* get ", line)]
            deadline = time.monotonic() + 30
            while why and gets and time.monotonic() < deadline:
                time.sleep(0.5)  # look again, as a user would
                again = _bash(exports + "\n" + gets[-1], kubeconfig)
                why = mismatch(expected, result.stdout + "\n\n" + again.stdout)
            assert why is None, f"README block {index} shows what it did not print:\n{why}"
    finally:
        _bash(f"export PATH=$PWD/.cache/bin:$PATH; kubectl delete namespace {NAMESPACE} "
              "--ignore-not-found --wait=false", kubeconfig)
