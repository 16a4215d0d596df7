"""The proxy's listener: its accept queue really is ``BACKLOG`` deep (asyncio would re-listen at 100)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from faults.proxy import BACKLOG, Proxy
from tests.listen_queue import fill, hold_loop, send_q

CONNECTS = 600  # well past asyncio's default 100 and aiohttp's 128, well inside BACKLOG


@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


async def _drain(proxy: Proxy, queued: int) -> None:
    """Let the proxy accept and close what was queued (their upstream dials fail), then stop it."""
    for _ in range(2000):  # bounded; usually a few rounds
        if proxy.accepted >= queued and not proxy.conns:
            break
        await asyncio.sleep(0.01)
    proxy.stop()


def test_the_listener_queues_backlog_connects_while_nothing_accepts(loop):
    proxy = Proxy("p", "127.0.0.1:0", "127.0.0.1:9")
    listen = asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    port = int(listen.rsplit(":", 1)[1])
    with hold_loop(loop):
        seen, socks = fill(port, CONNECTS, timeout=5)
        for s in socks:
            s.close()
    asyncio.run_coroutine_threadsafe(_drain(proxy, seen), loop).result(30)
    assert seen >= CONNECTS, f"the accept queue held {seen} of {CONNECTS} connects"
    assert send_q(port) in (None, BACKLOG)  # ss -ltn: a listener's Send-Q is its backlog
