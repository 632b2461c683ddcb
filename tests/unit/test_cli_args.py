"""`kubectl flowplane` argument parsing and exit codes (no cluster needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from flowplane.cli.main import build_parser, fresh_token, main


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_connection_flags_before_or_after_the_command() -> None:
    before = parse("--kubeconfig", "/k", "--context", "c", "-n", "team-a", "versions", "wf")
    after = parse("versions", "wf", "--kubeconfig", "/k", "--context", "c", "-n", "team-a")
    for args in (before, after):
        assert (args.kubeconfig, args.context, args.namespace) == ("/k", "c", "team-a")
    plain = parse("versions", "wf")
    assert (plain.kubeconfig, plain.context, plain.namespace) == (None, None, None)
    # the command's flag wins over the global one
    assert parse("-n", "a", "versions", "wf", "-n", "b").namespace == "b"


def test_commands_and_their_arguments() -> None:
    args = parse("publish", "wf", "3", "--wait", "--timeout", "90s")
    assert (args.workflow, args.version, args.wait, args.timeout) == ("wf", 3, True, 90.0)
    assert parse("rollback", "wf", "2").wait is False
    assert parse("new-draft", "wf", "--from", "4").source == 4
    assert parse("new-draft", "wf").source is None
    assert parse("graph", "wf").version is None
    args = parse("graph", "wf", "2", "--format", "dot")
    assert (args.version, args.format) == (2, "dot")
    args = parse("diff", "wf", "1", "2", "--unified")
    assert (args.old, args.new, args.unified) == (1, 2, True)
    args = parse("trip", "wf", "--reason", "RunRateExceeded", "--message", "900/min")
    assert (args.reason, args.message) == ("RunRateExceeded", "900/min")
    assert parse("revert", "wf-v4").version_name == "wf-v4"


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate", "wf"],
    ["publish", "wf"],
    ["publish", "wf", "x"],
    ["publish", "wf", "0"],
    ["publish", "wf", "1", "--timeout", "-5"],
    ["graph", "wf", "--format", "svg"],
    ["trip", "wf"],
    ["trip", "wf", "--reason", "not a reason"],
    ["trip", "wf", "--reason", "Trailing:"],
    ["trip", "wf", "--reason", "R" * 129],  # the CRD's bound on status.safety.reason
    ["trip", "wf", "--reason", "Valid", "--message", "m" * 1025],
    ["diff", "wf", "1"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: kubectl flowplane" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("versions", "publish", "rollback", "deactivate", "new-draft", "revert",
                    "resume", "trip", "diff", "graph"):
        assert command in out


def test_a_missing_kubeconfig_is_an_operation_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--kubeconfig", str(tmp_path / "nope"), "versions", "wf"])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: cannot load the Kubernetes configuration")


def test_tokens_are_fresh() -> None:
    assert fresh_token() != fresh_token()
