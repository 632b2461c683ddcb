"""Issue 12.8 and 12.9: `make run` (hack/run.sh) on a fresh API server starts clean.

A fresh control plane of its own (the session's already has the CRDs): the script installs
the CRDs and the admission policy, and starts the operator only once the API server serves
the new kinds, so the first start prints no ERROR (it used to print a 429 "storage is
(re)initializing" on every clean start).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from flowplane_devtools.cluster import LocalControlPlane
from flowplane_devtools.kube import wait_for
from flowplane_devtools.operator_process import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[LocalControlPlane]:
    if os.environ.get("FLOWPLANE_TEST_KUBECONFIG"):
        pytest.skip("needs a fresh local control plane")
    cp = LocalControlPlane(state_dir=tmp_path / "cluster")
    cp.start()
    try:
        yield cp
    finally:
        cp.stop(remove_data=True)


def test_make_run_on_a_fresh_cluster_starts_without_errors(
        fresh_cluster: LocalControlPlane, tmp_path: Path) -> None:
    out = tmp_path / "run.out"
    env = {**os.environ, "KUBECONFIG": str(fresh_cluster.kubeconfig_path),
           "FLOWPLANE_EVENT_PORT": str(free_port()), "FLOWPLANE_SINK_PORT": str(free_port())}
    with open(out, "wb") as sink:
        proc = subprocess.Popen(["bash", "hack/run.sh", "--health-port", str(free_port())],
                                cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: "flowplane operator started" in out.read_text(errors="replace")
                 or proc.poll() is not None, 120, "the operator started")
        assert proc.poll() is None, out.read_text(errors="replace")
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(fresh_cluster.kubeconfig_path))
        try:
            admission: Any = client.AdmissionregistrationV1Api(api)
            policies = {p.metadata.name for p in
                        admission.list_validating_admission_policy().items}
            assert "flowplane-protect-active-version" in policies
        finally:
            api.close()
        text = out.read_text(errors="replace")
        # (\b: the random ports printed above may contain the digits 429)
        assert "ERROR" not in text and not re.search(r"\b429\b", text), text
        assert "initializing" not in text, text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
