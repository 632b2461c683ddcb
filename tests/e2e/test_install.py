"""The install manifests on the real API server, and the operator running with only its RBAC.

`kubectl apply -k manifests/` must create every object (the Deployments' pods never run:
the local control plane has no nodes). Then a second operator process runs with a
ServiceAccount token (TokenRequest API) of the installed `flowplane-operator` account,
in namespaced mode for this test's namespace, while the session's admin operator is
stopped; the publish / fork / rollback scenario must work and its log must show no
permission errors. Access reviews prove what the account cannot do. The namespaced
overlay gets the same proof with its per-namespace Role.

The runtime's `flowplane-runtime` account gets the same proof by access reviews, asked
both with its own token and by an admin about it: every verb the runtime uses is allowed,
everything else checked (writes to versions, Services and ConfigMaps, deleting workflows,
Secrets, Leases outside flowplane-system, other namespaces in the overlay) is denied.
Then the runtime process itself runs with only that account's token: it gets ready,
accepts an event for a workflow the admin operator published, records the run, and its
log shows no permission errors.

Everything installed except the CRDs (which the session shares) is removed afterwards.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from flowplane_devtools.cluster import find_kubectl
from flowplane_devtools.kube import Kube, wait_for
from flowplane_devtools.operator_process import OperatorProcess, RuntimeProcess

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAY = MANIFESTS / "overlays" / "namespaced"
SYSTEM_NS = "flowplane-system"
SA = "flowplane-operator"
RUNTIME_SA = "flowplane-runtime"
RUNTIME_LABEL = ("app.kubernetes.io/name", "flowplane-runtime")
WF = "form-to-slack"
SAMPLES = MANIFESTS / "samples" / WF
# Kopf logs `APIForbiddenError(... 'code': 403 ...)` and "Not enough permissions"; the
# operator logs "could not post Event" and "refused a write: ... 403 Forbidden".
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


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def grants_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(API group, resource[/subresource]) -> verbs of a Role or ClusterRole."""
    assert all(not rule.get("resourceNames") and not rule.get("nonResourceURLs")
               for rule in role["rules"])
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def uninstall(kubeconfig: str) -> None:
    """Everything `apply -k` created except the CRDs, which the other tests use."""
    kubectl(kubeconfig, "delete", "--ignore-not-found", "--wait=false",
            "validatingadmissionpolicybinding/flowplane-protect-active-version",
            "validatingadmissionpolicy/flowplane-protect-active-version",
            f"clusterrolebinding/{SA}", f"clusterrole/{SA}",
            f"clusterrolebinding/{SA}-cluster-read", f"clusterrole/{SA}-cluster-read",
            f"clusterrolebinding/{RUNTIME_SA}", f"clusterrole/{RUNTIME_SA}",
            f"clusterrolebinding/{RUNTIME_SA}-cluster-read",
            f"clusterrole/{RUNTIME_SA}-cluster-read",
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
                     "Deployment", "Namespace", "PodDisruptionBudget", "Role", "RoleBinding",
                     "Service", "ServiceAccount",
                     "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    assert {d["metadata"]["name"] for d in installed
            if d["kind"] == "CustomResourceDefinition"} == {
        "workflows.flowplane.dev", "workflowversions.flowplane.dev",
        "workflowruns.flowplane.dev"}
    assert {d["metadata"]["name"] for d in installed if d["kind"] == "Deployment"} == {
        SA, RUNTIME_SA}
    got = kubectl(kubeconfig, "get", "-k", str(MANIFESTS), "-o", "yaml")
    assert got.returncode == 0, got.stderr
    live = {key(item): item for item in yaml.safe_load(got.stdout)["items"]}
    assert set(live) == {key(d) for d in installed}
    assert all(item["metadata"].get("uid") for item in live.values())


