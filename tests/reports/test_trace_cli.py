"""reports.trace.cli: ``agentsoak trace RUN AGENT`` and its errors (one line, exit 2, no traceback)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from reports.cli import register_cli

REPO = Path(__file__).resolve().parents[2]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_trace_by_id_and_by_index_prints_the_same_timeline(make_run, capsys):
    run = make_run(lost=("a1-1", 20))
    assert run_cli("trace", str(run), "a1-1") == 0
    by_id = capsys.readouterr().out
    assert run_cli("trace", str(run), "2") == 0
    assert capsys.readouterr().out == by_id
    assert "named in failed checks: turns.lost" in by_id
    assert "s1/t20 attempt 1: CUT in flight" in by_id


def test_trace_json(make_run, capsys):
    assert run_cli("trace", "--json", str(make_run()), "a1-0") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["agent"] == "a1-0" and any(i["kind"] == "disconnect" and i["code"] == 1006 for i in doc["items"])


def test_a_partial_run_traces_with_exit_0(make_run, capsys):
    assert run_cli("trace", str(make_run(partial=True)), "a1-2") == 0
    assert "!!! PARTIAL RUN" in capsys.readouterr().out


@pytest.mark.parametrize("setup", ["unknown_agent", "missing", "not_run_dir", "empty_agent"])
def test_bad_input_is_one_line_and_exit_2(make_run, tmp_path, capsys, setup):
    target, agent = make_run(), "agent-0099"
    if setup == "missing":
        target = tmp_path / "nope"
    elif setup == "not_run_dir":
        target = tmp_path / "plain"
        target.mkdir()
    elif setup == "empty_agent":
        agent = ""
    assert run_cli("trace", str(target), agent) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("agentsoak: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert captured.out == ""
    expected = {"unknown_agent": "no agent 'agent-0099' in the ledger (4 agents: a1-0, a1-1, a1-2, a1-3)",
                "missing": "no such run directory", "not_run_dir": "not a run directory (no ledger/ inside)",
                "empty_agent": "AGENT is empty"}[setup]
    assert expected in err


def test_the_agentsoak_command_has_trace(make_run):
    """Through the real entry point, as a user types it."""
    run = make_run()
    code = "import sys; from loadtests.cli import main; sys.exit(main())"
    ok = subprocess.run([sys.executable, "-c", code, "trace", str(run), "4"], cwd=REPO, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("agentsoak trace: a1-3 (index 4)"), ok.stderr
    bad = subprocess.run([sys.executable, "-c", code, "trace", str(run), "17"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no agent '17'" in bad.stderr
