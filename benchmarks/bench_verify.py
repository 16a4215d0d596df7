"""Benchmark: a 1,000,000-event ledger (~2,000 agents, 600 s, 3 faults), compressed vs plain: size and verify.

Run: ``.venv/bin/python benchmarks/bench_verify.py [--events N] [--keep DIR]``. The ledger is written
through the real ``LedgerWriter`` twice from one time-ordered stream of typed events (4 Locust
processes and an orchestrator; each writer flushed every 0.5 s of simulated time, as in a run): once
as ``.jsonl.zst`` (what a run writes), once as plain ``.jsonl`` (older runs). Values carry a real
run's noise: random digests and response ids, full-precision times. Then, per format, three fresh
processes each read the ledger once (``iter_ledger``: decode only) and summarize+verify it once;
a fourth measures Python allocations under tracemalloc (reading alone, and verifying). It prints bytes per event, the median times
of three, peak RSS and allocations, and the plain/zstd ratios. Target: at most 100 B/event; verify
well under 10 s with memory bounded by agents and turns, not by the file.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.ledger import LedgerWriter, iter_ledger, ledger_files, ledger_path  # noqa: E402
from reports.ledger import schema as ev  # noqa: E402
from reports.summary import summarize  # noqa: E402
from reports.verify import Thresholds, verify  # noqa: E402

T0 = 50_000.123456789  # mono of the test start
WALL = 1_796_156_824.0 - T0
DURATION = 600.0
PROCS = 4
FORMATS = (("zstd", ".jsonl.zst"), ("plain", ".jsonl"))


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _agent(i: int, turns: int, faults: list[tuple[str, float, float]], seed: int) -> Iterator[tuple[float, ev.Event]]:
    """One agent's events in time order: connect, ``turns`` turns, a reconnect per fault it is hit by, stop."""
    rng = random.Random(seed * 100_003 + i)
    pid = 100 + i % PROCS
    a = f"a{pid}-{i}"

    def at(mono: float) -> dict[str, float | int]:
        return {"mono": T0 + mono, "t": WALL + T0 + mono + rng.random() * 1e-6, "pid": pid}

    c = 1
    conn = f"{a}/c{c}"
    yield 0.0, ev.AgentStart(agent=a, index=i + 1, **at(0.0))
    yield 0.01, ev.ConnectAttempt(agent=a, conn=conn, attempt=1, reason="initial", **at(0.01))
    yield 0.05, ev.ConnectOk(agent=a, conn=conn, attempt=1, reason="initial", duration_ms=rng.uniform(1, 40),
                             **at(0.05))
    hit = [rng.random() < 0.5 for _ in faults]
    step = (DURATION - 5) / turns
    t = rng.random()
    last: str | None = None
    pending: float | None = None
    for k in range(turns):
        for (_fid, start, length), h in zip(faults, hit, strict=True):
            if h and t <= start < t + step:
                d = start + rng.random() * 0.5
                yield d, ev.Disconnect(agent=a, conn=conn, code=1006, closed_by="network", detected="eof",
                                       recoverable=True, in_flight=None, silent_ms=rng.uniform(0, 5), **at(d))
                c += 1
                conn = f"{a}/c{c}"
                first = d + 0.5 * rng.uniform(0.75, 1.0)
                yield first, ev.ConnectAttempt(agent=a, conn=conn, attempt=1, reason="reconnect", **at(first))
                ok = start + length + rng.uniform(0.1, 2.0)
                yield ok, ev.ConnectOk(agent=a, conn=conn, attempt=1, reason="reconnect",
                                       duration_ms=rng.uniform(1, 40), **at(ok))
                pending, t = d, max(t, ok + 0.05)
        tid = f"{a}/s1/t{k}"
        digest = _hex(rng, 128)
        yield t, ev.TurnStart(agent=a, conn=conn, turn=tid, session=1, index=k, attempt=1, input_mode="incremental",
                              previous_response_id=last, input_items=2 * k + 1, input_bytes=rng.randrange(100, 9000),
                              client_digest=digest, **at(t))
        dur = rng.lognormvariate(6, 0.3)
        rid = f"resp_{_hex(rng, 64)}"
        end = t + dur / 1000
        yield end, ev.TurnEnd(agent=a, conn=conn, turn=tid, session=1, index=k, attempt=1, outcome="completed",
                              response_id=rid, error_code=None, ttft_ms=dur * rng.uniform(0.2, 0.3), duration_ms=dur,
                              output_tokens=rng.randrange(5, 80), input_tokens=rng.randrange(90, 2000),
                              cached_tokens=rng.randrange(0, 1500), gap_p50_ms=rng.uniform(0.9, 6),
                              gap_p99_ms=rng.uniform(6, 30), tokens_per_s=rng.uniform(60, 120), client_digest=digest,
                              server_digest=digest, cache="store" if pending is not None else "hit", **at(end))
        if pending is not None:
            yield end, ev.Recovery(agent=a, conn=conn, turn=tid, mode="store_hydrate", disconnect_mono=T0 + pending,
                                   reconnect_ms=rng.uniform(500, 3000), attempts=1, **at(end))
            pending = None
        last = rid
        t += step
    yield DURATION, ev.Disconnect(agent=a, conn=conn, code=1000, closed_by="client", detected="close_frame",
                                  recoverable=False, in_flight=None, silent_ms=1.0, **at(DURATION))
    yield DURATION + 0.01, ev.AgentStop(agent=a, **at(DURATION + 0.01))


