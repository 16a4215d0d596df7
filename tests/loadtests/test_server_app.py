"""The reference server's listener: its accept queue is ``BACKLOG`` deep, not aiohttp's 128."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from loadtests.server.app import BACKLOG
from tests.listen_queue import fill, send_q

CONNECTS = 600  # well past aiohttp's 128, well inside BACKLOG


def test_the_server_queues_backlog_connects_while_nothing_accepts():
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests.server", "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("listening on "), line
        port = int(line.rsplit(":", 1)[1])
        os.kill(proc.pid, signal.SIGSTOP)  # nothing accepts: the kernel alone queues the connects
        try:
            seen, socks = fill(port, CONNECTS, timeout=5)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        for s in socks:
            s.close()
        assert seen >= CONNECTS, f"the accept queue held {seen} of {CONNECTS} connects"
        assert send_q(port) in (None, BACKLOG)  # ss -ltn: a listener's Send-Q is its backlog
    finally:
        proc.terminate()
        proc.wait(20)
