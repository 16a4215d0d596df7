"""One keepalive wheel per process: a single thread runs every agent's socket checks when they are due.

An agent's socket needs checking now and then: a ping every ``ping_interval``, a ping unanswered
for ``ping_timeout`` (the only way to see a half-open socket), silence during a turn, rotation
before the 60-minute limit. A thread per agent that wakes every second for that costs an idle
agent ~11 KB and the process 10,000 wake-ups a second at 10,000 agents. The wheel holds one heap
entry per socket instead, sleeps until the earliest deadline, and runs only the checks that are
due. A check returns when it next wants to run (or None: its socket is gone).

Checks run on the wheel's thread, so they must not block: a ping goes out on a thread of its own
(:func:`send_aside`), as a full send buffer would otherwise stall every agent's checks.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["Check", "KeepaliveWheel", "send_aside", "shared_wheel"]

log = logging.getLogger(__name__)

#: ``check(now)`` -> when it is next due (monotonic seconds), or None when its socket is done
Check = Callable[[float], "float | None"]


class KeepaliveWheel:
    """Runs registered checks at their deadlines, on one daemon thread (a greenlet under gevent)."""

    def __init__(self, *, max_sleep: float = 1.0) -> None:
        """``max_sleep`` bounds one wait, so a clock step or a missed wake-up costs at most that long."""
        self.max_sleep = max_sleep
        self._heap: list[tuple[float, int, Check]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, check: Check, due: float) -> None:
        """Run ``check`` at ``due`` (monotonic), then whenever it says."""
        with self._lock:
            earliest = self._heap[0][0] if self._heap else float("inf")
            heapq.heappush(self._heap, (due, next(self._seq), check))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="agentsoak-keepalive", daemon=True)
                self._thread.start()
        if due < earliest:
            self._wake.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            due: list[Check] = []
            with self._lock:
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                wait = min(self.max_sleep, self._heap[0][0] - now) if self._heap else self.max_sleep
            for check in due:
                try:
                    nxt = check(now)
                except Exception:  # noqa: BLE001 - one agent's failing check must not stop the others'
                    log.exception("keepalive check failed")
                    continue
                if nxt is not None:
                    with self._lock:
                        heapq.heappush(self._heap, (nxt, next(self._seq), check))
            if not due:
                self._wake.wait(max(0.0, wait))
                self._wake.clear()


def send_aside(send: Callable[[], object]) -> None:
    """Run ``send`` on a thread of its own (a greenlet under gevent); its failure is the reader's to see."""

    def run() -> None:
        try:
            send()
        except Exception:  # noqa: BLE001 - a dead socket: the reader sees the same failure
            pass

    threading.Thread(target=run, name="agentsoak-ping", daemon=True).start()


_shared: tuple[int, KeepaliveWheel] | None = None
_shared_lock = threading.Lock()


def shared_wheel() -> KeepaliveWheel:
    """The process's wheel, created on first use in each process (a forked Locust worker makes its own)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), KeepaliveWheel())
        return _shared[1]