def generate(run_dirs: list[Path], suffixes: list[str], events: int, agents: int = 2000, seed: int = 1) -> int:
    """Write one ledger of about ``events`` events into each run dir, in each suffix's format; the exact count."""
    faults = [(f"drop-half#{k}", 120.0 + 150.0 * k, 10.0) for k in range(3)]
    turns = max(1, int((events / agents - 6 - 1.5 * 4) / 2) + 1)  # 2 events a turn, ~5 a reconnect
    orch = [LedgerWriter(ledger_path(d / "ledger", "orchestrator", 1).with_name(f"orchestrator-1{s}"),
                         flush_interval=3600) for d, s in zip(run_dirs, suffixes, strict=True)]
    procs = {100 + p: [LedgerWriter((d / "ledger" / f"locust-{100 + p}{s}"), flush_interval=3600)
                       for d, s in zip(run_dirs, suffixes, strict=True)] for p in range(PROCS)}
    run = [ev.RunStart(run_id="bench", profile="bench", seed=seed, target="embedded", digests=True, proxy="embedded",
                       users=agents, duration_s=DURATION, t=WALL + T0 - 1, mono=T0 - 1, pid=1),
           ev.TestStart(users=agents, t=WALL + T0, mono=T0, pid=1)]
    for fid, start, length in faults:
        run += [ev.FaultApply(fault=fid, type="down", share=0.5, start_s=start, duration_s=length, attributes={},
                              t=WALL + T0 + start, mono=T0 + start, pid=1),
                ev.FaultRemove(fault=fid, type="down", t=WALL + T0 + start + length, mono=T0 + start + length, pid=1)]
    run += [ev.TestStop(t=WALL + T0 + DURATION, mono=T0 + DURATION, pid=1),
            ev.RunStop(reason="completed", t=WALL + T0 + DURATION + 1, mono=T0 + DURATION + 1, pid=1)]
    for e in run:
        for w in orch:
            w(e)
    n = len(run)
    next_flush = 0.5
    stream = heapq.merge(*(_agent(i, turns, faults, seed) for i in range(agents)), key=lambda x: x[0])
    for mono, e in stream:
        if mono >= next_flush:  # every writer's background flush, on simulated time
            for ws in procs.values():
                for w in ws:
                    w.flush()
            next_flush = mono + 0.5
        for w in procs[e.pid]:
            w(e)
        n += 1
    for w in [*orch, *(w for ws in procs.values() for w in ws)]:
        w.close()
    return n


