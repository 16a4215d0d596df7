"""The shipped ws-fallback profile end to end: a 426 window forces every agent onto HTTP/SSE, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.ledger import iter_ledger

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from loadtests.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def fallback_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fallback")
    res = subprocess.run([*CLI, "run", "ws-fallback", "--quiet", "--output-dir", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    (run_dir,) = sorted(out.iterdir())
    return res, run_dir


def test_every_agent_falls_back_and_the_checks_pass(fallback_run):
    res, run_dir = fallback_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    checks = {c["name"]: c for c in json.loads((run_dir / "report.json").read_text())["checks"]}
    assert checks["transport.fallbacks"]["verdict"] == "pass" and checks["transport.fallbacks"]["observed"] == 6
    assert checks["transport.fallback_turns"]["verdict"] == "pass"
    assert all(checks[n]["verdict"] == "pass" for n in ("turns.lost", "turns.duplicated",
                                                        "context.digest_mismatches"))


def test_the_ledger_shows_426_then_fallback_then_http_turns(fallback_run):
    _, run_dir = fallback_run
    events = list(iter_ledger(run_dir))
    falls = [e for e in events if e.kind == "transport_fallback"]
    assert len(falls) == 6 and {(e.reason, e.status) for e in falls} == {("status", 426)}
    for fb in falls:
        mine = [e for e in events if getattr(e, "agent", None) == fb.agent]
        after = [e for e in mine if e.kind == "turn_end" and e.mono > fb.mono]
        before = [e for e in mine if e.kind == "turn_end" and e.mono < fb.mono]
        assert before and {e.transport for e in before} == {"websocket"}
        assert after and {e.transport for e in after} == {"http"}
        assert all(e.outcome == "completed" for e in after)