def test_cluster_role_is_least_privilege(installed: list[dict[str, Any]]) -> None:
    role = named(installed, "ClusterRole", SA)
    grants = grants_of(role)
    text = str(role["rules"])
    assert "*" not in text
    assert not any(r in ("secrets", "pods") or r.startswith("pods/") for _, r in grants)
    assert not any({"deletecollection", "escalate", "bind", "impersonate"} & verbs
                   for verbs in grants.values())
    # the one delete: retired versions beyond spec.versionHistoryLimit
    assert [r for r, verbs in grants.items() if "delete" in verbs] == [
        ("flowplane.dev", "workflowversions")]
    rw = {"get", "list", "watch", "create", "patch", "update"}
    assert grants[("flowplane.dev", "workflows")] == rw
    assert grants[("flowplane.dev", "workflowversions")] == rw | {"delete"}
    assert grants[("flowplane.dev", "workflowruns")] == {"list", "watch"}
    assert grants[("flowplane.dev", "workflows/status")] == {"get", "patch", "update"}
    assert grants[("flowplane.dev", "workflows/finalizers")] == {"update"}
    assert grants[("", "configmaps")] == grants[("", "services")] == rw
    # trigger Services' mirrored slices, and the runtime's own (read): no delete, no update
    assert grants[("discovery.k8s.io", "endpointslices")] == SLICE_VERBS
    assert grants[("", "events")] == grants[("events.k8s.io", "events")] == {"create", "patch"}
    assert grants[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    assert grants[("", "namespaces")] == {"list", "watch"}


def test_operator_may_hold_a_lease_only_in_its_own_namespace(
        installed: list[dict[str, Any]], api_client: client.ApiClient, kube: Kube) -> None:
    for verb in ("get", "create", "update"):
        assert sa_can(api_client, verb, "leases", group="coordination.k8s.io",
                      namespace=SYSTEM_NS), verb
    for verb, namespace in [("get", kube.ns), ("create", kube.ns), ("update", kube.ns),
                            ("list", SYSTEM_NS), ("watch", SYSTEM_NS), ("delete", SYSTEM_NS),
                            ("patch", SYSTEM_NS), ("list", None)]:
        assert not sa_can(api_client, verb, "leases", group="coordination.k8s.io",
                          namespace=namespace), (verb, namespace)


def test_deployment_is_hardened(installed: list[dict[str, Any]],
                                api_client: client.ApiClient) -> None:
    apps: Any = client.AppsV1Api(api_client)
    deployment = api_client.sanitize_for_serialization(
        apps.read_namespaced_deployment(SA, SYSTEM_NS))
    spec = deployment["spec"]
    # two replicas behind one Lease; a new pod is up before an old one stops
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": 1}}
    env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWPLANE_LEADER_ELECT"]["value"] == "true"
    assert env["FLOWPLANE_LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace")
    policy: Any = client.PolicyV1Api(api_client)
    budget = policy.read_namespaced_pod_disruption_budget(SA, SYSTEM_NS)
    assert budget.spec.min_available == 1
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


def sa_kubeconfig(api_client: client.ApiClient, admin_kubeconfig: str, path: Path,
                  account: str = SA) -> str:
    """A kubeconfig with a fresh bound token of the operator's (or `account`'s) ServiceAccount."""
    core: Any = client.CoreV1Api(api_client)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    token = core.create_namespaced_service_account_token(
        account, SYSTEM_NS, request).status.token
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    ca = cluster["cluster"].get("certificate-authority-data") or base64.b64encode(
        Path(cluster["cluster"]["certificate-authority"]).read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": {
            "server": cluster["cluster"]["server"], "certificate-authority-data": ca}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "cluster", "user": account}}],
        "current-context": account,
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
           namespace: str | None = None, subresource: str = "", account: str = SA) -> bool:
    """SubjectAccessReview, asked by an admin about the account."""
    authz: Any = client.AuthorizationV1Api(admin)
    review = authz.create_subject_access_review(client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{SYSTEM_NS}:{account}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{SYSTEM_NS}",
                    "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=namespace,
                subresource=subresource or None))))
    return bool(review.status.allowed)


@contextmanager
def operator_as_account(session_operator: OperatorProcess, kubeconfig: str, namespace: str,
                        log: Path) -> Iterator[OperatorProcess]:
    """The session's admin operator stops; one with the account's token watches `namespace`,
    leader-elected on a Lease in flowplane-system as the Deployment runs it."""
    session_operator.stop()
    proc = OperatorProcess(kubeconfig, log, extra_args=[
        "--namespace", namespace, "--leader-elect", "--lease-namespace", SYSTEM_NS,
        "--lease-name", f"flowplane-operator-e2e-{namespace}", "--identity", "e2e-account"])
    try:
        proc.start()
        wait_for(lambda: "flowplane_operator_leader 1.0" in proc.metrics(), 30,
                 "the account's operator holds its Lease")
        yield proc
    finally:
        proc.stop()
        session_operator.start()


SLICE_VERBS = {"get", "list", "watch", "create", "patch"}
RUNTIME_SLICE = "flowplane-runtime-e2e"


@contextmanager
def runtime_slice(api_client: client.ApiClient, address: str) -> Iterator[None]:
    """A hand-made EndpointSlice of the installed runtime Service (no kubelet runs here)."""
    discovery: Any = client.DiscoveryV1Api(api_client)
    discovery.create_namespaced_endpoint_slice(SYSTEM_NS, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": RUNTIME_SLICE, "labels": {
            "kubernetes.io/service-name": RUNTIME_SA,
            "endpointslice.kubernetes.io/managed-by": "e2e.flowplane.dev"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]})
    try:
        yield
    finally:
        discovery.delete_namespaced_endpoint_slice(RUNTIME_SLICE, SYSTEM_NS)


