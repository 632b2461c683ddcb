"""`flowplane-operator`: run the operator (in a cluster, or against $KUBECONFIG)."""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf
from prometheus_client import start_http_server

from flowplane.operator import handlers  # registers the handlers
from flowplane.operator.config import OperatorOptions, parse_options
from flowplane.operator.kopf_fixes import fast_index_barrier, lean_initial_listing
from flowplane.operator.kube import KubeClient, load_client_config
from flowplane.operator.leadership import LEADER, LeaderElector, Timings, default_identity
from flowplane.operator.reconciler import FamilyReconciler

RECURSION_LIMIT = 20_000
"""The API server accepts JSON nested up to 10000 levels, and a node's free-form `config`
is any JSON. Python's default recursion limit (1000) makes the JSON decoder of Kopf's
list/watch stream raise RecursionError on such an object, and Kopf then stops the whole
operator: one tenant's hostile WorkflowVersion would take every tenant down. 10000 levels
need about 2 MB of C stack; the main thread (the event loop) has 8 MB."""


def run(options: OperatorOptions) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    kopf.configure(
        verbose=options.verbose,
        log_format=kopf.LogFormat.JSON if options.log_format == "json" else kopf.LogFormat.FULL,
    )
    if not options.verbose:
        # Kopf logs every event handler call at INFO; our own log lines say what changed.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    fast_index_barrier()
    if options.metrics_port:
        start_http_server(options.metrics_port)
    client = KubeClient(load_client_config())
    reconciler = FamilyReconciler(client, options.settings, workers=options.workers, held=True)
    if not lean_initial_listing(
            on_indexed=lambda indices: handlers.decide_every_family(reconciler, indices)):
        reconciler.queue.release()  # Kopf's own barrier holds the handlers back instead
    memo = kopf.Memo(reconciler=reconciler)
    if options.leader_elect:
        # Kopf's own peering stays off (standalone): the Lease is the only election.
        elector = LeaderElector(
            client.api, options.lease_namespace, options.lease_name,
            options.identity or default_identity(),
            Timings(options.lease_duration, options.renew_deadline, options.retry_period),
            on_started_leading=lambda: handlers.touch_all(reconciler))
        reconciler.may_write = elector.may_write
        memo["elector"] = elector
    else:
        LEADER.set(1)  # the only replica: it always writes
    kopf.run(
        standalone=True,
        clusterwide=options.clusterwide,
        namespaces=list(options.namespaces),
        memo=memo,
        liveness_endpoint=(
            f"http://0.0.0.0:{options.health_port}/healthz" if options.health_port else None
        ),
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    try:
        run(options)
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
