"""Run every benchmark script in this folder, one after another, then print one table of their figures.

Usage: ``python benchmarks/run_all.py [--only generator,proxy] [--markdown]``

Each ``bench_*.py`` prints its own figures, and scripts that feed the table also print one line
``BENCH [{"metric", "value", "unit", "baseline", "baseline_value", "ratio", "target"}, ...]``: every ratio
is measured in that same run against its baseline (a raw loop, a bare user, a direct connection, the
plain format). The table ends the output, headed by the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

HERE = Path(__file__).resolve().parent
MARK = "BENCH "


def machine() -> str:
    """The machine the figures are from: CPU model, usable cores, memory, Python."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{model}, {cores} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run(script: Path) -> tuple[int, list[dict]]:
    """Run one script, echoing its output; return its exit code and its ``BENCH`` rows."""
    rows: list[dict] = []
    proc = subprocess.Popen([sys.executable, str(script)], cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(MARK):
            rows.extend(json.loads(line[len(MARK):]))
        else:
            print(line, end="", flush=True)
    return proc.wait(), rows


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[dict], fmt: str) -> str:
    return tabulate(
        [[r["metric"], f"{_fmt(r['value'])} {r['unit']}", r["baseline"], _fmt(r["baseline_value"]),
          "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", r["target"]] for r in rows],
        headers=["metric", "value", "baseline (same run)", "baseline value", "ratio", "target"], tablefmt=fmt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated script names without bench_ (e.g. generator,proxy)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (the README's)")
    args = ap.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {f"bench_{n.strip()}.py" for n in args.only.split(",")}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.name in wanted]
    failed, rows = [], []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        code, got = run(script)
        rows.extend(got)
        if code != 0:
            failed.append(script.name)
    print(f"\n=== summary: {machine()}; {started} ===")
    print(table(rows, "github" if args.markdown else "simple"))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