def mirrored(kube: Kube, addresses: list[str]) -> None:
    """The trigger Service's slice routes to exactly `addresses` (the operator wrote it)."""
    discovery: Any = client.DiscoveryV1Api(kube.api)

    def check() -> bool:
        try:
            body = discovery.read_namespaced_endpoint_slice(f"{WF}-trigger-runtime", kube.ns)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        got = [a for e in body.endpoints or [] for a in e.addresses]
        return got == addresses and (
            body.metadata.labels["kubernetes.io/service-name"] == f"{WF}-trigger")
    wait_for(check, 30, f"the trigger's EndpointSlice with {addresses}")


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
        for verb in SLICE_VERBS:
            assert can(sa_api, verb, "endpointslices", group="discovery.k8s.io", namespace=ns)
        assert can(sa_api, "watch", "endpointslices", group="discovery.k8s.io",
                   namespace=SYSTEM_NS)
        for verb in ("delete", "deletecollection", "update"):
            assert not can(sa_api, verb, "endpointslices", group="discovery.k8s.io",
                           namespace=ns), verb
        for verb, resource, namespace in [("get", "secrets", ns), ("list", "secrets", None),
                                          ("list", "pods", ns), ("list", "pods", None),
                                          ("delete", "namespaces", None),
                                          ("delete", "workflows", ns),
                                          ("create", "workflowruns", ns),
                                          ("delete", "configmaps", ns),
                                          ("create", "clusterroles", None)]:
            group = {"workflows": "flowplane.dev", "workflowruns": "flowplane.dev",
                     "clusterroles": "rbac.authorization.k8s.io"}.get(resource, "")
            assert not can(sa_api, verb, resource, group=group, namespace=namespace), (
                verb, resource, namespace)
            assert not sa_can(api_client, verb, resource, group=group, namespace=namespace)
        assert sa_can(api_client, "list", "workflows", group="flowplane.dev", namespace=ns)
    finally:
        sa_api.close()

    with runtime_slice(api_client, "10.0.0.10"), operator_as_account(
            running_operator, path, kube.ns, tmp_path / "sa-op.log") as proc:
        scenario(kube)
        mirrored(kube, ["10.0.0.10"])  # the runtime's endpoints, read and written as the account
        no_permission_errors(proc)


