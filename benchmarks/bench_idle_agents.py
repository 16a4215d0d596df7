"""Load-generator RSS per idle agent: agentsoak's agents vs a bare Locust websocket-client user.

Usage: ``python benchmarks/bench_idle_agents.py [--agents 200,1000] [--runs 3]``

One Locust process (``--headless``) holds N sockets to the reference server
(``loadtests.run.ReferenceServer``), in two forms:

- **agentsoak**: ``CodingAgentUser``: connects, runs one short turn, then thinks for an hour (idle:
  its socket, its conversation, its ledger state and its Locust user);
- **bare**: a Locust ``User`` that opens one ``websocket.create_connection`` in ``on_start`` and waits.

Once the server counts all N connections and the Locust process's RSS stops moving, that RSS is read.
Per idle agent = (RSS at the larger N - RSS at the smaller N) / the difference in N, so Python,
Locust and the imports cancel out. Median of ``--runs``; the ratio is agentsoak / bare. Prints a
``BENCH`` JSON line for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtests.run import LOCUSTFILE, ReferenceServer  # noqa: E402

BARE = """
import websocket
from locust import User, constant, task


class Bare(User):
    wait_time = constant(3600)

    def on_start(self):
        self.ws = websocket.create_connection(self.host, timeout=30)

    @task
    def idle(self):
        pass
"""


def _connections(http_url: str) -> int:
    with urllib.request.urlopen(f"{http_url}/admin/stats", timeout=10) as r:
        return int(json.loads(r.read())["connections"])


def _settled_rss(p: psutil.Process) -> int:
    """The RSS once it has not moved for 2 s (at most 20 s)."""
    last, still, deadline = p.memory_info().rss, 0, time.monotonic() + 20
    while time.monotonic() < deadline and still < 8:
        time.sleep(0.25)
        now = p.memory_info().rss
        still = still + 1 if abs(now - last) < 64 * 1024 else 0
        last = now
    return last


def _profile(tmp: Path, n: int, url: str) -> Path:
    path = tmp / "bench-idle.yaml"
    path.write_text(
        "name: bench-idle\nseed: 1\n"
        f"target: {{kind: external, url: \"{url}\"}}\nproxy: {{kind: none}}\n"
        f"load: {{users: {n}, spawn_rate: 200, duration: 10m}}\n"
        "agent:\n  turns_per_session: 2\n  tool_call_ratio: 0\n"
        "  think_time: {distribution: constant, value: 1h}\n"
        "  output_tokens: {min: 20, max: 20}\n  input_tokens: {min: 20, max: 20}\n"
        "faults: []\n")
    return path


def idle_rss(kind: str, n: int) -> int:
    """The settled RSS of one Locust process holding ``n`` idle users of ``kind``."""
    server = ReferenceServer(["--log-level", "WARNING", "--seed", "1"])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        common = ["--headless", "--host", server.url, "-u", str(n), "-r", "200", "-t", "600s",
                  "--stop-timeout", "1", "--only-summary", "--loglevel", "WARNING"]
        if kind == "agentsoak":
            cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *common,
                   "--agentsoak-run-dir", str(tmp / "run"), "--agentsoak-profile", str(_profile(tmp, n, server.url)),
                   "--seed", "1"]
        else:
            (tmp / "bare.py").write_text(BARE)
            cmd = [sys.executable, "-m", "locust", "-f", str(tmp / "bare.py"), *common]
        client = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while _connections(server.http_url) < n:
                if client.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: {_connections(server.http_url)} of {n} connected")
                time.sleep(0.2)
            return _settled_rss(psutil.Process(client.pid))
        finally:
            client.terminate()
            client.wait(30)
            server.stop()


def per_agent(kind: str, lo: int, hi: int) -> float:
    return (idle_rss(kind, hi) - idle_rss(kind, lo)) / (hi - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", default="200,1000", help="the two counts, LOW,HIGH")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    lo, hi = sorted(int(x) for x in args.agents.split(","))
    ours = [per_agent("agentsoak", lo, hi) for _ in range(args.runs)]
    bare = [per_agent("bare", lo, hi) for _ in range(args.runs)]
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"agentsoak idle agent: {o / 1024:.1f} KB RSS each ({lo} -> {hi}; runs "
          f"{', '.join(f'{x / 1024:.1f}' for x in ours)})")
    print(f"bare Locust websocket-client user: {b / 1024:.1f} KB RSS each (runs {', '.join(f'{x / 1024:.1f}' for x in bare)})")
    print(f"ratio agentsoak / bare: {o / b:.2f}x")
    print("BENCH " + json.dumps([
        {"metric": "generator RSS per idle agent", "value": round(o / 1024, 1), "unit": "KB",
         "baseline": "bare Locust websocket-client user", "baseline_value": round(b / 1024, 1),
         "ratio": round(o / b, 2), "target": "<= 26 KB"},
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
