"""Embedded proxy vs a direct connection: added latency and throughput on loopback.

    .venv/bin/python benchmarks/bench_proxy.py [--rounds 5]

* small: 256-byte messages (WebSocket-sized) in ping-pong against an echo server, p50/p99 RTT;
  and pipelined message throughput (a window of 64 in flight);
* many: ``--connections`` (100) connections at once, each in ping-pong (asyncio): round trips per
  second over all of them, and their p50 RTT;
* bulk: 64 MiB one way into a sink (length-prefixed, since the proxy does not keep half-close).

The proxy is the embedded server in its own process (``FaultClient.start_embedded``), no toxics; where a
real ``toxiproxy-server`` is on PATH (and ``TOXIPROXY_URL`` is not set) it is measured beside it
(``FaultClient.start``). Prints a ``BENCH`` JSON line for ``benchmarks/run_all.py``.
Each figure is the median over ``--rounds`` runs; ratios are proxy / direct. The machine is noisy
(2 cores shared by client, proxy and servers), so read the ratios, not the absolute values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faults.client import FaultClient  # noqa: E402
from reports.quantile import nearest_rank  # noqa: E402

SMALL = 256
BULK = 64 << 20


async def _serve(q: Any) -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
        w.close()

    async def sink(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        (n,) = struct.unpack("!Q", await r.readexactly(8))
        while n > 0:
            n -= len(await r.read(min(n, 1 << 20)))
        w.write(b"k")
        await w.drain()
        w.close()

    e = await asyncio.start_server(echo, "127.0.0.1", 0)
    s = await asyncio.start_server(sink, "127.0.0.1", 0)
    q.put((e.sockets[0].getsockname()[1], s.sockets[0].getsockname()[1]))
    await asyncio.Event().wait()


def _servers(q: Any) -> None:
    asyncio.run(_serve(q))


def _conn(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv(s: socket.socket, n: int) -> None:
    while n:
        n -= len(s.recv(min(n, 1 << 20)))


def pingpong(port: int, count: int) -> list[float]:
    msg = b"m" * SMALL
    with _conn(port) as s:
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            s.sendall(msg)
            _recv(s, SMALL)
            out.append(time.perf_counter() - t0)
    return out


def pipelined(port: int, count: int, window: int = 64) -> float:
    """Messages per second with ``window`` messages in flight."""
    msg = b"m" * SMALL
    with _conn(port) as s:
        t0 = time.perf_counter()
        sent = done = 0
        while done < count:
            while sent < count and sent - done < window:
                s.sendall(msg)
                sent += 1
            got = len(s.recv(1 << 20))
            done += got // SMALL
            rest = got % SMALL
            if rest:
                _recv(s, SMALL - rest)
                done += 1
        return count / (time.perf_counter() - t0)


def bulk(port: int) -> float:
    """Bytes per second, one way."""
    block = b"b" * (1 << 20)
    with _conn(port) as s:
        t0 = time.perf_counter()
        s.sendall(struct.pack("!Q", BULK))
        for _ in range(BULK // len(block)):
            s.sendall(block)
        s.recv(1)
        return BULK / (time.perf_counter() - t0)


async def _many(port: int, conns: int, rounds: int) -> tuple[float, float]:
    """``conns`` connections at once, ``rounds`` ping-pongs each: round trips per second, p50 RTT (s)."""
    msg = b"m" * SMALL
    rtts: list[float] = []

    async def one() -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            t0 = time.perf_counter()
            w.write(msg)
            await r.readexactly(SMALL)
            rtts.append(time.perf_counter() - t0)
        w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    return conns * rounds / (time.perf_counter() - t0), nearest_rank(sorted(rtts), 0.5)


def many(port: int, conns: int, rounds: int) -> tuple[float, float]:
    return asyncio.run(_many(port, conns, rounds))


def _proxy_port(client: FaultClient, name: str, upstream_port: int) -> int:
    """Create a proxy to a loopback upstream; the port it listens on."""
    return int(client.create_proxy(name, f"127.0.0.1:{upstream_port}")["listen"].rsplit(":", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=100, help="connections at once for the many figure")
    ap.add_argument("--many-rounds", type=int, default=100, help="ping-pongs per connection there")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    srv = ctx.Process(target=_servers, args=(q,), daemon=True)
    srv.start()
    echo_port, sink_port = q.get(timeout=30)
    client = FaultClient.start_embedded()
    real = FaultClient.start() if shutil.which("toxiproxy-server") and not os.environ.get("TOXIPROXY_URL") else None
    try:
        routes = {"direct": (echo_port, sink_port),
                  "proxy": (_proxy_port(client, "echo", echo_port), _proxy_port(client, "sink", sink_port))}
        if real is not None:
            routes["toxiproxy"] = (_proxy_port(real, "echo", echo_port), _proxy_port(real, "sink", sink_port))
        res: dict[str, dict[str, list[float]]] = {label: {} for label in routes}
        for _ in range(args.rounds):
            for label, (ep, sp) in routes.items():
                r = res[label]
                rtt = sorted(pingpong(ep, args.pings))
                r.setdefault("p50", []).append(nearest_rank(rtt, 0.50) * 1e6)
                r.setdefault("p99", []).append(nearest_rank(rtt, 0.99) * 1e6)
                r.setdefault("msgs", []).append(pipelined(ep, args.messages))
                r.setdefault("bulk", []).append(bulk(sp) / 1e6)
                rate, p50 = many(ep, args.connections, args.many_rounds)
                r.setdefault("many", []).append(rate)
                r.setdefault("many_p50", []).append(p50 * 1e6)
        med = {lab: {k: statistics.median(v) for k, v in r.items()} for lab, r in res.items()}
        d, p = med["direct"], med["proxy"]
        t = med.get("toxiproxy")
        print(f"embedded proxy vs direct{' and toxiproxy-server' if t else ''}, loopback, medians of "
              f"{args.rounds} rounds ({SMALL} B messages, {BULK >> 20} MiB bulk)")
        print(f"{'metric':<34}{'direct':>12}{'proxy':>12}{'ratio':>8}" + (f"{'toxiproxy':>12}{'ratio':>8}" if t else ""))
        rows = [("ping-pong RTT p50 (µs)", "p50"), ("ping-pong RTT p99 (µs)", "p99"),
                ("pipelined 256 B msgs/s (window 64)", "msgs"), ("bulk one-way (MB/s)", "bulk"),
                (f"round trips/s, {args.connections} conns", "many"), (f"RTT p50 at {args.connections} conns (µs)", "many_p50")]
        for title, k in rows:
            print(f"{title:<34}{d[k]:>12.0f}{p[k]:>12.0f}{p[k] / d[k]:>8.2f}"
                  + (f"{t[k]:>12.0f}{t[k] / d[k]:>8.2f}" if t else ""))
        print(f"added latency per round trip: p50 {p['p50'] - d['p50']:+.0f} µs, p99 {p['p99'] - d['p99']:+.0f} µs"
              + (f"; toxiproxy-server p50 {t['p50'] - d['p50']:+.0f} µs" if t else "; no toxiproxy-server on PATH"))
        bench = [
            {"metric": "embedded proxy: added RTT p50 (256 B ping-pong)", "value": round(p["p50"] - d["p50"]),
             "unit": "µs", "baseline": "direct p50", "baseline_value": round(d["p50"]),
             "ratio": round(p["p50"] / d["p50"], 2), "target": "-"},
            {"metric": "embedded proxy: pipelined 256 B msgs/s (1 connection, window 64)", "value": round(p["msgs"]),
             "unit": "msgs/s", "baseline": "direct", "baseline_value": round(d["msgs"]),
             "ratio": round(p["msgs"] / d["msgs"], 2), "target": "-"},
            {"metric": f"embedded proxy: round trips/s at {args.connections} connections", "value": round(p["many"]),
             "unit": "round trips/s", "baseline": "direct", "baseline_value": round(d["many"]),
             "ratio": round(p["many"] / d["many"], 2), "target": "-"},
        ]
        if t:
            bench.append({"metric": "toxiproxy-server: added RTT p50", "value": round(t["p50"] - d["p50"]),
                          "unit": "µs", "baseline": "embedded proxy added p50",
                          "baseline_value": round(p["p50"] - d["p50"]),
                          "ratio": round((t["p50"] - d["p50"]) / max(p["p50"] - d["p50"], 1e-9), 2), "target": "-"})
            bench.append({"metric": f"toxiproxy-server: round trips/s at {args.connections} connections",
                          "value": round(t["many"]), "unit": "round trips/s", "baseline": "embedded proxy",
                          "baseline_value": round(p["many"]), "ratio": round(t["many"] / p["many"], 2), "target": "-"})
        else:
            bench.append({"metric": "toxiproxy-server", "value": None, "unit": "-", "baseline": "not on PATH",
                          "baseline_value": None, "ratio": None, "target": "-"})
        print("BENCH " + json.dumps(bench))
    finally:
        client.close()
        if real is not None:
            real.close()
        srv.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