def test_namespaced_overlay_grants_only_its_namespaces(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    docs = rendered(kubeconfig, OVERLAY)
    rbac = [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole",
                                             "ClusterRoleBinding")]
    assert sorted(key(d) for d in rbac) == sorted([
        ("ClusterRole", "", f"{SA}-cluster-read"), ("ClusterRoleBinding", "", f"{SA}-cluster-read"),
        ("Role", "team-a", SA), ("Role", "team-b", SA),
        ("RoleBinding", "team-a", SA), ("RoleBinding", "team-b", SA),
        ("ClusterRole", "", f"{RUNTIME_SA}-cluster-read"),
        ("ClusterRoleBinding", "", f"{RUNTIME_SA}-cluster-read"),
        ("Role", "team-a", RUNTIME_SA), ("Role", "team-b", RUNTIME_SA),
        ("RoleBinding", "team-a", RUNTIME_SA), ("RoleBinding", "team-b", RUNTIME_SA),
        ("Role", SYSTEM_NS, f"{RUNTIME_SA}-leases"),
        ("RoleBinding", SYSTEM_NS, f"{RUNTIME_SA}-leases"),
        ("Role", SYSTEM_NS, f"{SA}-runtime-endpoints"),
        ("RoleBinding", SYSTEM_NS, f"{SA}-runtime-endpoints"),
        ("Role", SYSTEM_NS, f"{SA}-leases"), ("RoleBinding", SYSTEM_NS, f"{SA}-leases")])
    rbac = [d for d in rbac if d["metadata"]["name"].startswith(SA)]  # the operator's
    cluster_read = named(rbac, "ClusterRole", f"{SA}-cluster-read")
    assert [(r["resources"], r["verbs"]) for r in cluster_read["rules"]] == [
        (["customresourcedefinitions"], ["list", "watch"]), (["namespaces"], ["list", "watch"])]
    # in flowplane-system: only the runtime's EndpointSlices, read
    leases_role = named(rbac, "Role", f"{SA}-leases")
    assert leases_role["metadata"]["namespace"] == SYSTEM_NS
    assert grants_of(leases_role) == {("coordination.k8s.io", "leases"): {"get", "create",
                                                                          "update"}}
    endpoints_role = named(rbac, "Role", f"{SA}-runtime-endpoints")
    assert endpoints_role["metadata"]["namespace"] == SYSTEM_NS
    assert grants_of(endpoints_role) == {("discovery.k8s.io", "endpointslices"): {"list", "watch"}}
    ns_role = next(d for d in rbac if key(d) == ("Role", "team-a", SA))
    assert grants_of(ns_role)[("discovery.k8s.io", "endpointslices")] == SLICE_VERBS
    for binding in (d for d in rbac if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA,
                                        "namespace": SYSTEM_NS}]
    deployment = named(docs, "Deployment", SA)
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWPLANE_NAMESPACES"] == "team-a,team-b"

    # In force: the overlay's grants for this test's namespace instead of team-a, and no
    # cluster-wide binding.
    ns = kube.ns
    mine = [d for d in rbac if d["metadata"].get("namespace") in (None, "team-a", SYSTEM_NS)]
    for doc in mine:
        if doc["metadata"].get("namespace") == "team-a":
            doc["metadata"]["namespace"] = ns
    removed = kubectl(kubeconfig, "delete", f"clusterrolebinding/{SA}")
    assert removed.returncode == 0, removed.stderr
    try:
        applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(mine))
        assert applied.returncode == 0, applied.stderr
        assert sa_can(api_client, "list", "workflows", group="flowplane.dev", namespace=ns)
        assert sa_can(api_client, "list", "namespaces")
        for verb in SLICE_VERBS:
            assert sa_can(api_client, verb, "endpointslices", group="discovery.k8s.io",
                          namespace=ns)
        for verb in ("list", "watch"):
            assert sa_can(api_client, verb, "endpointslices", group="discovery.k8s.io",
                          namespace=SYSTEM_NS)
        for verb, resource, group, namespace in [
            ("list", "workflows", "flowplane.dev", "default"),
            ("list", "workflows", "flowplane.dev", None),
            ("list", "configmaps", "", None), ("get", "secrets", "", ns),
            ("list", "pods", "", ns), ("get", "namespaces", "", None),
            ("list", "endpointslices", "discovery.k8s.io", None),
            ("list", "endpointslices", "discovery.k8s.io", "default"),
            ("delete", "endpointslices", "discovery.k8s.io", ns),
            ("create", "endpointslices", "discovery.k8s.io", SYSTEM_NS),
            ("patch", "endpointslices", "discovery.k8s.io", SYSTEM_NS),
            ("list", "services", "", SYSTEM_NS), ("list", "workflows", "flowplane.dev", SYSTEM_NS),
        ]:
            assert not sa_can(api_client, verb, resource, group=group, namespace=namespace), (
                verb, resource, namespace)

        path = sa_kubeconfig(api_client, kubeconfig, tmp_path / "sa.kubeconfig")
        with runtime_slice(api_client, "10.0.0.11"), operator_as_account(
                running_operator, path, ns, tmp_path / "sa-op.log") as proc:
            for name in ("workflow.yaml", "v1.yaml", "v2.yaml"):
                kube.create(sample(name))
            publish(kube, 1)
            live(kube, 1)
            publish(kube, 2)
            live(kube, 2)
            mirrored(kube, ["10.0.0.11"])
            no_permission_errors(proc)
    finally:
        kubectl(kubeconfig, "delete", "--ignore-not-found", f"clusterrolebinding/{SA}-cluster-read",
                f"clusterrole/{SA}-cluster-read", "-n", SYSTEM_NS,
                f"rolebinding/{SA}-runtime-endpoints", f"role/{SA}-runtime-endpoints")
        restored = kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "rbac-clusterwide.yaml"))
        assert restored.returncode == 0, restored.stderr


