"""A refused write is logged with the object and the field, once per distinct refusal."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from flowplane.operator.applier import WriteRefused
from flowplane.operator.kube import KubeClient
from flowplane.operator.reconciler import FamilyReconciler
from flowplane.operator.refusals import refusal_of
from flowplane.reconcile.settings import Settings
from flowplane.reconcile.snapshot import Family
from flowplane.reconcile.writes import Create, Decision, Kind, Patch

INVALID = {"kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422,
           "message": 'WorkflowVersion.flowplane.dev "wf-v3" is invalid: spec.version: '
                      "Invalid value: 2000000000: must be at most 1000000000",
           "details": {"name": "wf-v3", "kind": "WorkflowVersion", "causes": [
               {"reason": "FieldValueInvalid", "field": "spec.version",
                "message": "Invalid value"}]}}
TERMINATING = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
               "message": 'services "wf-trigger" is forbidden: unable to create new content '
                          "in namespace team-a because it is being terminated",
               "details": {"name": "wf-trigger", "kind": "services", "causes": [
                   {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                    "message": "namespace team-a is being terminated"}]}}


def api_error(status: int, body: Any, reason: str = "Unprocessable Entity") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    return exc


@pytest.mark.parametrize(("exc", "reason", "fields", "terminating", "says"), [
    (api_error(422, INVALID), "Invalid", ("spec.version",), False, "must be at most"),
    (api_error(403, TERMINATING, "Forbidden"), "Forbidden", ("metadata.namespace",), True,
     "being terminated"),
    (api_error(403, {"reason": "Forbidden", "message": "RBAC says no"}, "Forbidden"),
     "Forbidden", (), False, "RBAC says no"),
    (api_error(502, "<html>bad gateway</html>", "Bad Gateway"), "Bad Gateway", (), False,
     "Bad Gateway"),
    (api_error(500, None, "Internal Server Error"), "Internal Server Error", (), False,
     "Internal Server Error"),
    (api_error(422, {"details": {"causes": ["junk", {"field": 7}]}}), "Unprocessable Entity",
     ("7",), False, "Unprocessable Entity"),
])
def test_a_refusal_names_its_reason_and_fields(exc: ApiException, reason: str,
                                                fields: tuple[str, ...], terminating: bool,
                                                says: str) -> None:
    refusal = refusal_of(exc)
    assert (refusal.reason, refusal.fields, refusal.terminating) == (reason, fields, terminating)
    assert says in refusal.message


class RefusingClient:
    def __init__(self, exc: ApiException) -> None:
        self.exc = exc

    async def create(self, kind: Kind, namespace: str, body: Any) -> Any:
        raise self.exc

    async def patch(self, kind: Kind, namespace: str, name: str, body: Any, *,
                    status: bool = False) -> Any:
        raise self.exc


def refused(exc: ApiException, write: Create | Patch) -> WriteRefused:
    reconciler = FamilyReconciler(cast(KubeClient, RefusingClient(exc)), Settings())
    family = Family(namespace="team-a", name="wf")
    with pytest.raises(WriteRefused) as caught:
        asyncio.run(reconciler.apply(family, Decision(writes=[write])))
    return caught.value


def test_the_applier_says_which_write_was_refused_and_why() -> None:
    create = Create(Kind.VERSION, "wf-v3", {"metadata": {"name": "wf-v3"}}, why="fork")
    got = refused(api_error(422, INVALID), create)
    assert got.status == 422
    assert str(got) == ('create WorkflowVersion wf-v3: 422 Invalid: WorkflowVersion.flowplane.dev '
                        '"wf-v3" is invalid: spec.version: Invalid value: 2000000000: must be at '
                        'most 1000000000 (fields: spec.version)')
    status = Patch(Kind.WORKFLOW, "wf", {"status": {}}, resource_version="1", status=True,
                   why="status")
    assert str(refused(api_error(422, INVALID), status)).startswith(
        "patch status of Workflow wf: 422 Invalid")


def test_a_refusal_is_logged_once_until_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    reconciler = FamilyReconciler(cast(KubeClient, None), Settings())
    create = Create(Kind.VERSION, "wf-v3", {}, why="fork")
    invalid = refused(api_error(422, INVALID), create)
    terminating = refused(api_error(403, TERMINATING, "Forbidden"),
                          Create(Kind.SERVICE, "wf-trigger", {}, why="wire"))
    key = ("team-a", "wf")
    with caplog.at_level(logging.INFO, logger="flowplane"):
        for _ in range(3):
            reconciler._say_refused(key, invalid)
        reconciler._say_refused(key, terminating)
        reconciler._say_refused(key, terminating)
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO]
    assert "refused a write: create WorkflowVersion wf-v3" in said[0][1]
    assert "namespace is terminating" in said[1][1]
    first = caplog.records[0]
    assert (first.kind, first.object, first.fields) == ("WorkflowVersion", "wf-v3",
                                                        ["spec.version"])
