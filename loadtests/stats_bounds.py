"""Keep Locust's own statistics bounded however long the test runs.

Two of Locust's structures grow with run time, not with load, on the master (or the one local
runner): every ``StatsEntry`` keeps a request count and a failure count *per second of the run*
(``num_reqs_per_sec``, ``num_fail_per_sec``; only the last 12 s are ever read, for the current
RPS), and ``RequestStats.history`` gains one row every 5 s for the charts of its HTML report. Over
a 2 h soak that is about 3 MB, over a day some 35 MB, never given back.

:class:`StatsBounds` trims both every ``PERIOD_S`` seconds while the test runs: per-second counts
older than ``PER_SECOND_KEEP_S`` are dropped, and once the history passes ``HISTORY_MAX`` rows its
older half is thinned to every other row, so Locust's report still spans the whole run with
coarser points at the start. Workers need none of this: Locust resets their stats after each
report to the master.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["HISTORY_MAX", "PER_SECOND_KEEP_S", "PERIOD_S", "StatsBounds", "trim_stats"]

HISTORY_MAX = 720  # rows of RequestStats.history: one hour at Locust's 5 s interval
PER_SECOND_KEEP_S = 60  # Locust's current RPS reads the last 12 s
PERIOD_S = 30.0


def trim_stats(stats: Any, now: float | None = None) -> int:
    """Trim a Locust ``RequestStats`` in place; returns how many per-second keys and history rows went."""
    cutoff = int(time.time() if now is None else now) - PER_SECOND_KEEP_S
    removed = 0
    for entry in (*stats.entries.values(), stats.total):
        for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [second for second in per_second if second < cutoff]
            for second in old:
                del per_second[second]
            removed += len(old)
    history = stats.history
    recent = HISTORY_MAX // 2
    while len(history) > HISTORY_MAX:  # each pass halves the older part: at most log2(len) passes
        head, tail = history[:-recent], history[-recent:]
        thinned = head[::2]
        removed += len(head) - len(thinned)
        history[:] = thinned + tail
    return removed


class StatsBounds:
    """Trims ``stats`` every ``period_s`` until :meth:`stop` (a greenlet once gevent patched threading)."""

    def __init__(self, stats: Any, period_s: float = PERIOD_S) -> None:
        self.stats = stats
        self.period_s = period_s
        self.trimmed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="locust-stats-bounds", daemon=True)

    def start(self) -> StatsBounds:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.trimmed += trim_stats(self.stats)
            except Exception:  # noqa: BLE001 - Locust's internals moved: never break the test for this
                return