def test_kopf_needs_the_crd_and_namespace_reads(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    """The two cluster-scoped reads are not decoration: without them Kopf gets 403s."""
    role = named(installed, "ClusterRole", SA)
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


# ------------------------------------------------------------------ the runtime's install

# Exactly what the runtime calls (docs/operations.md#runtime): namespaced grants...
RUNTIME_GRANTS: dict[tuple[str, str], set[str]] = {
    ("", "services"): {"get", "list", "watch"},
    ("", "configmaps"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("flowplane.dev", "workflows"): {"get", "list", "watch"},
    ("flowplane.dev", "workflows/status"): {"patch"},
    ("flowplane.dev", "workflowruns"): {"create", "get", "list", "watch", "patch", "delete"},
    ("flowplane.dev", "workflowruns/status"): {"get", "patch", "update"},
}
# ...the one cluster-scoped read (per-tenant limits are Namespace annotations)...
RUNTIME_CLUSTER_GRANTS: dict[tuple[str, str], set[str]] = {
    ("", "namespaces"): {"get", "list", "watch"},
}
# ...and Leases, in flowplane-system only.
RUNTIME_LEASE_GRANTS: dict[tuple[str, str], set[str]] = {
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
}
# Settings the runtime's Deployment must set (docs/operations.md#runtime).
RUNTIME_ENV = {"FLOWPLANE_NAMESPACES", "FLOWPLANE_MAX_RUNS_PER_MINUTE", "FLOWPLANE_SLACK_BASE_URL",
               "FLOWPLANE_SLACK_TOKEN", "FLOWPLANE_AI_BASE_URL", "FLOWPLANE_AI_API_KEY",
               "FLOWPLANE_AI_MODEL", "POD_NAME"}
RUNTIME_SETTINGS = REPO / "src/flowplane/runtime/settings.py"

# (verb, API group, resource, subresource, namespace); namespace "@ns" is the test's
# namespace, "@system" flowplane-system, None cluster-scoped / all namespaces.
Check = tuple[str, str, str, str, str | None]
DENIED_EVERYWHERE: list[Check] = [
    *((verb, "flowplane.dev", "workflowversions", "", "@ns")
      for verb in ("create", "update", "patch", "delete", "deletecollection")),
    *((verb, "flowplane.dev", "workflowversions", "status", "@ns") for verb in ("patch", "update")),
    *((verb, "", resource, "", "@ns") for resource in ("services", "configmaps")
      for verb in ("create", "update", "patch", "delete", "deletecollection")),
    *((verb, "flowplane.dev", "workflows", "", "@ns")
      for verb in ("create", "update", "patch", "delete", "deletecollection")),
    ("update", "flowplane.dev", "workflows", "status", "@ns"),
    ("update", "flowplane.dev", "workflows", "finalizers", "@ns"),
    ("update", "flowplane.dev", "workflowruns", "", "@ns"),
    ("deletecollection", "flowplane.dev", "workflowruns", "", "@ns"),
    *((verb, "", "secrets", "", where) for verb in ("get", "list", "watch")
      for where in ("@ns", "@system", None)),
    ("list", "", "pods", "", "@ns"), ("list", "", "pods", "", None),
    ("get", "", "pods", "", "@system"),
    ("create", "", "serviceaccounts", "token", "@system"),
    *((verb, "", "namespaces", "", None) for verb in ("create", "patch", "update", "delete")),
    *((verb, "coordination.k8s.io", "leases", "", "@ns") for verb in ("get", "create", "update")),
    *((verb, "coordination.k8s.io", "leases", "", "@system")
      for verb in ("list", "watch", "patch", "delete")),
    ("list", "coordination.k8s.io", "leases", "", None),
    ("list", "apiextensions.k8s.io", "customresourcedefinitions", "", None),
    ("create", "rbac.authorization.k8s.io", "clusterroles", "", None),
    ("create", "rbac.authorization.k8s.io", "rolebindings", "", "@ns"),
    ("impersonate", "", "serviceaccounts", "", "@system"),
]


def expand(grants: dict[tuple[str, str], set[str]], namespace: str | None) -> list[Check]:
    checks: list[Check] = []
    for (group, path), verbs in sorted(grants.items()):
        resource, _, sub = path.partition("/")
        checks.extend((verb, group, resource, sub, namespace) for verb in sorted(verbs))
    return checks


def runtime_allowed_checks() -> list[Check]:
    return [*expand(RUNTIME_GRANTS, "@ns"), *expand(RUNTIME_CLUSTER_GRANTS, None),
            *expand(RUNTIME_LEASE_GRANTS, "@system")]


def runtime_may(admin: client.ApiClient, sa_api: client.ApiClient, check: Check, ns: str) -> bool:
    """The account's own SelfSubjectAccessReview and an admin's SubjectAccessReview agree."""
    verb, group, resource, sub, where = check
    namespace = {"@ns": ns, "@system": SYSTEM_NS}.get(where or "", where)
    mine = can(sa_api, verb, resource, group=group, namespace=namespace, subresource=sub)
    theirs = sa_can(admin, verb, resource, group=group, namespace=namespace, subresource=sub,
                    account=RUNTIME_SA)
    assert mine == theirs, check
    return mine


def assert_runtime_access(admin: client.ApiClient, sa_api: client.ApiClient, ns: str, *,
                          allowed: list[Check], denied: list[Check]) -> None:
    wrong_denied = [c for c in allowed if not runtime_may(admin, sa_api, c, ns)]
    wrong_allowed = [c for c in denied if runtime_may(admin, sa_api, c, ns)]
    assert not wrong_denied, f"denied but needed: {wrong_denied}"
    assert not wrong_allowed, f"allowed but must not be: {wrong_allowed}"


@contextmanager
def runtime_account(api_client: client.ApiClient, kubeconfig: str, path: Path
                    ) -> Iterator[client.ApiClient]:
    config_path = sa_kubeconfig(api_client, kubeconfig, path, account=RUNTIME_SA)
    sa_api = config.new_client_from_config(config_file=config_path)  # type: ignore[no-untyped-call]
    try:
        yield sa_api
    finally:
        sa_api.close()


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"]["template"] for d in docs
            if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")}


def test_runtime_rbac_is_least_privilege(installed: list[dict[str, Any]],
                                         kubeconfig: str) -> None:
    """What the manifests say: the cluster-wide ClusterRole, the Lease Role, the overlay's."""
    role = named(installed, "ClusterRole", RUNTIME_SA)
    assert "*" not in str(role["rules"])
    assert grants_of(role) == {**RUNTIME_GRANTS, **RUNTIME_CLUSTER_GRANTS}
    leases = named(installed, "Role", f"{RUNTIME_SA}-leases")
    assert leases["metadata"]["namespace"] == SYSTEM_NS
    assert grants_of(leases) == RUNTIME_LEASE_GRANTS
    for kind, name in [("ClusterRoleBinding", RUNTIME_SA),
                       ("RoleBinding", f"{RUNTIME_SA}-leases")]:
        binding = named(installed, kind, name)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RUNTIME_SA,
                                        "namespace": SYSTEM_NS}]
        assert binding["roleRef"]["name"] == name
    # nothing else in the install is bound to the runtime's account
    bound = [key(d) for d in installed if d["kind"].endswith("Binding")
             and any(s.get("name") == RUNTIME_SA for s in d.get("subjects", []))]
    assert sorted(bound) == [("ClusterRoleBinding", "", RUNTIME_SA),
                             ("RoleBinding", SYSTEM_NS, f"{RUNTIME_SA}-leases")]

    docs = rendered(kubeconfig, OVERLAY)
    for ns in ("team-a", "team-b"):
        ns_role = next(d for d in docs if key(d) == ("Role", ns, RUNTIME_SA))
        assert grants_of(ns_role) == RUNTIME_GRANTS
        binding = next(d for d in docs if key(d) == ("RoleBinding", ns, RUNTIME_SA))
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RUNTIME_SA,
                                        "namespace": SYSTEM_NS}]
    read = named(docs, "ClusterRole", f"{RUNTIME_SA}-cluster-read")
    assert grants_of(read) == RUNTIME_CLUSTER_GRANTS
    bound = [key(d) for d in docs if d["kind"].endswith("Binding")
             and any(s.get("name") == RUNTIME_SA for s in d.get("subjects", []))]
    assert sorted(bound) == [
        ("ClusterRoleBinding", "", f"{RUNTIME_SA}-cluster-read"),
        ("RoleBinding", SYSTEM_NS, f"{RUNTIME_SA}-leases"),
        ("RoleBinding", "team-a", RUNTIME_SA), ("RoleBinding", "team-b", RUNTIME_SA)]
    runtime = named(docs, "Deployment", RUNTIME_SA)
    env = {e["name"]: e.get("value") for e in
           runtime["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FLOWPLANE_NAMESPACES"] == "team-a,team-b"


def test_runtime_account_has_exactly_its_grants_cluster_wide(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    namespace: str, tmp_path: Path,
) -> None:
    """In force on the API server, asked with the account's own token and by an admin."""
    all_namespaces: list[Check] = [
        (verb, group, resource, "", None) for (group, resource), verbs in RUNTIME_GRANTS.items()
        if "/" not in resource and resource != "events" for verb in verbs & {"list", "watch"}]
    with runtime_account(api_client, kubeconfig, tmp_path / "rt.kubeconfig") as sa_api:
        assert_runtime_access(api_client, sa_api, namespace,
                              allowed=[*runtime_allowed_checks(), *all_namespaces],
                              denied=DENIED_EVERYWHERE)


def test_runtime_namespaced_overlay_grants_only_its_namespaces(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    namespace: str, tmp_path: Path,
) -> None:
    """The overlay's runtime grants for this test's namespace (as team-a), no ClusterRole."""
    docs = rendered(kubeconfig, OVERLAY)
    mine = [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole",
                                             "ClusterRoleBinding")
            and d["metadata"]["name"].startswith(RUNTIME_SA)
            and d["metadata"].get("namespace") in (None, "team-a")]
    assert sorted(key(d) for d in mine) == [
        ("ClusterRole", "", f"{RUNTIME_SA}-cluster-read"),
        ("ClusterRoleBinding", "", f"{RUNTIME_SA}-cluster-read"),
        ("Role", "team-a", RUNTIME_SA), ("RoleBinding", "team-a", RUNTIME_SA)]
    for doc in mine:
        if doc["metadata"].get("namespace"):
            doc["metadata"]["namespace"] = namespace
    removed = kubectl(kubeconfig, "delete", f"clusterrolebinding/{RUNTIME_SA}")
    assert removed.returncode == 0, removed.stderr
    try:
        applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(mine))
        assert applied.returncode == 0, applied.stderr
        wait_for(lambda: sa_can(api_client, "create", "workflowruns", group="flowplane.dev",
                                namespace=namespace, account=RUNTIME_SA)
                 and not sa_can(api_client, "list", "workflowruns", group="flowplane.dev",
                                account=RUNTIME_SA), 10, "the overlay's grants in force")
        # nothing namespaced outside the watched namespace, and no list across namespaces
        elsewhere: list[Check] = [
            *(c for c in expand(RUNTIME_GRANTS, "default")),
            *((verb, group, resource, "", None)
              for (group, resource), verbs in RUNTIME_GRANTS.items()
              if "/" not in resource for verb in verbs & {"list", "watch", "create"})]
        with runtime_account(api_client, kubeconfig, tmp_path / "rt.kubeconfig") as sa_api:
            assert_runtime_access(api_client, sa_api, namespace,
                                  allowed=runtime_allowed_checks(),
                                  denied=[*DENIED_EVERYWHERE, *elsewhere])
    finally:
        kubectl(kubeconfig, "delete", "--ignore-not-found",
                f"clusterrolebinding/{RUNTIME_SA}-cluster-read",
                f"clusterrole/{RUNTIME_SA}-cluster-read")
        restored = kubectl(kubeconfig, "apply", "-f", str(MANIFESTS / "rbac-clusterwide.yaml"))
        assert restored.returncode == 0, restored.stderr


