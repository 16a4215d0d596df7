"""``agentsoak soak``: run, record in the history, gate, prune, and the one-line reason.

The fast tests replace the run with synthetic run directories (``tests.reports.builder``) and keep
everything after it real: the history (SQLite in tmp_path), the gate, prune. The slow test is the
issue's Done-when, end to end: two short real soaks fill the history, and a third whose reference
server is slower to the first token trips the gate naming TTFT; the same three runs check the
``history`` and ``gate`` commands (this test replaced tests/reports/test_gate_runs.py, which made
the same three runs with ``run --history``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadtests import soak_cli
from loadtests.cli import build_parser
from loadtests.run_cli import NOT_RUN, RunOutcome
from tests.reports.builder import Scenario, build

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from loadtests.cli import main; sys.exit(main())"]


def outcome(verdict: str = "PASS", code: int = 0) -> RunOutcome:
    return RunOutcome(code, verdict, "nightly", Path("runs/20260101T020000Z-nightly"), "why")


@pytest.mark.parametrize(("run", "kw", "verdict", "code"), [
    (outcome(), {"gate": "PASS"}, "PASS", 0),
    (outcome(), {"gate": "UNKNOWN"}, "UNKNOWN", 3),
    (outcome(), {"gate": "REGRESSION"}, "REGRESSION", 1),
    (outcome("FAIL", 1), {"gate": "PASS"}, "FAIL", 1),
    (outcome("FAIL", 1), {"gate": "REGRESSION"}, "FAIL", 1),
    (outcome("FAIL", 1), {"gate": "UNKNOWN"}, "FAIL", 1),
    (outcome("BROKEN", 2), {"gate": "BROKEN"}, "BROKEN", 2),
    (outcome("INTERRUPTED", 2), {"gate": "PASS"}, "BROKEN", 2),
    (RunOutcome(2, NOT_RUN, "nightly", None, "bad profile"), {}, "BROKEN", 2),
    (outcome(), {"gate_error": "history unreachable"}, "BROKEN", 2),
    (outcome(), {"recorded": "disk full", "gate": "PASS"}, "BROKEN", 2),
    (outcome("FAIL", 1), {"recorded": "disk full", "gate": "PASS"}, "FAIL", 1),
    (outcome(), {"gate": "PASS", "prune_failed": True}, "BROKEN", 2),
    (outcome(), {"gate": "UNKNOWN", "prune_failed": True}, "UNKNOWN", 3),
])
def test_exit_codes_the_worst_step_wins(run, kw, verdict, code):
    assert soak_cli.soak_verdict(run, **kw)[:2] == (verdict, code)


def test_the_reason_names_every_step_that_said_something():
    _, _, reason = soak_cli.soak_verdict(outcome("FAIL", 1), recorded="disk full", gate="REGRESSION",
                                         gate_headline="gate REGRESSION: ttft_p95_ms regressed", prune_failed=True)
    assert reason == ("run FAIL: why; not recorded in the history: disk full; gate REGRESSION: ttft_p95_ms "
                      "regressed; prune could not remove every old run (see above)")


class FakeRuns:
    """Stands in for the run: each call writes the next synthetic run directory into ``runs``."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.n = 0
        self.scenario = Scenario(name="nightly")

    def __call__(self, args: argparse.Namespace, stops: object) -> RunOutcome:
        self.n += 1
        run_dir = build(self.runs / f"2026010{self.n}T020000Z-nightly", self.scenario)
        failed = "checks failed: turns.lost" if self.scenario.lost else ""
        return RunOutcome(1 if failed else 0, "FAIL" if failed else "PASS", "nightly", run_dir,
                          failed or "checks passed")


