"""Shared fixtures: a real Kubernetes API for e2e tests.

* ``FLOWPLANE_TEST_KUBECONFIG=/path/to/kubeconfig`` runs the e2e tests against an existing
  cluster (e.g. kind); nothing is started or stopped.
* Otherwise a :class:`flowplane_devtools.cluster.LocalControlPlane` (etcd + kube-apiserver +
  kube-controller-manager, built by ``hack/build-controlplane.sh``) is started once per test
  session in a temporary directory and stopped at the end. Its logs stay in that directory
  and the path is printed in the summary when tests failed.

Every test under ``tests/e2e`` gets the ``e2e`` marker, so ``pytest -m "not e2e"`` runs only
the fast tests.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from flowplane_devtools.cluster import LocalControlPlane
from flowplane_devtools.kube import temporary_namespace

KUBECONFIG_ENV = "FLOWPLANE_TEST_KUBECONFIG"
E2E_DIR = Path(__file__).parent / "e2e"
_LOGS_KEY = pytest.StashKey[Path]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    logs = config.stash.get(_LOGS_KEY, None)
    if logs is not None and exitstatus != 0:
        terminalreporter.write_line(f"local control plane logs: {logs}", yellow=True)


@pytest.fixture(scope="session")
def local_control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane | None]:
    """The session's LocalControlPlane, or None when an external cluster is used."""
    if os.environ.get(KUBECONFIG_ENV):
        yield None
        return
    state_dir = tmp_path_factory.mktemp("controlplane")
    cp = LocalControlPlane(state_dir=state_dir)
    request.config.stash[_LOGS_KEY] = cp.logs_dir
    try:
        cp.start()
    except BaseException:
        cp.stop(remove_data=True)
        raise
    try:
        yield cp
    finally:
        # Logs are kept in the pytest temp dir; etcd data is removed.
        cp.stop(remove_data=True)


@pytest.fixture(scope="session")
def kubeconfig(local_control_plane: LocalControlPlane | None) -> str:
    """Path of an admin kubeconfig for the cluster under test."""
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        if not Path(external).is_file():
            raise pytest.UsageError(f"{KUBECONFIG_ENV}={external} does not exist")
        return external
    assert local_control_plane is not None
    return str(local_control_plane.kubeconfig_path)


@pytest.fixture(scope="session")
def api_client(kubeconfig: str) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    try:
        yield api
    finally:
        api.close()


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api_client: client.ApiClient) -> Iterator[str]:
    """A fresh, uniquely named namespace; deleted (without waiting) after the test."""
    with temporary_namespace(api_client, _namespace_name(request.node.name)) as name:
        yield name
