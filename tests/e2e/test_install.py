"""The install manifests on the real API server, and the operator running with only its RBAC.

`kubectl apply -k manifests/` must create every object (the Deployment's pod never runs:
the local control plane has no nodes). Then a second operator process runs with a
ServiceAccount token (TokenRequest API) of the installed `flowplane-operator` account,
in namespaced mode for this test's namespace, while the session's admin operator is
stopped; the publish / fork / rollback scenario must work and its log must show no
permission errors. Access reviews prove what the account cannot do. The namespaced
overlay gets the same proof with its per-namespace Role.

Everything installed except the CRDs (which the session shares) is removed afterwards.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from flowplane.testing.cluster import find_kubectl
from flowplane.testing.kube import Kube, wait_for
from flowplane.testing.operator_process import OperatorProcess

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAY = MANIFESTS / "overlays" / "namespaced"
SYSTEM_NS = "flowplane-system"
SA = "flowplane-operator"
SA_USER = f"system:serviceaccount:{SYSTEM_NS}:{SA}"
WF = "form-to-slack"
SAMPLES = MANIFESTS / "samples" / WF
# Kopf logs `APIForbiddenError(... 'code': 403 ...)` and "Not enough permissions"; the
# operator logs "could not post event" and "failed: 403 Forbidden".
PERMISSION_ERRORS = re.compile(
    r"forbidden|not enough permissions|could not post event|status=403|'code': 403|\b403 ",
    re.IGNORECASE)


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*find_kubectl(), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def rendered(kubeconfig: str, path: Path) -> list[dict[str, Any]]:
    out = kubectl(kubeconfig, "kustomize", str(path))
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return (doc["kind"], meta.get("namespace", ""), meta["name"])


def uninstall(kubeconfig: str) -> None:
    """Everything `apply -k` created except the CRDs, which the other tests use."""
    kubectl(kubeconfig, "delete", "--ignore-not-found", "--wait=false",
            "validatingadmissionpolicybinding/flowplane-protect-active-version",
            "validatingadmissionpolicy/flowplane-protect-active-version",
            f"clusterrolebinding/{SA}", f"clusterrole/{SA}",
            f"clusterrolebinding/{SA}-cluster-read", f"clusterrole/{SA}-cluster-read",
            f"namespace/{SYSTEM_NS}")


@pytest.fixture(scope="module")
def installed(kubeconfig: str, crds: None) -> Iterator[list[dict[str, Any]]]:
    docs = rendered(kubeconfig, MANIFESTS)
    applied = kubectl(kubeconfig, "apply", "-k", str(MANIFESTS))
    try:
        assert applied.returncode == 0, applied.stderr
        yield docs
    finally:
        uninstall(kubeconfig)


# ------------------------------------------------------------------ the objects


def test_apply_k_creates_every_object(installed: list[dict[str, Any]], kubeconfig: str) -> None:
    kinds = sorted({d["kind"] for d in installed})
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                     "Deployment", "Namespace", "Service", "ServiceAccount",
                     "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    got = kubectl(kubeconfig, "get", "-k", str(MANIFESTS), "-o", "yaml")
    assert got.returncode == 0, got.stderr
    live = {key(item): item for item in yaml.safe_load(got.stdout)["items"]}
    assert set(live) == {key(d) for d in installed}
    assert all(item["metadata"].get("uid") for item in live.values())


def test_cluster_role_is_least_privilege(installed: list[dict[str, Any]]) -> None:
    (role,) = [d for d in installed if d["kind"] == "ClusterRole"]
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    text = str(role["rules"])
    assert "*" not in text
    assert not any(r in ("secrets", "pods") or r.startswith("pods/") for _, r in grants)
    assert not any({"delete", "deletecollection", "escalate", "bind", "impersonate"} & verbs
                   for verbs in grants.values())
    rw = {"get", "list", "watch", "create", "patch", "update"}
    assert grants[("flowplane.dev", "workflows")] == rw
    assert grants[("flowplane.dev", "workflowversions")] == rw
    assert grants[("flowplane.dev", "workflows/status")] == {"get", "patch", "update"}
    assert grants[("flowplane.dev", "workflows/finalizers")] == {"update"}
    assert grants[("", "configmaps")] == grants[("", "services")] == rw
    assert grants[("", "events")] == grants[("events.k8s.io", "events")] == {"create", "patch"}
    assert grants[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    assert grants[("", "namespaces")] == {"list", "watch"}


def test_deployment_is_hardened(installed: list[dict[str, Any]],
                                api_client: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api_client)
    deployment = api_client.sanitize_for_serialization(
        apps.read_namespaced_deployment(SA, SYSTEM_NS))
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == SA
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsUser"] == 65532
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health",
                                               "scheme": "HTTP"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    # every setting of the operator is in the env, under its documented name
    settings = set(re.findall(r'env\("(FLOWPLANE_[A-Z_]+)"',
                              (REPO / "src/flowplane/operator/config.py").read_text()))
    assert settings and settings <= {e["name"] for e in container["env"]}

    # the metrics Service selects the operator's pod and its metrics port
    core: Any = client.CoreV1Api(api_client)
    svc = core.read_namespaced_service(f"{SA}-metrics", SYSTEM_NS)
    assert svc.spec.selector.items() <= spec["template"]["metadata"]["labels"].items()
    assert [(p.port, p.target_port) for p in svc.spec.ports] == [(8080, "metrics")]

    # the pod passes the namespace's "restricted" Pod Security admission (server dry run)...
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "psa-check", "namespace": SYSTEM_NS}, "spec": pod}
    core.create_namespaced_pod(SYSTEM_NS, body, dry_run="All")
    # ...which really is enforced
    root = {**body, "spec": {**pod, "securityContext": {}, "containers": [
        {**container, "securityContext": {"privileged": True}}]}}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(SYSTEM_NS, root, dry_run="All")
    assert exc.value.status == 403 and "PodSecurity" in str(exc.value.body)


# ------------------------------------------------------------------ running as the account


def sa_kubeconfig(api_client: client.ApiClient, admin_kubeconfig: str, path: Path) -> str:
    """A kubeconfig with a fresh bound token of the operator's ServiceAccount."""
    core: Any = client.CoreV1Api(api_client)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    token = core.create_namespaced_service_account_token(SA, SYSTEM_NS, request).status.token
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    ca = cluster["cluster"].get("certificate-authority-data") or base64.b64encode(
        Path(cluster["cluster"]["certificate-authority"]).read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": {
            "server": cluster["cluster"]["server"], "certificate-authority-data": ca}}],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [{"name": SA, "context": {"cluster": "cluster", "user": SA}}],
        "current-context": SA,
    }))
    return str(path)


