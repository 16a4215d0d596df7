"""Real WebSocket traffic (aiohttp echo server, websocket-client) through the proxy under faults."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import websocket
from aiohttp import WSMsgType, web

from tests.timing import MS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ws_echo() -> Iterator[str]:
    """An aiohttp WebSocket echo server on loopback; yields ``host:port``."""
    box: dict = {}
    ready = threading.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = site._server.sockets[0].getsockname()[1]
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(10)
    yield f"127.0.0.1:{box['port']}"
    box["loop"].call_soon_threadsafe(box["loop"].stop)


def _open(proxy: dict) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://{proxy['listen']}/ws", timeout=5)


def test_websocket_under_latency(api, ws_echo):
    p = api.create_proxy("ws", ws_echo)
    ws = _open(p)
    t0 = time.monotonic()
    ws.send("hi")
    assert ws.recv() == "hi"
    base = time.monotonic() - t0
    api.add_toxic("ws", "latency", attributes={"latency": 100})
    took = []
    for i in range(3):
        t0 = time.monotonic()
        ws.send(f"m{i}")
        assert ws.recv() == f"m{i}"
        took.append(time.monotonic() - t0)
    ws.close()
    assert base < 100 * MS and all(0.095 <= t <= 0.1 + 200 * MS for t in took), (base, took)


def test_websocket_reset_peer_is_seen_and_a_reconnect_works(api, ws_echo):
    p = api.create_proxy("ws", ws_echo)
    ws = _open(p)
    ws.send("before")
    assert ws.recv() == "before"
    api.add_toxic("ws", "reset_peer", stream="upstream", attributes={"timeout": 50})
    ws.send("doomed")
    with pytest.raises(ConnectionResetError):  # a real TCP RST, not a clean close
        ws.recv()
    ws.close()
    api.remove_toxic("ws", "reset_peer_upstream")
    ws = _open(p)  # the agent's reconnect
    ws.send("after")
    assert ws.recv() == "after"
    ws.close()
