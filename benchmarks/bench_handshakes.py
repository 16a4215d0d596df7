"""The box's WebSocket handshake capacity: new connections per second through the embedded proxy to the
reference server, the figure a reconnect storm's limits are derived from (``profiles/scale-10k.yaml``).

Usage: ``python benchmarks/bench_handshakes.py [--connections 3000] [--concurrency 200] [--proxy-workers 2] [--runs 3]``

The reference server (``loadtests.run.ReferenceServer``) and the embedded proxy
(``FaultClient.start_embedded``, ``--proxy-workers`` workers) run as in a run; one client process opens
``--connections`` WebSocket connections (aiohttp, ``--concurrency`` handshakes in flight, each one a TCP
connect through the proxy, the HTTP upgrade and the 101), holds them, then closes them all. Handshakes
per second over the wall time, direct and through the proxy; median of ``--runs``. Prints a ``BENCH``
JSON line for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faults.client import FaultClient  # noqa: E402
from loadtests.profile.model import RESPONSES_PATH  # noqa: E402
from loadtests.run import ReferenceServer  # noqa: E402


async def _storm(url: str, n: int, concurrency: int) -> float:
    """Open ``n`` WebSockets to ``url`` with ``concurrency`` in flight; handshakes per second."""
    gate = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        held: list[aiohttp.ClientWebSocketResponse] = []

        async def one() -> None:
            async with gate:
                held.append(await session.ws_connect(url, autoping=False, timeout=aiohttp.ClientWSTimeout(ws_close=1)))

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        took = time.perf_counter() - start
        await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    return n / took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--proxy-workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    server = ReferenceServer(["--log-level", "WARNING", "--seed", "1"])
    proxy = FaultClient.start_embedded(workers=args.proxy_workers)
    try:
        listen = proxy.create_proxy("agents", f"127.0.0.1:{server.port}")["listen"]
        via = f"ws://{listen}{RESPONSES_PATH}"
        direct, proxied = [], []
        for _ in range(args.runs):
            direct.append(asyncio.run(_storm(server.url, args.connections, args.concurrency)))
            proxied.append(asyncio.run(_storm(via, args.connections, args.concurrency)))
    finally:
        proxy.close()
        server.stop()
    d, p = statistics.median(direct), statistics.median(proxied)
    print(f"handshakes/s, {args.connections} connections, {args.concurrency} in flight: direct {d:,.0f} "
          f"(runs {', '.join(f'{x:,.0f}' for x in direct)}); through the proxy ({args.proxy_workers} workers) "
          f"{p:,.0f} (runs {', '.join(f'{x:,.0f}' for x in proxied)}); ratio {p / d:.2f}x")
    print("BENCH " + json.dumps([
        {"metric": f"WebSocket handshakes/s through the embedded proxy ({args.proxy_workers} workers)",
         "value": round(p), "unit": "handshakes/s", "baseline": "direct to the server", "baseline_value": round(d),
         "ratio": round(p / d, 2), "target": "-"},
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
