"""Store cost per turn: the in-process LRU against the SQLite store of ``serve --workers N``.

Usage: ``python benchmarks/bench_store.py [--turns 5000] [--runs 7] [--capacity 10000]``

A turn with ``store=true`` puts one new entry (every turn) and, when its chain must hydrate (a new
connection), gets one: "put" times puts alone, "hydrate" a get of a stored id. The store starts
full (``--capacity`` entries), so every put also evicts, as on a long run. Medians of ``--runs``
runs, in microseconds per operation, with the shared/in-process ratio, all from this one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtests.server.shared_store import SharedStore  # noqa: E402
from loadtests.server.store import ContextEntry, ResponseStore  # noqa: E402


def _fill(store, capacity: int) -> None:
    for n in range(capacity):
        store.put(ContextEntry(f"resp_fill{n}", "d" * 32, n))


def _time_puts(store, turns: int, run: int) -> float:
    started = time.perf_counter()
    for n in range(turns):
        store.put(ContextEntry(f"resp_r{run}_{n}", "d" * 32, n))
    return (time.perf_counter() - started) / turns * 1e6


def _time_gets(store, turns: int, run: int) -> float:
    ids = [f"resp_r{run}_{n}" for n in range(turns)]
    started = time.perf_counter()
    for rid in ids:
        assert store.get(rid) is not None
    return (time.perf_counter() - started) / turns * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--capacity", type=int, default=10000)
    args = ap.parse_args()
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=str(shm) if shm.is_dir() else None) as tmp:
        path = Path(tmp) / "store.sqlite"
        SharedStore.create(path)
        stores = {"in-process": ResponseStore(args.capacity), "shared": SharedStore(path, args.capacity)}
        results: dict[str, dict[str, float]] = {}
        for name, store in stores.items():
            _fill(store, args.capacity)
            puts, gets = [], []
            for run in range(args.runs):
                puts.append(_time_puts(store, args.turns, run))
                gets.append(_time_gets(store, args.turns, run))
            results[name] = {"put": statistics.median(puts), "hydrate": statistics.median(gets)}
        print(f"store cost per operation, median of {args.runs} runs of {args.turns} (capacity {args.capacity}, full)")
        print(f"{'':12}{'in-process':>12}{'shared':>12}{'ratio':>8}")
        for op in ("put", "hydrate"):
            mem, shared = results["in-process"][op], results["shared"][op]
            print(f"{op + ' µs':12}{mem:12.2f}{shared:12.2f}{shared / mem:8.1f}x")


if __name__ == "__main__":
    main()