def can(api: client.ApiClient, verb: str, resource: str, *, group: str = "",
        namespace: str | None = None, subresource: str = "") -> bool:
    """SelfSubjectAccessReview with the account's own token."""
    authz: Any = client.AuthorizationV1Api(api)
    review = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
            verb=verb, resource=resource, group=group, namespace=namespace,
            subresource=subresource or None))))
    return bool(review.status.allowed)


def sa_can(admin: client.ApiClient, verb: str, resource: str, *, group: str = "",
           namespace: str | None = None) -> bool:
    """SubjectAccessReview, asked by an admin about the account."""
    authz: Any = client.AuthorizationV1Api(admin)
    review = authz.create_subject_access_review(client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=SA_USER, groups=["system:serviceaccounts", f"system:serviceaccounts:{SYSTEM_NS}"],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=namespace))))
    return bool(review.status.allowed)


@contextmanager
def operator_as_account(session_operator: OperatorProcess, kubeconfig: str, namespace: str,
                        log: Path) -> Iterator[OperatorProcess]:
    """The session's admin operator stops; one with the account's token watches `namespace`."""
    session_operator.stop()
    proc = OperatorProcess(kubeconfig, log, extra_args=["--namespace", namespace])
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
        session_operator.start()


def live(kube: Kube, n: int) -> None:
    def check() -> bool:
        ready = kube.condition(WF, "Ready") or {}
        ann = kube.service(WF).metadata.annotations or {}
        return (kube.wf_status(WF).get("activeVersion") == n and ready.get("status") == "True"
                and ann.get("flowplane.dev/active-version") == str(n)
                and kube.phases(WF).get(n) == "Active")
    wait_for(check, 30, f"v{n} live")


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return doc


def publish(kube: Kube, n: int) -> None:
    kube.patch("Workflow", WF, {"spec": {"publishedVersion": n}})


def scenario(kube: Kube) -> None:
    """Publish, fork on edit, publish the fork, roll back."""
    for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
        kube.create(sample(name))
    publish(kube, 1)
    live(kube, 1)
    publish(kube, 2)
    live(kube, 2)
    edit = sample("edits/v2-add-email.yaml")
    kube.patch("WorkflowVersion", f"{WF}-v2", {"spec": {"graph": edit["spec"]["graph"]}})
    wait_for(lambda: kube.phases(WF).get(3) == "Draft", 30, "fork v3")
    assert kube.versions(WF)[3]["spec"]["label"] == "Draft from v2"
    publish(kube, 3)
    live(kube, 3)
    publish(kube, 1)
    live(kube, 1)
    assert kube.phases(WF) == {1: "Active", 2: "Inactive", 3: "Inactive"}
    assert kube.wf_status(WF)["lastPublish"]["reason"] == "RolledBack"
    reasons = {e.reason for e in kube.events(WF)}
    assert {"Published", "Forked", "RolledBack"} <= reasons  # Events are allowed too


def no_permission_errors(proc: OperatorProcess) -> None:
    log = proc.log_path.read_text(errors="replace")
    assert "flowplane operator started" in log
    bad = [line for line in log.splitlines() if PERMISSION_ERRORS.search(line)]
    assert not bad, "\n".join(bad[:5])


