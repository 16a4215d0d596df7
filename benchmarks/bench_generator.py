"""Load-generator frames per CPU second: agentsoak's agents in a Locust process vs a raw websocket-client loop.

Usage: ``python benchmarks/bench_generator.py [--users 4] [--seconds 8] [--tokens 2000] [--runs 3]``

The reference server (``loadtests.run.ReferenceServer``: one token per delta, no pacing, pinned to
core 0) streams long turns to one client process (pinned to core 1 when there is one):

- **locust**: ``locust --headless`` running ``CodingAgentUser`` (the real agent: websocket-client,
  the protocol core, digests, the ledger) with ``--users`` users, no think time, ``--tokens``-token turns,
  once with each ``agent.frame_reader``: ``fast`` (the default, ``loadtests/frame_reader.py``) and
  ``websocket-client`` (its ``recv_data_frame``);
- **raw**: a websocket-client loop on one connection (``skip_utf8_validation`` like the agents): send ``response.create``, ``recv()`` every frame
  until the terminal event (only the terminal check looks at a frame).

Both are measured the same way, in steady state after a warm-up: the server's ``events_sent``
(``/admin/stats``: one WebSocket text frame per event) over the client process's CPU seconds, and over
the server's own CPU seconds (the server's events per core, which must stay at least 2x the generator's
so the target is never the bottleneck). Median of ``--runs`` runs each; the ratios are locust / raw.
Prints a ``BENCH`` JSON line for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtests.run import LOCUSTFILE, ReferenceServer  # noqa: E402

SERVER_ARGS = ["--tokens-per-s", "1e9", "--tokens-per-delta", "1", "--ttft-base-ms", "0",
               "--ttft-per-1k-uncached-ms", "0", "--ttft-per-1k-cached-ms", "0", "--log-level", "WARNING",
               "--seed", "1"]
WARMUP_S = 3.0

_RAW = """
import json, sys, time, websocket
url, tokens, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
create = json.dumps({"type": "response.create", "model": "bench", "input": "go", "store": False,
                     "metadata": {"agentsoak_output_tokens": str(tokens), "agentsoak_tool_call": "no"}})
ends = ('{"type":"response.completed"', '{"type":"response.incomplete"', '{"type":"error"')
ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True)  # as the agents do
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    ws.send(create)
    while not ws.recv().startswith(ends):
        pass
