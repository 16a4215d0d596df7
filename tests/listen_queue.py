"""Measure a listener's accept queue from the kernel: fill it while nothing accepts, count what waits.

``hold_loop`` blocks an asyncio loop running on another thread, so its listener stops accepting;
``fill`` then opens ``n`` connects and returns how many the kernel queued (the listen socket's
``rx_queue`` in /proc/net/tcp is its accept-queue length). A listener with backlog B queues at most
B + 1; past that the kernel drops the SYNs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator

__all__ = ["fill", "hold_loop", "queued", "send_q"]


def queued(port: int) -> int:
    """The accept-queue length of the IPv4 listener on ``port`` (-1 when there is none)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return int(queues.split(":")[1], 16)
    return -1


def send_q(port: int) -> int | None:
    """``ss -ltn`` Send-Q of the listener on ``port``: its max backlog (None without ``ss``)."""
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    return int(rows[0][2]) if rows else None


@contextlib.contextmanager
def hold_loop(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Block ``loop`` (on its own thread) for the duration; it runs on again afterwards."""
    entered, release = threading.Event(), threading.Event()

    def block() -> None:
        entered.set()
        release.wait(60)

    loop.call_soon_threadsafe(block)
    if not entered.wait(10):
        raise AssertionError("the loop did not come round to block")
    try:
        yield
    finally:
        release.set()


def fill(port: int, n: int, timeout: float) -> tuple[int, list[socket.socket]]:
    """Open ``n`` non-blocking connects to ``port``; wait (up to ``timeout``) until all are queued.

    Returns the largest queue length seen and the client sockets (the caller closes them).
    """
    socks: list[socket.socket] = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(err, f"connect to {port}")
        socks.append(s)
    deadline = time.monotonic() + timeout
    best = 0
    for _ in range(100_000):  # bounded; the deadline ends it first
        best = max(best, queued(port))
        if best >= n or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return best, socks
