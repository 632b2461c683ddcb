"""What the API server said when it refused a write, in words a log reader can act on.

A bare `422 Unprocessable Entity` names neither the object nor the field; the Status
body the server sends does (`message`, `details.causes[].field`). A namespace being
deleted refuses every create with 403 `NamespaceTerminating`: expected, not alarming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

NAMESPACE_TERMINATING = "NamespaceTerminating"


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    message: str
    fields: tuple[str, ...] = ()
    terminating: bool = False

    def describe(self, verb: str, kind: str, name: str) -> str:
        fields = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{verb} {kind} {name}: {self.status} {self.reason}: {self.message}{fields}"


def refusal_of(exc: ApiException) -> Refusal:
    """Total over whatever the server (or a proxy in front of it) sent back."""
    body: Any = None
    try:
        body = json.loads(exc.body) if exc.body else None
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        body = {}
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    causes = [c for c in details.get("causes") or [] if isinstance(c, dict)]
    fields = tuple(dict.fromkeys(str(c["field"]) for c in causes if c.get("field")))
    message = str(body.get("message") or exc.reason or "no message")
    terminating = exc.status == 403 and (
        any(c.get("reason") == NAMESPACE_TERMINATING for c in causes)
        or "because it is being terminated" in message)
    return Refusal(status=int(exc.status or 0), reason=str(body.get("reason") or exc.reason or ""),
                   message=message[:1000], fields=fields, terminating=terminating)