ws.close()
"""


def _pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(pid, {core})


def _events_sent(http_url: str) -> int:
    with urllib.request.urlopen(f"{http_url}/admin/stats", timeout=10) as r:
        return int(json.loads(r.read())["events_sent"])


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _measure(server: ReferenceServer, client: subprocess.Popen[bytes], seconds: float) -> tuple[float, float, float]:
    """(client frames per CPU-s, server events per CPU-s, frames per wall-s) over ``seconds`` of steady state."""
    cp, sp = psutil.Process(client.pid), psutil.Process(server.proc.pid)
    _pin(client.pid, 1)
    start = time.monotonic()
    while _events_sent(server.http_url) == 0:  # the client connected and the first turn streams
        if client.poll() is not None or time.monotonic() - start > 60:
            raise RuntimeError(f"the client did not start streaming (exit {client.poll()})")
        time.sleep(0.1)
    time.sleep(WARMUP_S)
    e0, c0, s0, w0 = _events_sent(server.http_url), _cpu(cp), _cpu(sp), time.monotonic()
    time.sleep(seconds)
    e1, c1, s1, w1 = _events_sent(server.http_url), _cpu(cp), _cpu(sp), time.monotonic()
    if client.poll() is not None:
        raise RuntimeError(f"the client ended before the measurement did (exit {client.returncode})")
    frames = e1 - e0
    return frames / max(c1 - c0, 1e-9), frames / max(s1 - s0, 1e-9), frames / (w1 - w0)


def _profile(tmp: Path, users: int, tokens: int, url: str, reader: str) -> Path:
    path = tmp / "bench-generator.yaml"
    path.write_text(
        "name: bench-generator\nseed: 1\n"
        f"target: {{kind: external, url: \"{url}\"}}\nproxy: {{kind: none}}\n"
        f"load: {{users: {users}, spawn_rate: {users}, duration: 60s}}\n"
        "agent:\n  turns_per_session: 100000\n  tool_call_ratio: 0\n"
        "  think_time: {distribution: constant, value: 0s}\n"
        f"  output_tokens: {{min: {tokens}, max: {tokens}}}\n  input_tokens: {{min: 5, max: 5}}\n"
        f"  frame_reader: {reader}\n"
        "faults: []\n")
    return path


def _run(argv: Callable[[str, Path], list[str]], seconds: float) -> tuple[float, float, float]:
    """Start a pinned server and the client ``argv(server_url, tmp_dir)`` beside it; measure; stop both."""
    server = ReferenceServer(SERVER_ARGS)
    _pin(server.proc.pid, 0)
    with tempfile.TemporaryDirectory() as d:
        client = subprocess.Popen(argv(server.url, Path(d)), cwd=REPO, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            return _measure(server, client, seconds)
        finally:
            client.terminate()
            client.wait(30)
            server.stop()


def locust_run(users: int, tokens: int, seconds: float, reader: str = "fast") -> tuple[float, float, float]:
    total = f"{WARMUP_S + seconds + 30:.0f}s"
    return _run(lambda url, tmp: [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url,
        "-u", str(users), "-r", str(users), "-t", total, "--stop-timeout", "1", "--only-summary",
        "--loglevel", "WARNING", "--agentsoak-run-dir", str(tmp / "run"),
        "--agentsoak-profile", str(_profile(tmp, users, tokens, url, reader)), "--seed", "1"], seconds)


def raw_run(tokens: int, seconds: float) -> tuple[float, float, float]:
    return _run(lambda url, _tmp: [sys.executable, "-c", _RAW, url, str(tokens), str(WARMUP_S + seconds + 30)],
                seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run, after the warm-up")
    ap.add_argument("--tokens", type=int, default=2000, help="output tokens (= frames) per turn")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    loc, wsc, raw = [], [], []
    for _ in range(args.runs):  # interleaved, so a noisy minute hits all three alike
        loc.append(locust_run(args.users, args.tokens, args.seconds))
        wsc.append(locust_run(args.users, args.tokens, args.seconds, "websocket-client"))
        raw.append(raw_run(args.tokens, args.seconds))
    lf, rf = statistics.median(r[0] for r in loc), statistics.median(r[0] for r in raw)
    wf = statistics.median(r[0] for r in wsc)
    ls = statistics.median(r[1] for r in loc)
    print(f"locust ({args.users} agents): {lf:,.0f} frames per CPU-s (runs {', '.join(f'{r[0]:,.0f}' for r in loc)}), "
          f"{statistics.median(r[2] for r in loc):,.0f} frames/s wall")
    print(f"locust, frame_reader websocket-client: {wf:,.0f} frames per CPU-s "
          f"(runs {', '.join(f'{r[0]:,.0f}' for r in wsc)})")
    print(f"raw websocket-client loop: {rf:,.0f} frames per CPU-s (runs {', '.join(f'{r[0]:,.0f}' for r in raw)}), "
          f"{statistics.median(r[2] for r in raw):,.0f} frames/s wall")
    print(f"ratio locust / raw: {lf / rf:.2f}x (websocket-client reader {wf / rf:.2f}x); server {ls:,.0f} events per CPU-s while the agents ran "
          f"({ls / lf:.2f}x the generator)")
    print("BENCH " + json.dumps([
        {"metric": "generator frames per CPU-s (Locust agents)", "value": round(lf), "unit": "frames/CPU-s",
         "baseline": "raw websocket-client loop", "baseline_value": round(rf), "ratio": round(lf / rf, 2),
         "target": ">= 0.9x and >= 100,000"},
        {"metric": "generator frames per CPU-s, frame_reader websocket-client", "value": round(wf),
         "unit": "frames/CPU-s", "baseline": "raw websocket-client loop", "baseline_value": round(rf),
         "ratio": round(wf / rf, 2), "target": "-"},
        {"metric": "server events per CPU-s", "value": round(ls), "unit": "events/CPU-s",
         "baseline": "generator frames per CPU-s", "baseline_value": round(lf), "ratio": round(ls / lf, 2),
         "target": ">= 2x the generator"},
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
