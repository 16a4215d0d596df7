"""Real headless Locust runs of the agent users against a real reference server process."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.run import LOCUSTFILE, ReferenceServer
from reports.ledger import iter_ledger
from reports.report import build_report
from tests.timing import wait_until

pytestmark = pytest.mark.slow


def locust(host: str, run_dir: Path, users: int, seconds: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host, "-u", str(users),
         "-r", str(users), "-t", f"{seconds}s", "--csv", str(run_dir / "stats"), "--only-summary",
         "--stop-timeout", "3", "--agentsoak-run-dir", str(run_dir), "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stats_rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with open(run_dir / "stats_stats.csv") as fh:
        return {row["Name"]: row for row in csv.DictReader(fh)}


@pytest.mark.timeout(120)
def test_headless_run_50_agents_no_failures(tmp_path):
    """50 agents for 12 s: connect, turn and ttft are reported with real timings and 0 failures."""
    server = ReferenceServer(["--seed", "5"])
    try:
        proc = locust(server.url, tmp_path, users=50, seconds=12)
        out, _ = proc.communicate(timeout=90)
    finally:
        server.stop()
    assert proc.returncode == 0, out[-3000:]
    rows = stats_rows(tmp_path)
    for name in ("connect", "turn", "ttft"):
        assert int(rows[name]["Request Count"]) > 0, name
        assert int(rows[name]["Failure Count"]) == 0, name
        assert float(rows[name]["Min Response Time"]) > 0, name  # never the contrib user's 0
    assert int(rows["connect"]["Request Count"]) == 50
    assert int(rows["turn"]["Request Count"]) >= 200
    assert float(rows["ttft"]["Median Response Time"]) < float(rows["turn"]["Median Response Time"])
    events = list(iter_ledger(tmp_path))
    agents = {e.agent for e in events if e.kind == "agent_start"}
    assert len(agents) == 50


def _agents_with_a_completed_turn(run_dir: Path) -> set[str]:
    return {e.agent for e in iter_ledger(run_dir) if e.kind == "turn_end" and e.outcome == "completed"}


@pytest.mark.timeout(150)
def test_server_killed_mid_run_every_agent_recovers_by_full_resend(tmp_path):
    """Kill -9 the server mid-run and restart it: every agent reconnects, resumes by a full resend, loses nothing."""
    server = ReferenceServer(["--seed", "6"])
    try:
        proc = locust(server.url, tmp_path, users=50, seconds=20)
        wait_until(lambda: len(_agents_with_a_completed_turn(tmp_path)) == 50, 12, interval=0.2,
                   message="all 50 agents completed a turn before the kill")
        server.kill()
        time.sleep(0.5)  # the outage itself: nothing listens for half a second
        server.restart()
        out, _ = proc.communicate(timeout=90)
    finally:
        server.stop()
    assert proc.returncode in (0, 1), out[-3000:]
    events = list(iter_ledger(tmp_path))
    disconnected = {e.agent for e in events if e.kind == "disconnect"}
    agents = {e.agent for e in events if e.kind == "agent_start"}
    assert disconnected == agents and len(agents) == 50  # the kill reached every agent
    last_disconnect = {}
    last_connect = {}
    for e in events:
        if e.kind == "disconnect":
            last_disconnect[e.agent] = max(last_disconnect.get(e.agent, 0), e.mono)
        elif e.kind == "connect_ok":
            last_connect[e.agent] = max(last_connect.get(e.agent, 0), e.mono)
    assert all(last_connect[a] > last_disconnect[a] for a in agents)
    recoveries = [e for e in events if e.kind == "recovery"]
    assert {e.agent for e in recoveries} == agents
    assert {e.mode for e in recoveries} == {"full_resend"}
    report = build_report(tmp_path, run_status={"status": "completed"})
    checks = {c.name: c for c in report.checks}
    assert checks["turns.lost"].observed == 0 and checks["turns.duplicated"].observed == 0
    assert checks["context.digest_mismatches"].observed == 0
    assert checks["reconnect.unrecovered_agents"].observed == 0


@pytest.mark.timeout(120)
def test_stop_window_starts_no_turn_and_ends_every_turn(tmp_path):
    """Slow turns (50 tokens/s) and a 1 s stop timeout: no turn starts once the test stops, and every
    turn_start gets a turn_end (turns the stop cuts end ``stopped``), so nothing is falsely lost."""
    server = ReferenceServer(["--seed", "8", "--tokens-per-s", "50"])
    users, seconds = 12, 5
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", server.url,
             "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary", "--stop-timeout", "1",
             "--agentsoak-run-dir", str(tmp_path), "--seed", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=90)
    finally:
        server.stop()
    assert proc.returncode == 0, out[-3000:]
    events = list(iter_ledger(tmp_path))
    (test_start,) = [e for e in events if e.kind == "test_start"]
    stop_begins = test_start.mono + seconds  # Locust's -t counts from the test's start
    starts = [e for e in events if e.kind == "turn_start"]
    late = [(e.turn, round(e.mono - stop_begins, 2)) for e in starts if e.mono > stop_begins + 0.3]
    assert not late, f"turns started in the stop window: {late}"
    ended = {e.turn for e in events if e.kind == "turn_end"}
    assert {e.turn for e in starts} <= ended
    stopped = [e for e in events if e.kind == "turn_end" and e.outcome == "stopped"]
    assert stopped, "the stop cut some slow turns"  # the case under test did happen
    report = build_report(tmp_path, run_status={"status": "completed"})
    checks = {c.name: c for c in report.checks}
    assert checks["turns.lost"].observed == 0
    assert {e.agent for e in events if e.kind == "agent_start"} == {f"agent-{i:04d}" for i in range(1, users + 1)}
