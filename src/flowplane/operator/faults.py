"""TEST-ONLY fault injection: exact, reproducible kill points for crash-consistency tests.

``FLOWPLANE_FAULT_EXIT_AFTER_WRITES=N`` makes the operator process exit with status 137
(what a SIGKILL looks like) immediately after its N-th successful object write: a create
or a patch made by the write applier (``Applier.apply``, operator/applier.py), counted
across the whole process. Failed writes, AlreadyExists on create and Events are not
counted. Nothing is flushed or cleaned up (``os._exit``), exactly as when a node dies, so
a test can kill the operator between any two writes of a publish and check what the next
operator makes of it.

Unset, empty or ``0`` disables it. Never set it outside tests.
"""

from __future__ import annotations

import logging
import os
import sys

from flowplane.reconcile.writes import Write

ENV_EXIT_AFTER_WRITES = "FLOWPLANE_FAULT_EXIT_AFTER_WRITES"
EXIT_STATUS = 137

log = logging.getLogger("flowplane")


def _limit() -> int:
    raw = os.environ.get(ENV_EXIT_AFTER_WRITES, "").strip()
    return int(raw) if raw.isdigit() else 0


_exit_after = _limit()
_writes = 0


def after_write(write: Write) -> None:
    """Called by the write applier right after each successful write."""
    global _writes
    if not _exit_after:
        return
    _writes += 1
    if _writes >= _exit_after:
        log.warning("fault injection (%s=%d): exiting after write %d: %s %s (%s)",
                    ENV_EXIT_AFTER_WRITES, _exit_after, _writes, write.kind.value, write.name,
                    write.why)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_STATUS)
