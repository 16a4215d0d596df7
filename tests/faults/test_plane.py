"""Sharding: one logical proxy served by several worker processes behind the one API."""

from __future__ import annotations

import asyncio
import select
import time

import pytest

from faults.client import FaultClient
from faults.errors import ToxiproxyError
from faults.server import start_in_thread
from tests.timing import MS, wait_until

from .conftest import connect, read_until_closed, roundtrip

pytestmark = pytest.mark.timeout(90)


def test_two_workers_share_a_proxy_and_its_toxics(echo):
    srv = start_in_thread(seed=5, workers=2)
    try:
        api = FaultClient(srv.url)
        p = api.create_proxy("sh", echo)
        socks = [connect(p) for _ in range(40)]
        for s in socks:
            assert roundtrip(s, b"x") < 1000 * MS
        per_worker = [asyncio.run_coroutine_threadsafe(w.call("stats"), srv.loop).result(5)
                      for w in srv.collection.plane.workers]
        counts = [s["sh"]["active"] for s in per_worker]
        assert sum(counts) == 40 and all(c > 0 for c in counts), counts  # the kernel spread them

        api.add_toxic("sh", "latency", attributes={"latency": 100})  # applies on every worker
        assert all(roundtrip(s, b"y") >= 0.095 for s in socks)
        api.remove_toxic("sh", "latency_downstream")

        api.set_enabled("sh", False)  # every worker closes its listener and its connections
        assert all(read_until_closed(s) == (b"", "eof") for s in socks)
        with pytest.raises(ConnectionRefusedError):
            connect(p)
        assert api.set_enabled("sh", True)["listen"] == p["listen"]
        with connect(p) as s:
            assert roundtrip(s, b"z") < 1000 * MS
        for s in socks:
            s.close()
        with pytest.raises(ToxiproxyError, match="address already in use"):  # SO_REUSEPORT would hide it
            api.create_proxy("clash", echo, listen=p["listen"])
    finally:
        srv.stop()
    wait_until(lambda: all(w.proc.poll() is not None for w in srv.collection.plane.workers), 5,
               message="every worker exits with the server")


def _draw_pattern(workers: int, echo: str, n: int = 16) -> tuple[tuple[bool, ...], list[int]]:
    """n connections made one after another, then a toxicity-0.5 latency: which were slowed."""
    srv = start_in_thread(seed=11, workers=workers)
    try:
        api = FaultClient(srv.url)
        p = api.create_proxy("draws", echo)
        socks = []
        for _ in range(n):  # in order: each is accepted (and numbered) before the next connects
            socks.append(connect(p))
            roundtrip(socks[-1], b".")
        api.add_toxic("draws", "latency", toxicity=0.5, attributes={"latency": 800})
        for s in socks:
            s.sendall(b"?")
        time.sleep(0.4)  # half the latency: unslowed replies are back, slowed ones are not
        ready, _, _ = select.select(socks, [], [], 0)
        pattern = tuple(s not in ready for s in socks)
        for s in socks:
            s.close()
        if workers == 1:
            spread = [n]
        else:
            stats = [asyncio.run_coroutine_threadsafe(w.call("stats"), srv.loop).result(5)
                     for w in srv.collection.plane.workers]
            spread = [s["draws"]["accepted"] for s in stats]
        return pattern, spread
    finally:
        srv.stop()


def test_toxicity_draws_follow_the_connection_not_the_worker(echo):
    """Same seed, same connections in the same order: the same ones are slowed with 1 or 2 workers."""
    one, _ = _draw_pattern(1, echo)
    two, spread = _draw_pattern(2, echo)
    assert len(spread) == 2 and all(spread), spread  # both workers accepted some
    assert 2 <= sum(one) <= 14, one  # mixed, so a different numbering would show
    assert two == one
