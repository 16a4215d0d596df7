"""Reference server RSS per open WebSocket connection: idle, after one turn each, and after all close.

Usage: ``python benchmarks/bench_server_conn_memory.py [--connections 500,1000]``

Starts the reference server on a free 127.0.0.1 port (``loadtests.run.ReferenceServer``), opens the
connections (websocket-client), and prints the RSS the server added over its idle baseline: per idle
connection, after one stored turn on each, and after every connection has closed (what the allocator
keeps). One run, figures and KB per
connection; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psutil
import websocket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtests.protocol import TERMINAL_TYPES  # noqa: E402
from loadtests.run import ReferenceServer  # noqa: E402

ENDS = TERMINAL_TYPES | {"error"}
TURN = {"type": "response.create", "model": "m", "store": True,
        "input": [{"type": "message", "role": "user", "content": "hi"}]}


def _settled_rss(p: psutil.Process) -> int:
    """The RSS once it stops moving (at most 5 s)."""
    last, deadline = p.memory_info().rss, time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = p.memory_info().rss
        if now == last:
            break
        last = now
    return last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", default="500,1000")
    ap.add_argument("--cycles", type=int, default=4,  # at least 2 for the leak verdict
                    help="then open, use and close the largest count this many times more: a leak grows each "
                         "cycle, the allocator's high-water mark does not (default %(default)s)")
    args = ap.parse_args(argv)
    steps = sorted(int(n) for n in args.connections.split(","))
    server = ReferenceServer(["--log-level", "WARNING"])
    socks: list[websocket.WebSocket] = []
    try:
        p = psutil.Process(server.proc.pid)
        base = _settled_rss(p)
        print(f"server idle: {base / 1e6:.1f} MB")
        for n in steps:
            while len(socks) < n:
                socks.append(websocket.create_connection(server.url, timeout=10))
            added = _settled_rss(p) - base
            print(f"{n:>6,} idle connections: +{added / 1e6:.1f} MB, {added / n / 1e3:.1f} KB/connection")
        for s in socks:
            s.send(json.dumps(TURN))
        for s in socks:
            while json.loads(s.recv()).get("type") not in ENDS:
                pass
        added = _settled_rss(p) - base
        print(f"{len(socks):>6,} after one turn each: +{added / 1e6:.1f} MB, {added / len(socks) / 1e3:.1f} KB/connection")
        for s in socks:
            s.close()
        socks.clear()
        added = _settled_rss(p) - base
        print(f"after all closed: +{added / 1e6:.1f} MB kept by the server process")
        kept = [added]
        for cycle in range(1, args.cycles + 1):
            socks = [websocket.create_connection(server.url, timeout=10) for _ in range(steps[-1])]
            for s in socks:
                s.send(json.dumps(TURN))
            for s in socks:
                while json.loads(s.recv()).get("type") not in ENDS:
                    pass
            for s in socks:
                s.close()
            socks = []
            kept.append(_settled_rss(p) - base)
            print(f"cycle {cycle}: {steps[-1]:,} opened, one turn each, all closed: +{kept[-1] / 1e6:.1f} MB kept "
                  f"({(kept[-1] - kept[-2]) / steps[-1]:+.0f} B per connection since the cycle before)")
        if args.cycles >= 2:  # the first cycle sets the allocator's high-water mark; a leak grows after it
            per = (kept[-1] - kept[1]) / ((args.cycles - 1) * steps[-1])
            print(f"growth per connection cycled after the first cycle: {per:+.0f} B "
                  f"({'a leak' if per > 2048 else 'flat: the high-water mark, not a leak'})")
    finally:
        for s in socks:
            s.close()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
