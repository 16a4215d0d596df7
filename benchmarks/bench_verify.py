"""Benchmark: summarize + verify a synthetic 1,000,000-event ledger (~2,000 agents, 600 s, 3 faults).

Run: ``.venv/bin/python benchmarks/bench_verify.py [--events N] [--keep DIR]``. Prints the median of
three timed passes and the peak memory (process RSS, and Python allocations under tracemalloc in
a separate, untimed pass). Target: well under 10 s, memory bounded by agents/turns, not events.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.ledger import iter_ledger  # noqa: E402
from reports.summary import summarize  # noqa: E402
from reports.verify import Thresholds, verify  # noqa: E402

T0 = 50_000.0
DUMP = orjson.OPT_APPEND_NEWLINE


def generate(run_dir: Path, events: int, agents: int = 2000, procs: int = 4, seed: int = 1) -> int:
    """Write a realistic ledger of about ``events`` events; returns the exact count."""
    rng = random.Random(seed)
    led = run_dir / "ledger"
    led.mkdir(parents=True)
    duration = 600.0
    faults = [(f"drop-half#{k}", 120.0 + 150.0 * k, 10.0) for k in range(3)]
    per_agent = events / agents
    # each turn is 2 events; a reconnect ~5 (disconnect, attempt, ok, recovery); ~1.5 reconnects per agent
    turns = max(1, int((per_agent - 6 - 1.5 * 4) / 2) + 1)
    step = (duration - 5) / turns
    n = 0
    with open(led / "orchestrator-1.jsonl", "wb") as fh:
        fh.write(orjson.dumps({"v": 1, "kind": "run_start", "t": T0, "mono": T0 - 1, "pid": 1, "run_id": "bench",
                               "profile": "bench", "seed": seed, "target": "embedded", "digests": True,
                               "proxy": "embedded", "users": agents, "duration_s": duration}, option=DUMP))
        fh.write(orjson.dumps({"v": 1, "kind": "test_start", "t": T0, "mono": T0, "pid": 1, "users": agents},
                              option=DUMP))
        fh.write(orjson.dumps({"v": 1, "kind": "test_stop", "t": T0, "mono": T0 + duration, "pid": 1}, option=DUMP))
        fh.write(orjson.dumps({"v": 1, "kind": "run_stop", "t": T0, "mono": T0 + duration + 1, "pid": 1,
                               "reason": "completed"}, option=DUMP))
        for fid, start, length in faults:
            fh.write(orjson.dumps({"v": 1, "kind": "fault_apply", "t": T0, "mono": T0 + start, "pid": 1, "fault": fid,
                                   "type": "down", "share": 0.5, "start_s": start, "duration_s": length,
                                   "attributes": {}}, option=DUMP))
            fh.write(orjson.dumps({"v": 1, "kind": "fault_remove", "t": T0, "mono": T0 + start + length, "pid": 1,
                                   "fault": fid, "type": "down"}, option=DUMP))
        n += 4 + 2 * len(faults)
    files = [open(led / f"locust-{100 + p}.jsonl", "wb") for p in range(procs)]  # noqa: SIM115
    try:
        for i in range(agents):
            pid = 100 + i % procs
            out = files[i % procs]
            buf: list[bytes] = []

            def w(kind: str, mono: float, pid: int = pid, buf: list[bytes] = buf, **kw: object) -> None:
                buf.append(orjson.dumps({"v": 1, "kind": kind, "t": mono + 1e9, "mono": T0 + mono, "pid": pid, **kw},
                                        option=DUMP))

            a = f"a{pid}-{i}"
            c = 1
            conn = f"{a}/c{c}"
            w("agent_start", 0.0, agent=a)
            w("connect_attempt", 0.01, agent=a, conn=conn, attempt=1, reason="initial")
            w("connect_ok", 0.05, agent=a, conn=conn, attempt=1, reason="initial", duration_ms=40.0)
            hit = [rng.random() < 0.5 for _ in faults]
            t = rng.random()
            last = None
            pending: float | None = None
            for k in range(turns):
                for (_fid, start, length), h in zip(faults, hit, strict=True):
                    if h and t <= start < t + step:
                        d = start + rng.random() * 0.5
                        w("disconnect", d, agent=a, conn=conn, code=1006, closed_by="network", detected="eof",
                          recoverable=True, in_flight=None, silent_ms=3.0)
                        c += 1
                        conn = f"{a}/c{c}"
                        first = d + 0.5 * rng.uniform(0.75, 1.0)
                        w("connect_attempt", first, agent=a, conn=conn, attempt=1, reason="reconnect")
                        ok = start + length + rng.uniform(0.1, 2.0)
                        w("connect_ok", ok, agent=a, conn=conn, attempt=1, reason="reconnect", duration_ms=40.0)
                        pending, t = d, max(t, ok + 0.05)
                tid = f"{a}/s1/t{k}"
                dur = rng.lognormvariate(6, 0.3)
                w("turn_start", t, agent=a, conn=conn, turn=tid, session=1, index=k, attempt=1,
                  input_mode="incremental", previous_response_id=last, input_items=k + 1, input_bytes=100 * k,
                  client_digest=f"d{k}")
                rid = f"r-{a}-{k}"
                w("turn_end", t + dur / 1000, agent=a, conn=conn, turn=tid, session=1, index=k, attempt=1,
                  outcome="completed",
                  response_id=rid, error_code=None, ttft_ms=dur / 4, duration_ms=dur, output_tokens=40,
                  input_tokens=300, cached_tokens=200, gap_p50_ms=5.0, gap_p99_ms=20.0, tokens_per_s=90.0,
                  client_digest=f"d{k}", server_digest=f"d{k}", cache="store" if pending else "hit")
                if pending is not None:
                    w("recovery", t + dur / 1000, agent=a, conn=conn, turn=tid, mode="store_hydrate",
                      disconnect_mono=T0 + pending, reconnect_ms=1000.0, attempts=1)
                    pending = None
                last = rid
                t += step
            w("disconnect", duration, agent=a, conn=conn, code=1000, closed_by="client", detected="close_frame",
              recoverable=False, in_flight=None, silent_ms=1.0)
            w("agent_stop", duration + 0.01, agent=a)
            out.write(b"".join(buf))
            n += len(buf)
    finally:
        for f in files:
            f.close()
    return n


def run_once(run_dir: Path) -> tuple[float, int]:
    start = time.perf_counter()
    summary = summarize(iter_ledger(run_dir))
    checks = verify(summary, Thresholds())
    elapsed = time.perf_counter() - start
    return elapsed, sum(1 for c in checks if c.verdict == "fail")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the ledger here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        t = time.perf_counter()
        n = generate(run_dir, args.events)
        size = sum(p.stat().st_size for p in (run_dir / "ledger").glob("*.jsonl"))
        print(f"generated {n:,} events ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        for _ in range(3):
            elapsed, failed = run_once(run_dir)
            times.append(elapsed)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        run_once(run_dir)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"summarize+verify: median {statistics.median(times):.2f} s of 3 ({', '.join(f'{x:.2f}' for x in times)}); "
          f"{n / statistics.median(times):,.0f} events/s; {failed} failed checks")
    print(f"peak RSS {rss_after / 1024:.0f} MB (before verifying {rss_before / 1024:.0f} MB); "
          f"peak Python allocations {peak / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
