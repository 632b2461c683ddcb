"""A real, local Kubernetes control plane for tests and demos (no Docker, no kind).

Modelled on controller-runtime's ``envtest``: it runs an embedded etcd, a kube-apiserver and a
kube-controller-manager (garbage collector and namespace controller only) as separate
processes of the ``flowplane-controlplane`` multi-call binary built by
``hack/build-controlplane.sh``. There are no nodes, so pods never run, but every API object,
admission, RBAC, ownerReference garbage collection and namespace deletion behave as in a
real cluster.

This module gathers the public names of the modules that implement it:

* :mod:`flowplane_devtools.locate`: the checkout, the binary, kubectl, free ports;
* :mod:`flowplane_devtools.pki`: certificates, keys and the admin kubeconfig;
* :mod:`flowplane_devtools.processes`: :class:`LocalControlPlane`, the process supervision;
* :mod:`flowplane_devtools.cli`: the ``flowplane-cluster`` command.

Library use::

    with LocalControlPlane(state_dir) as cp:
        print(cp.kubeconfig_path)
        cp.stop_apiserver()   # simulate an API outage (etcd and controllers keep running)
        cp.start_apiserver()  # same port, same etcd, same certificates

Command line (console script ``flowplane-cluster``)::

    flowplane-cluster up [--state-dir DIR]    # start detached, print the kubeconfig path
    flowplane-cluster status                  # pids and health
    flowplane-cluster env                     # export KUBECONFIG=...
    flowplane-cluster down                    # stop and remove the state directory
"""

from __future__ import annotations

import sys

from flowplane_devtools.cli import main
from flowplane_devtools.locate import (
    BINARY_ENV,
    KUBERNETES_VERSION,
    ControlPlaneError,
    find_binary,
    find_kubectl,
    free_ports,
    repo_root,
)
from flowplane_devtools.pki import (
    KeyPair,
    Pki,
    generate_pki,
    issue_certificate,
    new_ca,
    write_kubeconfig,
)
from flowplane_devtools.processes import SERVICE_CLUSTER_IP_RANGE, LocalControlPlane

__all__ = [
    "BINARY_ENV",
    "KUBERNETES_VERSION",
    "SERVICE_CLUSTER_IP_RANGE",
    "ControlPlaneError",
    "KeyPair",
    "LocalControlPlane",
    "Pki",
    "find_binary",
    "find_kubectl",
    "free_ports",
    "generate_pki",
    "issue_certificate",
    "main",
    "new_ca",
    "repo_root",
    "write_kubeconfig",
]

if __name__ == "__main__":
    sys.exit(main())
