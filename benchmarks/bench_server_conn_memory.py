"""Reference server RSS per open WebSocket connection: idle, after one turn each, and after all close.

Usage: ``python benchmarks/bench_server_conn_memory.py [--connections 500,1000]``

Starts ``agentsoak serve`` on a free 127.0.0.1 port, opens the connections (websocket-client), and
prints the RSS the server added over its idle baseline: per idle connection, after one stored turn on
each, and after every connection has closed (what the allocator keeps). One run, figures and KB per
connection; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import websocket

REPO = Path(__file__).resolve().parents[1]
TURN = {"type": "response.create", "model": "m", "store": True,
        "input": [{"type": "message", "role": "user", "content": "hi"}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    args = ap.parse_args(argv)
    steps = sorted(int(n) for n in args.connections.split(","))
    port = _free_port()
    srv = subprocess.Popen([sys.executable, "-m", "loadtests.cli", "serve", "--port", str(port),
                            "--log-level", "WARNING"], cwd=REPO, stdout=subprocess.DEVNULL)
    socks: list[websocket.WebSocket] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or srv.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.1)
        p = psutil.Process(srv.pid)
        base = _settled_rss(p)
        print(f"server idle: {base / 1e6:.1f} MB")
        url = f"ws://127.0.0.1:{port}/v1/responses"
        for n in steps:
            while len(socks) < n:
                socks.append(websocket.create_connection(url, timeout=10, header=["Authorization: Bearer x"]))
            added = _settled_rss(p) - base
            print(f"{n:>6,} idle connections: +{added / 1e6:.1f} MB, {added / n / 1e3:.1f} KB/connection")
        for s in socks:
            s.send(json.dumps(TURN))
        for s in socks:
            while json.loads(s.recv()).get("type") not in ("response.completed", "response.failed", "error"):
                pass
        added = _settled_rss(p) - base
        print(f"{len(socks):>6,} after one turn each: +{added / 1e6:.1f} MB, {added / len(socks) / 1e3:.1f} KB/connection")
        for s in socks:
            s.close()
        socks.clear()
        added = _settled_rss(p) - base
        print(f"after all closed: +{added / 1e6:.1f} MB kept by the server process")
    finally:
        for s in socks:
            s.close()
        srv.terminate()
        srv.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
