"""Locust's own statistics stay bounded on a long run (per-second counts, the chart history)."""

from __future__ import annotations

import json
import subprocess
import sys

from loadtests.stats_bounds import HISTORY_MAX, PER_SECOND_KEEP_S

# In a fresh interpreter: ``import locust`` patches the process for gevent (never in the test process).
# Two hours of a real RequestStats: one count per second per entry, one history row every 5 s.
_PROBE = """
import json, time
from locust.stats import RequestStats
from loadtests.stats_bounds import trim_stats
stats = RequestStats()
now = time.time()
for name in ("connect", "turn", "ttft"):
    entry = stats.get(name, "WS")
    for s in range(7200):
        entry.num_reqs_per_sec[int(now) - 7200 + s] = 3
        entry.num_fail_per_sec[int(now) - 7200 + s] = 1
    stats.total.extend(entry)
stats.total.start_time, stats.total.last_request_timestamp = now - 7200, now
rps_before = stats.total.current_rps
stats.history[:] = [{"time": i} for i in range(1440)]
removed = trim_stats(stats, now)
again = trim_stats(stats, now)
print(json.dumps({
    "per_second": max(len(e.num_reqs_per_sec) for e in (*stats.entries.values(), stats.total)),
    "fail_per_second": len(stats.total.num_fail_per_sec),
    "rps": [rps_before, stats.total.current_rps],
    "history": len(stats.history), "first": stats.history[0]["time"], "last": stats.history[-1]["time"],
    "removed": removed, "again": again,
}))
"""


def test_two_hours_of_locust_stats_are_trimmed_to_a_bounded_size():
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["per_second"] <= PER_SECOND_KEEP_S + 1 and out["fail_per_second"] <= PER_SECOND_KEEP_S + 1
    assert out["rps"][0] == out["rps"][1] == 9.0  # the current RPS still reads the same (3 entries x 3)
    assert out["history"] <= HISTORY_MAX  # the chart history still spans the run, thinned at the start
    assert out["first"] == 0 and out["last"] == 1439
    assert out["removed"] > 40_000 and out["again"] == 0