def test_operator_works_with_only_the_cluster_role(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    path = sa_kubeconfig(api_client, kubeconfig, tmp_path / "sa.kubeconfig")
    sa_api = config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]
    try:
        ns = kube.ns
        assert can(sa_api, "patch", "workflows", group="flowplane.dev", namespace=ns,
                   subresource="status")
        assert can(sa_api, "create", "events", namespace=ns)
        assert can(sa_api, "watch", "customresourcedefinitions", group="apiextensions.k8s.io")
        for verb, resource, namespace in [("get", "secrets", ns), ("list", "secrets", None),
                                          ("list", "pods", ns), ("list", "pods", None),
                                          ("delete", "namespaces", None),
                                          ("delete", "workflowversions", ns),
                                          ("delete", "configmaps", ns),
                                          ("create", "clusterroles", None)]:
            group = {"workflowversions": "flowplane.dev",
                     "clusterroles": "rbac.authorization.k8s.io"}.get(resource, "")
            assert not can(sa_api, verb, resource, group=group, namespace=namespace), (
                verb, resource, namespace)
            assert not sa_can(api_client, verb, resource, group=group, namespace=namespace)
        assert sa_can(api_client, "list", "workflows", group="flowplane.dev", namespace=ns)
    finally:
        sa_api.close()

    with operator_as_account(running_operator, path, kube.ns, tmp_path / "sa-op.log") as proc:
        scenario(kube)
        no_permission_errors(proc)


def test_namespaced_overlay_grants_only_its_namespaces(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    docs = rendered(kubeconfig, OVERLAY)
    rbac = [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole",
                                             "ClusterRoleBinding")]
    assert sorted(key(d) for d in rbac) == [
        ("ClusterRole", "", f"{SA}-cluster-read"), ("ClusterRoleBinding", "", f"{SA}-cluster-read"),
        ("Role", "team-a", SA), ("Role", "team-b", SA),
        ("RoleBinding", "team-a", SA), ("RoleBinding", "team-b", SA)]
    (cluster_read,) = [d for d in rbac if d["kind"] == "ClusterRole"]
    assert [(r["resources"], r["verbs"]) for r in cluster_read["rules"]] == [
        (["customresourcedefinitions"], ["list", "watch"]), (["namespaces"], ["list", "watch"])]
    for binding in (d for d in rbac if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA,
                                        "namespace": SYSTEM_NS}]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWPLANE_NAMESPACES"] == "team-a,team-b"

    # In force: the overlay's grants for this test's namespace instead of team-a, and no
    # cluster-wide binding.
    ns = kube.ns
    mine = [d for d in rbac if d["metadata"].get("namespace") in (None, "team-a")]
    for doc in mine:
        if doc["metadata"].get("namespace"):
            doc["metadata"]["namespace"] = ns
    removed = kubectl(kubeconfig, "delete", f"clusterrolebinding/{SA}")
    assert removed.returncode == 0, removed.stderr
    try:
        applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(mine))
        assert applied.returncode == 0, applied.stderr
        assert sa_can(api_client, "list", "workflows", group="flowplane.dev", namespace=ns)
        assert sa_can(api_client, "list", "namespaces")
        for verb, resource, group, namespace in [
            ("list", "workflows", "flowplane.dev", "default"),
            ("list", "workflows", "flowplane.dev", None),
            ("list", "configmaps", "", None), ("get", "secrets", "", ns),
            ("list", "pods", "", ns), ("get", "namespaces", "", None),
        ]:
            assert not sa_can(api_client, verb, resource, group=group, namespace=namespace), (
                verb, resource, namespace)

        path = sa_kubeconfig(api_client, kubeconfig, tmp_path / "sa.kubeconfig")
        with operator_as_account(running_operator, path, ns, tmp_path / "sa-op.log") as proc:
            for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
                kube.create(sample(name))
            publish(kube, 1)
            live(kube, 1)
            publish(kube, 2)
            live(kube, 2)
            no_permission_errors(proc)
    finally:
        kubectl(kubeconfig, "delete", "--ignore-not-found", f"clusterrolebinding/{SA}-cluster-read",
                f"clusterrole/{SA}-cluster-read")
        restored = kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "rbac-clusterwide.yaml"))
        assert restored.returncode == 0, restored.stderr


def test_kopf_needs_the_crd_and_namespace_reads(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    """The two cluster-scoped reads are not decoration: without them Kopf gets 403s."""
    (role,) = [d for d in installed if d["kind"] == "ClusterRole"]
    trimmed = {**role, "rules": [r for r in role["rules"] if r["resources"] not in (
        ["customresourcedefinitions"], ["namespaces"])]}
    replaced = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(trimmed))
    assert replaced.returncode == 0, replaced.stderr
    try:
        path = sa_kubeconfig(api_client, kubeconfig, tmp_path / "sa.kubeconfig")
        with operator_as_account(running_operator, path, kube.ns, tmp_path / "sa-op.log") as proc:
            def denied() -> list[str]:
                log = proc.log_path.read_text(errors="replace")
                return [what for what in ("customresourcedefinitions", "namespaces")
                        if f'cannot list resource "{what}"' in log]
            assert wait_for(lambda: len(denied()) == 2 and denied(), 15, "Kopf's 403s")
    finally:
        restored = kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "rbac-clusterwide.yaml"))
        assert restored.returncode == 0, restored.stderr
