"""Resident memory of the reference server's in-process response store, full and evicting.

Usage: ``python benchmarks/bench_store_memory.py [--capacities 10000,100000] [--fills 1,2,4] [--runs 3]``

Each measurement runs in a fresh interpreter (this script with ``--child CAPACITY PUTS``): it puts
``fill × capacity`` entries made as the server makes them (ids from its ``IdSource``, digests by
``extend_digest``) and prints the RSS it added. Once the LRU evicts, the figure should stay flat:
growth past ``fill 1`` would be a leak in the store itself. Medians of ``--runs`` runs, bytes per
stored entry, and the ratio to ``fill 1``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _child(capacity: int, puts: int) -> None:
    import psutil

    from loadtests.protocol.builder import IdSource
    from loadtests.protocol.digest import EMPTY_DIGEST, extend_digest
    from loadtests.server.store import ContextEntry, ResponseStore

    p = psutil.Process()
    before = p.memory_info().rss
    ids, store = IdSource(), ResponseStore(capacity)
    for i in range(puts):
        digest = extend_digest(EMPTY_DIGEST, [{"type": "message", "role": "assistant", "content": str(i)}])
        store.put(ContextEntry(ids.new("resp"), digest, i % 5000))
    print(p.memory_info().rss - before, len(store))


def _measure(capacity: int, fill: int) -> tuple[int, int]:
    out = subprocess.run([sys.executable, __file__, "--child", str(capacity), str(capacity * fill)],
                         check=True, capture_output=True, text=True, timeout=600)
    added, kept = out.stdout.split()
    return int(added), int(kept)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacities", default="10000,100000")
    ap.add_argument("--fills", default="1,2,4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=2, type=int, metavar=("CAPACITY", "PUTS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    print(f"{'capacity':>9} {'puts':>9} {'kept':>8} {'RSS added (median)':>19} {'B/entry':>8} {'vs fill 1':>9}")
    for cap in (int(c) for c in args.capacities.split(",")):
        first: float | None = None
        for fill in (int(f) for f in args.fills.split(",")):
            runs = [_measure(cap, fill) for _ in range(max(1, args.runs))]
            added = statistics.median(a for a, _ in runs)
            kept = runs[0][1]
            first = added if first is None else first
            ratio = added / first if first else float("nan")
            print(f"{cap:>9,} {cap * fill:>9,} {kept:>8,} {added / 1e6:>16.1f} MB {added / max(1, kept):>8.0f} {ratio:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
