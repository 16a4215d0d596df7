"""Every swarm of one ``agentsoak ui`` session leaves a complete run directory, the second like the first.

A real ``agentsoak ui smoke`` driven over Locust's own HTTP routes (``/swarm``, ``/stop``): two swarms, then
each run directory has Locust's CSV and HTML files (as ``--csv``/``--html`` give a headless run) and the
components' logs, and the second run's logs hold its own lines only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from faults.loopback import free_port
from loadtests.ui.swarm_files import LOCUST_FILES
from tests.timing import wait_until

pytestmark = pytest.mark.slow
AGENTS = 3


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _post(url: str, form: dict[str, str] | None = None) -> None:
    data = urllib.parse.urlencode(form or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=10) as r:
        assert r.status == 200


def _up(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


def _swarm(base: str, n: int) -> dict:
    _post(base + "/swarm", {"user_count": str(AGENTS), "spawn_rate": str(AGENTS)})
    wait_until(lambda: len(_get(base + "/agentsoak/gauges")["runs"]) == n, 20, interval=0.1, message="swarm started")
    wait_until(lambda: _get(base + "/agentsoak/gauges")["agents"]["connected"] == AGENTS, 30, interval=0.1,
               message="every agent connected")
    _post(base + "/stop")
    return wait_until(lambda: (r := _get(base + "/agentsoak/gauges")["runs"][-1])["state"] == "done" and r, 120,
                      interval=0.2, message="the swarm verified")


def test_a_later_swarm_gets_locust_files_and_its_own_log_lines(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "loadtests.cli", "ui", "smoke", "--web-port", str(port), "-u", str(AGENTS),
           "-r", str(AGENTS), "--output-dir", str(tmp_path / "runs")]
    with open(tmp_path / "ui.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: proc.poll() is not None or _up(base + "/agentsoak/gauges"), 60, interval=0.2,
                       message="the web UI answers")
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            first, second = _swarm(base, 1), _swarm(base, 2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            proc.wait(90)
    assert first["verdict"] == second["verdict"] == "PASS", (first, second)
    dirs = [tmp_path / "runs" / r["run"] for r in (first, second)]
    for run_dir in dirs:
        for name in LOCUST_FILES:
            assert (run_dir / "locust" / name).stat().st_size > 0, f"{run_dir.name}: locust/{name}"
        stats = (run_dir / "locust" / "stats_stats.csv").read_text().splitlines()
        assert stats[0].startswith("Type,Name,Request Count") and stats[-1].split(",")[1] == "Aggregated"
        assert int(stats[-1].split(",")[2]) > 0, "the swarm's own requests are counted"
        for name in ("server.log", "proxy.log", "locust.log"):
            assert (run_dir / "logs" / name).stat().st_size > 0, f"{run_dir.name}: logs/{name}"
    # the second run's lines are its own: none of the session's startup (the first run has it)
    session_log = (dirs[0] / "logs" / "locust.log").read_text()
    own = (dirs[1] / "logs" / "locust.log").read_text()
    assert own and own in session_log
    assert "Starting web interface" in session_log and "Starting web interface" not in own
