"""The ``wrong_state`` fault end to end: one agent is served a turn from the wrong cached state, and the
digest check fails naming that agent and its turn (a real ``agentsoak run`` of a few seconds)."""

from __future__ import annotations

import json

import pytest

from reports.ledger import iter_ledger
from tests.test_integration_run import cli, the_run_dir, write_profile

pytestmark = pytest.mark.slow

WRONG_STATE = """seed: 5
target:
  kind: embedded
  server: {tokens_per_s: 1000}
proxy: {kind: embedded}
load: {users: 3, spawn_rate: 3, duration: 6s}
agent:
  store: true
  turns_per_session: 100
  think_time: {distribution: constant, value: 0.2s}
faults:
  # share 0.01 of 3 live connections picks exactly one (seeded); its next chained turn is served wrong
  - {name: stale, kind: wrong_state, at: 2s, duration: 3s, share: 0.01, turns: 1}
checks: {}
"""


def test_one_agent_served_from_the_wrong_state_fails_the_digest_check_by_name(tmp_path):
    res = cli("run", str(write_profile(tmp_path, "it-wrong-state", WRONG_STATE)), "--quiet")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    run_dir = the_run_dir(tmp_path)
    report = json.loads((run_dir / "report.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    digest = checks["context.digest_mismatches"]
    # one turn is served wrong; the server's chain goes on from that state, so its later turns differ too
    assert digest["verdict"] == "fail" and digest["observed"] >= 1
    (agent,) = digest["agents"]
    mismatches = report["summary"]["integrity"]["digest_mismatches"]
    turn = mismatches["by_agent"][agent]  # the first turn served wrong
    assert turn.startswith(f"{agent}/") and f"first mismatch per agent: {turn}" in digest["detail"]
    assert [n for n, c in checks.items() if c["verdict"] == "fail"] == ["context.digest_mismatches"]
    assert checks["faults.applied"]["verdict"] == "pass"
    applies = [e for e in iter_ledger(run_dir) if e.kind == "fault_apply"]
    assert [(e.fault, e.type, e.affected) for e in applies] == [("stale#0", "wrong_state", 1)]
    # the terminal names the agent and shows its turn with the mismatch among its last events
    assert f"  {agent}, up to turn {turn}:" in res.stdout
    assert f"{turn} attempt 1: completed (digest mismatch)" in res.stdout
