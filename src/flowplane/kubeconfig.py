"""Where the operator and the runtime get their API credentials, the same way."""

from __future__ import annotations

from typing import Any

import kubernetes


def load_configuration() -> kubernetes.client.Configuration:
    """The pod's service account when in a cluster, else the kubeconfig ($KUBECONFIG)."""
    config = kubernetes.client.Configuration()
    loader: Any = kubernetes.config
    try:
        loader.load_incluster_config(client_configuration=config)
    except loader.ConfigException:
        loader.load_kube_config(client_configuration=config)
    return config