def measure(run_dir: Path, traced: bool) -> dict[str, object]:
    """In this (fresh) process: one read-only pass, then one summarize+verify pass."""
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    count = sum(1 for _ in iter_ledger(run_dir))
    read_s = time.perf_counter() - start
    read_peak = tracemalloc.get_traced_memory()[1] / 1e6 if traced else 0.0
    if traced:
        tracemalloc.reset_peak()
    start = time.perf_counter()
    checks = verify(summarize(iter_ledger(run_dir)), Thresholds())
    verify_s = time.perf_counter() - start
    out: dict[str, object] = {"events": count, "read_s": read_s, "verify_s": verify_s,
                              "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                              "checks": [[c.name, c.verdict] for c in checks]}
    if traced:
        out["py_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        out["read_peak_mb"] = read_peak
        tracemalloc.stop()
    return out


def _child(run_dir: Path, traced: bool = False) -> dict:
    argv = [sys.executable, __file__, "--measure", str(run_dir), *(["--traced"] if traced else [])]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the ledgers under this folder and keep them")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a child: measure one run dir
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.traced)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        dirs = [base / f"run-{name}" for name, _ in FORMATS]
        start = time.perf_counter()
        n = generate(dirs, [s for _, s in FORMATS], args.events)
        print(f"generated {n:,} events into both formats in {time.perf_counter() - start:.1f} s")
        runs: dict[str, list[dict]] = {name: [] for name, _ in FORMATS}
        for _ in range(3):  # interleaved, so a busy moment of the host hits both formats
            for (name, _), d in zip(FORMATS, dirs, strict=True):
                runs[name].append(_child(d))
        traced = {name: _child(d, traced=True) for (name, _), d in zip(FORMATS, dirs, strict=True)}
        rows = {}
        for (name, _), d in zip(FORMATS, dirs, strict=True):
            size = sum(p.stat().st_size for p in ledger_files(d))
            assert all(r["events"] == n for r in runs[name]), f"{name}: read {runs[name][0]['events']} of {n}"
            rows[name] = {"size": size, "bpe": size / n,
                          "verify": statistics.median(r["verify_s"] for r in runs[name]),
                          "read": statistics.median(r["read_s"] for r in runs[name]),
                          "rss": statistics.median(r["rss_mb"] for r in runs[name]),
                          "py": traced[name]["py_peak_mb"], "read_py": traced[name]["read_peak_mb"],
                          "all": [r["verify_s"] for r in runs[name]]}
        same = runs["zstd"][0]["checks"] == runs["plain"][0]["checks"]
    z, p = rows["zstd"], rows["plain"]
    print(f"\n{'format':<18} {'on disk':>9} {'B/event':>8} {'verify s':>9} {'read s':>7} {'read ev/s':>10} "
          f"{'peak RSS':>9} {'peak py':>8} {'read py':>8}")
    for name, r in rows.items():
        print(f"{name:<18} {r['size'] / 1e6:>7.0f}MB {r['bpe']:>8.1f} {r['verify']:>9.2f} {r['read']:>7.2f} "
              f"{n / r['read']:>10,.0f} {r['rss']:>7.0f}MB {r['py']:>6.0f}MB {r['read_py']:>6.1f}MB")
    print(f"{'plain / zstd':<18} {p['size'] / z['size']:>8.1f}x {p['bpe'] / z['bpe']:>7.1f}x "
          f"{p['verify'] / z['verify']:>8.2f}x {p['read'] / z['read']:>6.2f}x {'':>10} "
          f"{p['rss'] / z['rss']:>8.2f}x {p['py'] / z['py']:>7.2f}x {p['read_py'] / max(z['read_py'], 1e-9):>7.2f}x")
    print(f"\ntimes: medians of 3 fresh processes (verify zstd {', '.join(f'{x:.2f}' for x in z['all'])}; "
          f"plain {', '.join(f'{x:.2f}' for x in p['all'])}); peak py: Python allocations (tracemalloc, a 4th "
          f"process) while verifying, read py: while only reading; "
          f"same check verdicts from both formats: {'yes' if same else 'NO'}")
    print("BENCH " + json.dumps([
        {"metric": f"verify a {n / 1e6:g}M-event ledger (zstd)", "value": round(z["verify"], 2), "unit": "s",
         "baseline": "plain JSONL", "baseline_value": round(p["verify"], 2), "ratio": round(z["verify"] / p["verify"], 2),
         "target": "-"},
        {"metric": "verify peak RSS (zstd)", "value": round(z["rss"]), "unit": "MB", "baseline": "plain JSONL",
         "baseline_value": round(p["rss"]), "ratio": round(z["rss"] / p["rss"], 2), "target": "-"},
        {"metric": "ledger on disk (zstd)", "value": round(z["bpe"], 1), "unit": "B/event", "baseline": "plain JSONL",
         "baseline_value": round(p["bpe"], 1), "ratio": round(z["bpe"] / p["bpe"], 2), "target": "<= 100 B/event"},
    ]))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