def soak(capsys, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["soak", *argv])
    code = args.func(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_record_gate_and_prune_in_one_command(tmp_path, monkeypatch, capsys):
    runs, db = tmp_path / "runs", tmp_path / "history.sqlite"
    fake = FakeRuns(runs)
    monkeypatch.setattr(soak_cli, "run_and_report", fake)
    old = runs / "20200101T000000Z-nightly"  # a run directory from long ago: prune removes it
    old.mkdir(parents=True)
    (old / "run.json").write_text("{}")
    os.utime(old / "run.json", (0, 0))
    os.utime(old, (0, 0))
    opts = ("nightly", "--history", str(db), "--min-history", "2", "--keep", "1")

    code, out, err = soak(capsys, *opts)
    assert code == 3, out + err
    assert f"recorded 20260101T020000Z-nightly (profile nightly, PASS) in history sqlite:///{db}" in err
    assert out.splitlines()[-1] == (
        "agentsoak soak nightly: UNKNOWN (exit 3): run PASS: checks passed; gate UNKNOWN: insufficient history: "
        f"0 of 2 runs of profile nightly; run directory {runs / '20260101T020000Z-nightly'}")
    assert f"removed {old}" in out and not old.exists()
    assert "1 run(s) removed" in out and "kept 1 (0 live)" in out

    assert soak(capsys, *opts)[0] == 3  # 1 of 2
    code, out, _ = soak(capsys, *opts)
    assert code == 0, out
    last = out.splitlines()[-1]
    assert last.startswith("agentsoak soak nightly: PASS (exit 0): run PASS: checks passed; gate PASS: ")
    assert "within noise of the last 2 run(s) of profile nightly" in last
    assert "  baseline: 2 run(s) of profile nightly in history" in out  # the gate's own lines are there too

    fake.scenario = Scenario(name="nightly", lost=("a1-1", 9))
    code, out, _ = soak(capsys, *opts, "--no-prune")
    assert code == 1
    assert out.splitlines()[-1].startswith("agentsoak soak nightly: FAIL (exit 1): run FAIL: checks failed: "
                                           "turns.lost; gate ")
    assert "run(s) removed" not in out
    assert len(list(runs.iterdir())) == 4  # the history file lives elsewhere; no run was live-pruned


def test_bad_options_fail_before_any_run(tmp_path, monkeypatch, capsys):
    def no_run(*_a: object) -> RunOutcome:
        raise AssertionError("the run must not start")

    monkeypatch.setattr(soak_cli, "run_and_report", no_run)
    for argv, said in ((["--last", "3", "--min-history", "5"], "--min-history 5 is more than --last 3"),
                       (["--older-than", "soon"], "--older-than: 'soon' is not an age"),
                       (["--keep", "-1"], "--keep: -1 is negative")):
        code, out, _ = soak(capsys, "nightly", "--history", str(tmp_path / "h.sqlite"), *argv)
        assert code == 2
        assert out.splitlines()[-1].startswith(f"agentsoak soak nightly: BROKEN (exit 2): bad option: {said}")


def test_a_profile_that_does_not_load_could_not_run(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("load: {users: many}\n")
    code, out, err = soak(capsys, str(bad), "--history", str(tmp_path / "h.sqlite"))
    assert code == 2 and "load.users" in err
    last = out.splitlines()[-1]
    assert last.startswith(f"agentsoak soak {bad}: BROKEN (exit 2): run NOT RUN: ") and "load.users" in last
    assert not (tmp_path / "h.sqlite").exists()


# -- end to end ---------------------------------------------------------------------------------------

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


def real_soak(profile: Path, db: Path, code: int, *extra: str) -> tuple[Path, str, subprocess.CompletedProcess[str]]:
    res = cli("soak", str(profile), "--quiet", "--history", str(db), "--min-history", "2", "--keep", "1", *extra)
    assert res.returncode == code, res.stdout[-3000:] + res.stderr[-3000:]
    assert "agentsoak: recorded " in res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("run directory: "))
    return Path(line.removeprefix("run directory: ").strip()), res.stdout.splitlines()[-1], res


@pytest.mark.slow
def test_two_soaks_fill_the_history_and_a_slower_third_trips_the_gate_on_ttft(tmp_path):
    profile = tmp_path / "gate-e2e.yaml"
    runs = tmp_path / "runs"
    profile.write_text(f"output_dir: {runs}\n" + PROFILE)
    db = tmp_path / "history.sqlite"
    old = runs / "20200101T000000Z-gate-e2e"  # pruned by the first soak; the new runs are live: kept
    old.mkdir(parents=True)
    (old / "run.json").write_text("{}")
    os.utime(old / "run.json", (0, 0))

    first, line, res = real_soak(profile, db, 3, "--target-revision", "rev-1")
    assert line.startswith("agentsoak soak gate-e2e: UNKNOWN (exit 3): run PASS: ")
    assert "gate UNKNOWN: insufficient history: 0 of 2 runs of profile gate-e2e" in line
    assert f"removed {old}" in res.stdout and not old.exists()
    second, line, _ = real_soak(profile, db, 3, "--target-revision", "rev-2")
    assert "insufficient history: 1 of 2 runs" in line
    slow, line, res = real_soak(profile, db, 1, "--target-revision", "rev-3",
                                "--set", "target.server.ttft_base_ms=1000")
    # the morning line: the verdict, the exit code, the metric, its baseline and its change
    assert line.startswith("agentsoak soak gate-e2e: REGRESSION (exit 1): run PASS: "), line
    assert "gate REGRESSION: " in line and "ttft_p95_ms" in line and "baseline median" in line, line
    assert "n=2" in line and line.endswith(f"run directory {slow}")
    assert "note: the resolved profile differs from the baseline's" in res.stdout
    assert "kept 3 (2 live)" in res.stdout  # the newest, and two live ones

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
    assert headline in line  # the soak's last line carries the gate's headline whole

    # the baseline of a run is the runs before it, never itself nor a later one (its verdict is left out:
    # one earlier run is too few to tell noise on a shared 2-core box from a change)
    earlier = orjson.loads(cli("gate", str(second), "--history", str(db), "--min-history", "1", "--json").stdout)
    assert earlier["baseline_runs"] == [first.name]
