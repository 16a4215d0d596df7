"""The health sampler on real processes: the reference server (with the purposeful leak), children,
a process that vanishes, and the ledger file it writes."""

from __future__ import annotations

import subprocess
import sys

import psutil

from loadtests.health import HealthSampler
from reports.ledger import iter_ledger, ledger_files
from reports.ledger import schema as ev
from tests.timing import wait_until

from .conftest import connect

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 11}


def _sleeper(*extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *extra])


def test_samples_a_process_and_its_children_by_name_and_skips_one_that_vanished(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
                               "'--shard', str(i)]) for i in (1, 0)]\n"
                               "time.sleep(60)\n"])
    lone = _sleeper()
    try:
        wait_until(lambda: len(psutil.Process(parent.pid).children()) == 2, timeout=20)
        sampler = HealthSampler(tmp_path, every_s=3600)  # sampled by hand here
        sampler.watch("proxy", parent.pid, children="proxy-worker-{n}", first=0)
        sampler.watch("lone", lone.pid)
        first = {e.component: e for e in sampler.sample()}
        assert set(first) == {"proxy", "proxy-worker-0", "proxy-worker-1", "lone"}
        assert all(e.rss_bytes > 0 and e.fds and e.cpu_pct is None for e in first.values())
        assert first["lone"].component_pid == lone.pid and first["lone"].connections == 0
        lone.kill()
        lone.wait(10)
        second = {e.component: e for e in sampler.sample()}  # no error for the one that is gone
        assert set(second) == {"proxy", "proxy-worker-0", "proxy-worker-1"}
        assert all(e.cpu_pct is not None for e in second.values())
    finally:
        for p in psutil.Process(parent.pid).children():
            p.kill()
        parent.kill()
        lone.kill()


def test_the_thread_writes_health_samples_of_the_server_and_stops(tmp_path, reference_server):
    server = reference_server(**FAST)
    sampler = HealthSampler(tmp_path / "ledger", every_s=1.0)
    sampler.watch("server", server.proc.pid)
    sampler.start()
    ws = connect(server)
    try:
        wait_until(lambda: sampler.samples >= 2, timeout=20)
    finally:
        ws.close()
        sampler.stop()
    assert [f.name.split("-")[0] for f in ledger_files(tmp_path)] == ["health"]
    samples = [e for e in iter_ledger(tmp_path) if isinstance(e, ev.HealthSample)]
    assert len(samples) >= 2 and {e.component for e in samples} == {"server"}
    assert max(e.established or 0 for e in samples) >= 1  # the agent's connection
    n = sampler.samples
    sampler.stop()  # idempotent, and nothing is sampled after it
    assert sampler.samples == n


def test_the_leak_fault_grows_the_server_rss_and_outlives_the_connections(reference_server):
    server = reference_server(**FAST)
    proc = psutil.Process(server.proc.pid)
    before = proc.memory_info().rss
    assert server.admin("POST", "/admin/leak", {"bytes": 1_000_000})[1] == {"active": True}
    for _ in range(40):
        connect(server).close()
    assert server.admin("DELETE", "/admin/leak")[1] == {"active": False, "buffers": 40}
    stats = server.admin("GET", "/admin/stats")[1]
    assert stats["faults"]["leak"] == {"bytes": None, "buffers": 40, "leaked_bytes": 40_000_000}
    assert proc.memory_info().rss - before > 30_000_000
    assert server.admin("POST", "/admin/leak", {"bytes": -1})[0] == 400


def test_a_process_that_has_exited_but_is_not_yet_reaped_is_not_sampled_as_zero_bytes(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    live = _sleeper()
    try:
        wait_until(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE, timeout=20)
        sampler = HealthSampler(tmp_path, every_s=3600)
        sampler.watch("gone", zombie.pid)
        sampler.watch("live", live.pid)
        got = {e.component: e for e in sampler.sample()}
        assert set(got) == {"live"}
        assert got["live"].rss_bytes > 0
    finally:
        live.kill()
        live.wait()
        zombie.wait()


def test_the_roots_travel_as_json_to_a_sampler_in_another_process_and_bad_json_is_named(tmp_path):
    """``agentsoak ui`` hands the orchestrator's roots to the Locust master (``--agentsoak-health``)."""
    from loadtests.health import from_json

    lone = _sleeper()
    try:
        here = HealthSampler(tmp_path / "orchestrator", every_s=2.5)
        here.watch("server", lone.pid)
        here.watch("proxy", lone.pid, children="proxy-worker-{n}", first=0)
        there = from_json(tmp_path / "swarm", here.roots_json())
        assert there.every_s == 2.5
        assert {e.component for e in there.sample()} == {"server", "proxy"}
        for bad in ("", "[1]", '{"every_s": 5, "roots": [{"pid": 1}]}'):
            try:
                from_json(tmp_path, bad)
            except ValueError as exc:
                assert "--agentsoak-health: expected the JSON" in str(exc)
            else:
                raise AssertionError(f"{bad!r} was accepted")
    finally:
        lone.kill()
