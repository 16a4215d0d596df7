"""``agentsoak run --master`` + two ``agentsoak worker``s on loopback equal a one-process run; the CLI's checks."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.distributed import MasterOptions, add_master_options, master_options
from reports.ledger import ledger_files

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "loadtests.cli"]

# Constant think times far from the drop and the end: every agent runs the same turns in both layouts.
PROFILE = """name: {name}
seed: 13
output_dir: {out}
target:
  kind: embedded
  server: {{tokens_per_s: 1000}}
proxy: {{kind: embedded}}
load: {{users: 20, spawn_rate: 20, duration: 20s}}
agent:
  think_time: {{distribution: constant, value: 3s}}
  reconnect: {{max_retries: 5, base_delay: 0.5s, max_delay: 4s, jitter_min: 0.75, jitter_max: 1.0}}
faults:
  - {{name: drop-all, kind: close, code: 1006, at: 10.5s, share: 1.0}}
checks: {{}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _counts(run_dir: Path) -> dict:
    report = json.loads((run_dir / "report.json").read_text())
    s = report["summary"]
    integrity = s["integrity"]
    reconnects = sum(f["reconnects"] for f in report["faults"])
    return {"verdict": report["verdict"], "agents": s["agents"], "turns": s["turns"],
            "completed": s["outcomes"].get("completed", 0), "reconnects": reconnects,
            "disconnects": sum(f["disconnects"] for f in report["faults"]),
            "lost": integrity["lost_turns"]["count"], "duplicated": integrity["duplicated_turns"]["count"],
            "checks": {c["name"]: c["verdict"] for c in report["checks"]}}


def _only_run(out: Path) -> Path:
    runs = sorted(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
def test_master_and_two_workers_equal_one_process(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(PROFILE.format(name="dist", out=tmp_path / "one"))
    started = time.monotonic()
    res = subprocess.run([*CLI, "run", str(one), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    single = _counts(_only_run(tmp_path / "one"))
    one_s = time.monotonic() - started

    dist = tmp_path / "dist.yaml"
    dist.write_text(PROFILE.format(name="dist", out=tmp_path / "dist"))
    port = str(_free_port())
    started = time.monotonic()
    master = subprocess.Popen([*CLI, "run", str(dist), "--quiet", "--master", "--expect-workers", "2",
                               "--master-port", port, "--workers-wait", "60"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([*CLI, "worker", "--master-host", "127.0.0.1", "--master-port", port,
                                 "--run-dir", str(tmp_path / f"w{i}")], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    try:
        out, err = master.communicate(timeout=150)
        codes = [w.wait(60) for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
                p.wait(10)
    dist_s = time.monotonic() - started
    assert master.returncode == 0, err[-3000:]
    assert codes == [0, 0], [w.stderr.read()[-2000:] for w in workers]
    run_dir = _only_run(tmp_path / "dist")
    names = [p.name for p in ledger_files(run_dir)]
    # each worker wrote its own ledger, and the master's run directory holds a copy of both
    for i in (1, 2):
        own = ledger_files(tmp_path / f"w{i}")
        assert len(own) == 1 and own[0].name in names
        assert own[0].read_bytes() == (run_dir / "ledger" / own[0].name).read_bytes()
    assert sum(n.startswith("locust-") for n in names) == 2, names
    distributed = _counts(run_dir)
    print(f"\none process ({one_s:.0f} s): {single}\n1 master + 2 workers ({dist_s:.0f} s): {distributed}")
    assert distributed == single
    assert single["verdict"] == "PASS" and single["agents"] == 20 and single["reconnects"] == 20

    # the same report from the workers' own files, pointed to by path, in place of the collected copies
    for i in (1, 2):
        (run_dir / "ledger" / ledger_files(tmp_path / f"w{i}")[0].name).unlink()
    res = subprocess.run([*CLI, "report", str(run_dir), "--no-write", "--quiet",
                          "--ledger", str(tmp_path / "w1"), "--ledger", str(ledger_files(tmp_path / "w2")[0])],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "PASS" in res.stdout and "20 agents" in res.stdout


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--allow-remote", action="store_true")
    add_master_options(parser)
    return parser.parse_args(list(argv))


def test_master_options_keep_to_loopback_unless_told():
    assert master_options(_args()) is None
    assert "needs --master" in master_options(_args("--expect-workers", "2"))
    assert "--expect-workers" in master_options(_args("--master"))
    opts = master_options(_args("--master", "--expect-workers", "3"))
    assert isinstance(opts, MasterOptions) and opts.bind_host == "127.0.0.1"
    assert "--master" in opts.locust_args() and "3" in opts.locust_args()
    refused = master_options(_args("--master", "--expect-workers", "2", "--master-bind-host", "0.0.0.0"))
    assert isinstance(refused, str) and "--allow-remote" in refused
    assert isinstance(master_options(_args("--master", "--expect-workers", "2", "--master-bind-host", "0.0.0.0",
                                           "--allow-remote")), MasterOptions)
    wide = ("--master", "--expect-workers", "2", "--agents-listen", "0.0.0.0:9000", "--allow-remote")
    assert "--agents-url" in master_options(_args(*wide))
    assert isinstance(master_options(_args(*wide, "--agents-url", "ws://m:9000/v1/responses")), MasterOptions)
    assert "HOST:PORT" in master_options(_args("--master", "--expect-workers", "2", "--agents-listen", "nope"))


def test_run_master_refuses_a_wide_bind_before_running(tmp_path):
    res = subprocess.run([*CLI, "run", "smoke", "--master", "--expect-workers", "2", "--master-bind-host", "0.0.0.0",
                          "--output-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--allow-remote" in res.stderr
    assert not any(tmp_path.iterdir())
