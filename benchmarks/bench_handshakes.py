"""The box's WebSocket handshake capacity: new connections per second through the embedded proxy to the
reference server, the figure a reconnect storm's limits are derived from (``profiles/scale-10k.yaml``).

Usage: ``python benchmarks/bench_handshakes.py [--connections 3000] [--concurrency 200] [--proxy-workers 2]
[--runs 3] [--storm 10000] [--storm-processes 2]``

The reference server (``loadtests.run.ReferenceServer``) and the embedded proxy
(``FaultClient.start_embedded``, ``--proxy-workers`` workers) run as in a run; one client process opens
``--connections`` WebSocket connections (aiohttp, ``--concurrency`` handshakes in flight, each one a TCP
connect through the proxy, the HTTP upgrade and the 101), holds them, then closes them all. Handshakes
per second over the wall time, direct and through the proxy; median of ``--runs``.

Then ``--storm N`` (default 10,000; 0 skips it) measures what a reconnect storm meets: N handshakes started at once, through the
proxy, by ``--storm-processes`` gevent processes with websocket-client (the agents' own client and
the run's Locust layout, all on the same box). It prints when the first, the median and the last
handshake finished; N over the last is the box's storm capacity, the figure ``profiles/scale-10k.yaml``
derives its reconnect limits from.

Prints a ``BENCH`` JSON line for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
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


STORM_CLIENT = """
from gevent import monkey; monkey.patch_all()
import json, sys, time
import gevent, websocket
url, n, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
done, failed, held = [], [0], []
def one():
    try:
        held.append(websocket.create_connection(url, timeout=60, skip_utf8_validation=True))
        done.append(time.time() - start)
    except Exception:
        failed[0] += 1
time.sleep(max(0.0, start - time.time()))
gevent.joinall([gevent.spawn(one) for _ in range(n)])
print(json.dumps({"done": done, "failed": failed[0]}))
"""


def storm(url: str, n: int, processes: int) -> tuple[list[float], int]:
    """``n`` websocket-client handshakes begun at once by ``processes`` gevent processes: finish times (s), failures."""
    start = time.time() + 2.0  # every process imported and waiting
    share = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    kids = [subprocess.Popen([sys.executable, "-c", STORM_CLIENT, url, str(k), repr(start)], stdout=subprocess.PIPE,
                             text=True) for k in share]
    done: list[float] = []
    failed = 0
    for kid in kids:
        out, _ = kid.communicate(timeout=300)
        data = json.loads(out)
        done += data["done"]
        failed += data["failed"]
    return sorted(done), failed


def storm_main(args: argparse.Namespace) -> int:
    server = ReferenceServer(["--log-level", "WARNING", "--seed", "1"])
    proxy = FaultClient.start_embedded(workers=args.proxy_workers)
    try:
        listen = proxy.create_proxy("agents", f"127.0.0.1:{server.port}")["listen"]
        runs = [storm(f"ws://{listen}{RESPONSES_PATH}", args.storm, args.storm_processes) for _ in range(args.runs)]
    finally:
        proxy.close()
        server.stop()
    lasts = [d[-1] for d, _ in runs if d]
    for d, failed in runs:
        print(f"storm of {args.storm:,} handshakes ({args.storm_processes} websocket-client processes, proxy "
              f"{args.proxy_workers} workers): first {d[0]:.2f} s, p50 {d[len(d) // 2]:.2f} s, p90 "
              f"{d[int(len(d) * 0.9)]:.2f} s, last {d[-1]:.2f} s; {failed} failed")
    last = statistics.median(lasts)
    h = args.storm / last
    print(f"storm capacity: {h:,.0f} handshakes/s (N over the median last, {last:.2f} s)")
    print("BENCH " + json.dumps([
        {"metric": f"reconnect storm: {args.storm:,} handshakes at once, {args.storm_processes} Locust-like processes",
         "value": round(h), "unit": "handshakes/s", "baseline": "-", "baseline_value": None, "ratio": None,
         "target": "-"},
    ]))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--proxy-workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--storm", type=int, default=10000, help="N handshakes begun at once, after (0: skip)")
    ap.add_argument("--storm-processes", type=int, default=2)
    args = ap.parse_args(argv)
    steady(args)
    return storm_main(args) if args.storm else 0


def steady(args: argparse.Namespace) -> None:
    """Handshakes per second with ``--concurrency`` in flight, direct and through the proxy."""
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


if __name__ == "__main__":
    sys.exit(main())