def test_runtime_deployment_is_hardened(installed: list[dict[str, Any]],
                                        api_client: client.ApiClient, kubeconfig: str) -> None:
    apps: Any = client.AppsV1Api(api_client)
    deployment = api_client.sanitize_for_serialization(
        apps.read_namespaced_deployment(RUNTIME_SA, SYSTEM_NS))
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] in (0, "0", "0%")
    template = spec["template"]
    labels = template["metadata"]["labels"]
    assert labels[RUNTIME_LABEL[0]] == RUNTIME_LABEL[1]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    pod = template["spec"]
    assert pod["serviceAccountName"] == RUNTIME_SA
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    # spread across nodes, preferred (never blocking a rollout on a small cluster)
    spread = [c for c in pod.get("topologySpreadConstraints") or []
              if c["topologyKey"] == "kubernetes.io/hostname"]
    assert spread and all(c["whenUnsatisfiable"] == "ScheduleAnyway" for c in spread)
    assert all(c["labelSelector"]["matchLabels"].items() <= labels.items() for c in spread)
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    assert not anti.get("requiredDuringSchedulingIgnoredDuringExecution")

    (container,) = pod["containers"]
    operator = apps.read_namespaced_deployment(SA, SYSTEM_NS)
    assert container["image"] == operator.spec.template.spec.containers[0].image
    assert container["command"] == ["flowplane-runtime"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080, "metrics": 9090, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health",
                                                     "scheme": "HTTP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health",
                                                      "scheme": "HTTP"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    env = {e["name"]: e for e in container["env"]}
    assert set(env) >= RUNTIME_ENV
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for name in ("FLOWPLANE_SLACK_TOKEN", "FLOWPLANE_AI_API_KEY"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["optional"] is True  # the runtime starts without the Secret
    assert env["FLOWPLANE_NAMESPACES"].get("value", "") == ""  # the API server drops ""
    assert env["FLOWPLANE_MAX_RUNS_PER_MINUTE"]["value"] == "600"
    # the ports in the env are the container's ports
    ports = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
    for var, port in [("FLOWPLANE_RUNTIME_PORT", "http"), ("FLOWPLANE_METRICS_PORT", "metrics"),
                      ("FLOWPLANE_HEALTH_PORT", "health")]:
        if var in env:
            assert env[var]["value"] == ports[port], var

    # Every trigger Service selects app.kubernetes.io/name=flowplane-runtime: only the
    # runtime's pods carry it, in both installs.
    for docs in (installed, rendered(kubeconfig, OVERLAY)):
        carriers = [name for name, t in pod_templates(docs).items()
                    if t["metadata"].get("labels", {}).get(RUNTIME_LABEL[0]) == RUNTIME_LABEL[1]]
        assert carriers == [RUNTIME_SA]
        op_labels = pod_templates(docs)[SA]["metadata"]["labels"]
        assert op_labels.get(RUNTIME_LABEL[0]) != RUNTIME_LABEL[1]

    # the PodDisruptionBudget keeps one replica through drains
    policy: Any = client.PolicyV1Api(api_client)
    pdb = policy.read_namespaced_pod_disruption_budget(RUNTIME_SA, SYSTEM_NS)
    assert pdb.spec.min_available == 1
    assert pdb.spec.selector.match_labels.items() <= labels.items()

    # the runtime's Service (whose endpoints the trigger Services' slices mirror) selects
    # the runtime's pods, port http (8080)
    core: Any = client.CoreV1Api(api_client)
    rt_svc = core.read_namespaced_service(RUNTIME_SA, SYSTEM_NS)
    assert rt_svc.spec.selector.items() <= labels.items()
    assert [(p.name, p.port, p.target_port) for p in rt_svc.spec.ports] == [
        ("http", 8080, "http")]
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["http"] == 8080
    operator_env = {e.name: e.value for e in operator.spec.template.spec.containers[0].env}
    assert operator_env["FLOWPLANE_RUNTIME_SERVICE"] == f"{SYSTEM_NS}/{RUNTIME_SA}"
    # the metrics Services: the runtime's selects the runtime's pods only, port 9090
    svc = core.read_namespaced_service(f"{RUNTIME_SA}-metrics", SYSTEM_NS)
    assert svc.spec.selector.items() <= labels.items()
    assert [(p.port, p.target_port) for p in svc.spec.ports] == [(9090, "metrics")]
    op_svc = core.read_namespaced_service(f"{SA}-metrics", SYSTEM_NS)
    assert not op_svc.spec.selector.items() <= labels.items()
    op_labels = operator.spec.template.metadata.labels
    assert not svc.spec.selector.items() <= op_labels.items()

    # the pod passes the namespace's "restricted" Pod Security admission (server dry run)
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "psa-check-runtime", "namespace": SYSTEM_NS,
                         "labels": labels}, "spec": pod}
    core.create_namespaced_pod(SYSTEM_NS, body, dry_run="All")


