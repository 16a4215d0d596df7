"""Locust's own re-dispatch, for real: a worker that misses its heartbeats has its users started again on
another worker while its own still run; the master refuses them their indices (loadtests.agent_index),
so the run holds its agents and the report fails ``load.extra_agents`` naming the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from loadtests.run import LOCUSTFILE, ReferenceServer
from reports.ledger import iter_ledger
from reports.summary import summarize
from reports.verify import FAIL, PASS, Thresholds, verify
from tests.timing import wait_until

pytestmark = pytest.mark.slow

USERS = 6


def _connected_workers(master: psutil.Process, port: int) -> list[psutil.Process]:
    """The master's forked workers that hold an ESTABLISHED socket to the server."""
    found = []
    for child in master.children():
        try:
            if any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
                   for c in child.net_connections("tcp")):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.timeout(150)
def test_a_redispatch_of_a_missing_workers_users_is_refused_and_fails_extra_agents(tmp_path: Path):
    server = ReferenceServer(["--seed", "5"])
    log = tmp_path / "locust.log"
    stopped: psutil.Process | None = None
    try:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", server.url,
                 "-u", str(USERS), "-r", str(USERS), "-t", "40s", "--processes", "2", "--enable-rebalancing",
                 "--stop-timeout", "3", "--agentsoak-run-dir", str(tmp_path), "--seed", "3"],
                stdout=out, stderr=subprocess.STDOUT, text=True)
        master = psutil.Process(proc.pid)
        wait_until(lambda: len(_connected_workers(master, port)) == 2, timeout=60, message="both workers connected")
        stopped = _connected_workers(master, port)[0]
        os.kill(stopped.pid, signal.SIGSTOP)  # no heartbeats: Locust marks it missing and re-dispatches
        wait_until(lambda: "agentsoak refuses them" in log.read_text(), timeout=40,
                   message="the master refusing the re-dispatched users")
        os.kill(stopped.pid, signal.SIGCONT)
        stopped = None
        assert proc.wait(timeout=90) is not None
    finally:
        if stopped is not None:
            os.kill(stopped.pid, signal.SIGCONT)
        server.stop()
    text = log.read_text()
    assert "setting state to missing" in text, text[-3000:]
    events = list(iter_ledger(tmp_path))
    started = sorted(e.index for e in events if e.kind == "agent_start")
    assert started == list(range(1, USERS + 1)), started  # the run's agents, each once, none beyond
    refused = [e for e in events if e.kind == "agent_refused"]
    assert refused and all(e.index > USERS and e.limit == USERS and e.worker for e in refused)
    line = next(line for line in text.splitlines() if "setting state to missing" in line)
    missing = line.split("Worker ", 1)[1].split()[0]
    assert all(e.missing == [missing] and e.worker != missing for e in refused), (missing, refused)
    checks = {c.name: c for c in verify(summarize(iter_ledger(tmp_path)), Thresholds())}
    conc, extra = checks["load.concurrent_agents"], checks["load.extra_agents"]
    assert (conc.verdict, conc.observed, conc.limit) == (PASS, USERS, USERS), conc
    assert extra.verdict == FAIL and extra.observed == len({e.index for e in refused}), extra
    assert f"started on {refused[0].worker}, while {missing} counted as missing" in extra.detail, extra.detail
    assert "missed its heartbeats" in extra.detail
