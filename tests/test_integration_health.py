"""Component health end to end: a leak made on purpose (the server's ``leak`` fault) fails the RSS
growth check naming ``server``; the same run without it passes. Real processes on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tests.test_integration_run import all_events, cli, the_run_dir, write_profile

pytestmark = pytest.mark.slow

# 12 agents opening a new connection about every second (rotate_after) for 36 s, sampled every second;
# the second half (18 s) is judged. The leak keeps 256 KB per connection: ~3 MB/s, about 10 GB/h.
# The limits are scaled to an 18 s window as the leak is: with a socket opened and closed every 80 ms,
# a few FDs in flight at the edges of the window read as ~1,000 FDs/h, while one leaked FD per
# connection would be ~45,000/h; 10,000/h tells the two apart (the nightly default is 200/h).
BODY = """\
seed: 11
target: {kind: embedded, server: {tokens_per_s: 3000}}
proxy: {kind: embedded, workers: 2}
load: {users: 12, spawn_rate: 12, duration: 36s, health_every: 1s}
agent:
  turns_per_session: 4
  rotate_after: 1s
  think_time: {distribution: constant, value: 0.3s}
faults:%s
checks: {health_min_window_s: 15, health_min_samples: 8, health_rss_slope_mb_per_h: 1000, health_fd_slope_per_h: 10000, recovery_max_s: null}
"""
LEAK = "\n  - {name: leak, kind: leak, at: 0s, bytes: 262144}"


def _run(tmp_path, name: str, faults: str) -> tuple[dict, list[dict]]:
    res = cli("run", str(write_profile(tmp_path, name, BODY % faults)), timeout=150)
    run_dir = the_run_dir(tmp_path)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] in ("PASS", "FAIL"), res.stdout[-3000:] + res.stderr[-3000:]
    return report, all_events(run_dir)


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def test_a_purposeful_leak_fails_the_rss_growth_check_naming_the_server(tmp_path):
    report, events = _run(tmp_path, "it-leak", LEAK)
    samples = [e for e in events if e["kind"] == "health_sample"]
    assert {"server", "locust-master", "proxy", "proxy-worker-0", "proxy-worker-1"} <= {e["component"] for e in samples}
    assert all(e["rss_bytes"] > 0 and e["fds"] > 0 for e in samples)
    rss = _check(report, "health.rss_slope")
    assert rss["verdict"] == "fail", rss
    assert rss["detail"].startswith("server: RSS +"), rss["detail"]
    assert "above the limit 1000 MB/h" in rss["detail"]
    failing = rss["detail"].split("; Theil-Sen")[0]
    assert "locust" not in failing and "proxy" not in failing, rss["detail"]
    assert report["metrics"]["server_rss_slope_mb_per_h"] > 1000


def test_the_same_run_without_the_leak_passes_the_growth_checks(tmp_path):
    report, _ = _run(tmp_path, "it-noleak", "\n  []")
    for name in ("health.rss_slope", "health.fd_slope"):
        c = _check(report, name)
        assert c["verdict"] == "pass", c
    assert report["metrics"]["server_rss_slope_mb_per_h"] < 1000
