"""Sharding: one logical proxy served by several worker processes behind the one API."""

from __future__ import annotations

import asyncio

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
