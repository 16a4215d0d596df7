"""The issue's Done-when, end to end: two short real runs fill the history, and a third whose
reference server is slower to the first token trips the gate, naming TTFT.

Real ``agentsoak run`` subprocesses (reference server, embedded proxy, Locust; all on 127.0.0.1),
5 agents for 6 s each, recording into a SQLite history with ``--history``. The baseline is the two
real runs, so the gate runs with ``--min-history 2``; with the default minimum (5) the same history
is reported as insufficient (exit 3), never as a pass.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from loadtests.cli import main; sys.exit(main())"]
PROFILE = """name: gate-e2e
seed: 5
target:
  kind: embedded
  server: {tokens_per_s: 1000}
proxy: {kind: embedded}
load: {users: 5, spawn_rate: 5, duration: 6s}
agent:
  store: true
  think_time: {distribution: uniform, min: 0.2s, max: 0.5s}
faults: []
checks: {}
"""


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run(profile: Path, db: Path, *extra: str) -> Path:
    res = cli("run", str(profile), "--quiet", "--history", str(db), *extra)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "agentsoak: recorded " in res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("run directory: "))
    return Path(line.removeprefix("run directory: ").strip())


def test_two_runs_fill_the_history_and_a_slower_third_trips_the_gate_on_ttft(tmp_path):
    profile = tmp_path / "gate-e2e.yaml"
    profile.write_text(f"output_dir: {tmp_path / 'runs'}\n" + PROFILE)
    db = tmp_path / "history.sqlite"
    first = run(profile, db, "--target-revision", "rev-1")
    second = run(profile, db, "--target-revision", "rev-2")
    slow = run(profile, db, "--target-revision", "rev-3", "--set", "target.server.ttft_base_ms=1000")

    meta = orjson.loads((first / "report.json").read_bytes())["run"]
    assert meta["target_revision"] == "rev-1" and meta["host"] == socket.gethostname()
    assert meta["agentsoak_version"] and meta["started_at"] < meta["ended_at"]
    assert meta["profile"] == "gate-e2e" and meta["seed"] == 5
    slow_meta = orjson.loads((slow / "report.json").read_bytes())["run"]
    assert slow_meta["profile_hash"] != meta["profile_hash"]  # the --set changed the resolved profile

    trend = cli("history", "--history", str(db), "--profile", "gate-e2e")
    assert trend.returncode == 0, trend.stderr
    rows = [line.split() for line in trend.stdout.splitlines() if line.strip().startswith("20")]
    assert [r[2] for r in rows] == ["rev-1", "rev-2", "rev-3"]

    unknown = cli("gate", str(slow), "--history", str(db))
    assert unknown.returncode == 3, unknown.stdout + unknown.stderr
    assert unknown.stdout.startswith("gate UNKNOWN: insufficient history: 2 of 5 runs of profile gate-e2e")

    tripped = cli("gate", str(slow), "--history", str(db), "--min-history", "2")
    assert tripped.returncode == 1, tripped.stdout + tripped.stderr
    headline = tripped.stdout.splitlines()[0]
    assert headline.startswith("gate REGRESSION: ") and "ttft_p95_ms" in headline
    assert "baseline median" in headline and "n=2" in headline
    assert "note: the resolved profile differs from the baseline's" in tripped.stdout

    # the baseline of a run is the runs before it, never itself nor a later one (its verdict is left out:
    # one earlier run is too few to tell noise on a shared 2-core box from a change)
    earlier = orjson.loads(cli("gate", str(second), "--history", str(db), "--min-history", "1", "--json").stdout)
    assert earlier["baseline_runs"] == [first.name]