def test_runtime_env_matches_its_settings(installed: list[dict[str, Any]]) -> None:
    """Every runtime setting is in the Deployment's env, and nothing the runtime ignores."""
    if not RUNTIME_SETTINGS.exists():
        pytest.skip("src/flowplane/runtime/settings.py is not there yet")
    read = set(re.findall(r'"((?:FLOWPLANE|POD)_[A-Z_]+)"', RUNTIME_SETTINGS.read_text()))
    deployment = named(installed, "Deployment", RUNTIME_SA)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert not container.get("args")
    env = {e["name"] for e in container["env"]}
    assert read == env


def test_runtime_works_with_only_its_account(
    installed: list[dict[str, Any]], api_client: client.ApiClient, kubeconfig: str,
    kube: Kube, running_operator: OperatorProcess, tmp_path: Path,
) -> None:
    """The runtime with only the account's token: ready, accepts an event, records the run.

    The session's admin operator publishes; the runtime's log must show no 403.
    """
    if importlib.util.find_spec("flowplane.runtime.main") is None:
        pytest.skip("flowplane.runtime.main is not there yet")
    path = sa_kubeconfig(api_client, kubeconfig, tmp_path / "rt.kubeconfig", account=RUNTIME_SA)
    proc = RuntimeProcess(path, tmp_path / "runtime.log", extra_args=["--namespace", kube.ns])
    try:
        try:
            proc.start()
        except TimeoutError:
            anonymous = 'User "system:anonymous"' in proc.log_path.read_text(errors="replace")
            assert not anonymous, (
                "the runtime sent no credentials: it ignores the kubeconfig's bearer token "
                "(the kubernetes client keeps it under api_key['BearerToken'], in-cluster too)")
            raise
        for name in ("workflow.yaml", "v1.yaml"):
            kube.create(sample(name))
        publish(kube, 1)
        live(kube, 1)

        def accepted() -> dict[str, Any] | None:
            request = urllib.request.Request(
                f"{proc.url}/submit", data=b'{"email": "a@b.c"}', method="POST",
                headers={"Host": f"{WF}-trigger.{kube.ns}.svc",
                         "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer: dict[str, Any] = json.loads(response.read())
                    return answer if response.status == 202 else None
            except urllib.error.HTTPError as exc:  # 404 NotLive until its cache has the pin
                if exc.code == 404:
                    return None
                raise

        answer = wait_for(accepted, 30, "the event accepted")
        assert answer["version"] == 1

        def recorded() -> dict[str, Any] | None:
            run: dict[str, Any] = kube.custom.get_namespaced_custom_object(
                "flowplane.dev", "v1alpha1", kube.ns, "workflowruns", answer["run"])
            return run if (run.get("status") or {}).get("phase") else None

        run = wait_for(recorded, 30, "the run's status written")
        assert run["spec"]["version"] == 1
        assert proc.proc is not None and proc.proc.poll() is None, proc.tail()
    finally:
        proc.stop()
    log = proc.log_path.read_text(errors="replace")
    bad = [line for line in log.splitlines() if PERMISSION_ERRORS.search(line)]
    assert not bad, "\n".join(bad[:5])
