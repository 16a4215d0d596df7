"""``agentsoak prune``: remove old run directories, keeping the newest and every live one.

The rule, exactly:

1. A *run directory* is a direct subdirectory of ``--runs-dir`` (not a symlink) that holds a
   ``ledger/`` folder or a ``run.json``. Nothing else there is looked at or removed: the history
   database (``history.sqlite``), other files and other folders stay.
2. Runs are ordered by their start: the UTC stamp that opens the name (``20260101T020000Z-smoke``),
   else the directory's modification time; the newest ``--keep N`` are kept, whatever their age.
3. Of the others, a run is removed only when it also started more than ``--older-than`` ago.
4. A *live* run is never removed: one whose ledger file a writer still holds (its lock), or whose
   ``ledger/`` or ``run.json`` changed within the last ``LIVE_WINDOW_S`` (an hour; covers a run that
   just started, or a file system without locks). A run with no ``run.json`` and no write for an hour
   is a crashed one, and goes by rules 2 and 3.

Each removal prints its path and size; the end line gives the bytes freed (the sum of the removed
files' sizes). ``--dry-run`` prints the same and removes nothing. Exit 0, 1 when a removal failed, 2
for bad input.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from calendar import timegm
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.ledger import is_being_written, ledger_files

__all__ = ["LIVE_WINDOW_S", "PruneError", "PrunePlan", "RunDir", "cmd_prune", "execute", "parse_age", "plan",
           "prune_runs", "register_cli"]

LIVE_WINDOW_S = 3600.0
_STAMP = re.compile(r"^(\d{8}T\d{6}Z)")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class PruneError(ValueError):
    """Bad input to prune: a message naming the option or folder."""


@dataclass(frozen=True, slots=True)
class RunDir:
    """One run directory as prune sees it."""

    path: Path
    started: float  # Unix seconds
    last_write: float  # newest mtime of run.json, ledger/ and its files
    live: bool
    size: int  # bytes of its files


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What prune will remove, and why each other run stays (``kept``: run, reason)."""

    remove: tuple[RunDir, ...]
    kept: tuple[tuple[RunDir, str], ...]


def parse_age(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s`` or ``2w``."""
    m = _AGE.match(text)
    if not m:
        raise PruneError(f"--older-than: {text!r} is not an age like 30d, 12h, 90m, 45s or 2w")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _started(path: Path) -> float:
    m = _STAMP.match(path.name)
    if m:
        try:
            return float(timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%SZ")))
        except ValueError:
            pass
    return path.stat().st_mtime


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _inspect(path: Path, now: float) -> RunDir:
    ledgers = ledger_files(path)
    last = max([_mtime(path / "ledger"), _mtime(path / "run.json"), *(_mtime(p) for p in ledgers)])
    live = any(is_being_written(p) for p in ledgers) or now - last < LIVE_WINDOW_S
    return RunDir(path=path, started=_started(path), last_write=last, live=live, size=_size(path))


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and ((path / "ledger").is_dir() or (path / "run.json").is_file())


def plan(runs_dir: str | os.PathLike[str], keep: int, older_than_s: float, *, now: float | None = None) -> PrunePlan:
    """Which run directories of ``runs_dir`` the rule above removes (nothing is removed here).

    Raises:
        PruneError: ``runs_dir`` is not a directory, or ``keep``/``older_than_s`` is negative.
    """
    root = Path(runs_dir)
    if keep < 0:
        raise PruneError(f"--keep: {keep} is negative")
    if older_than_s < 0:
        raise PruneError("--older-than: the age is negative")
    if not root.is_dir():
        raise PruneError(f"{root}: not a directory")
    now = time.time() if now is None else now
    runs = sorted((_inspect(p, now) for p in root.iterdir() if _is_run_dir(p)),
                  key=lambda r: (r.started, r.path.name), reverse=True)
    remove: list[RunDir] = []
    kept: list[tuple[RunDir, str]] = []
    for rank, run in enumerate(runs):
        if rank < keep:
            kept.append((run, f"one of the newest {keep}"))
        elif run.live:
            kept.append((run, "live"))
        elif now - run.started <= older_than_s:
            kept.append((run, "not old enough"))
        else:
            remove.append(run)
    return PrunePlan(remove=tuple(remove), kept=tuple(kept))


def execute(p: PrunePlan, *, dry_run: bool = False, out: Any = None) -> tuple[int, list[str]]:
    """Remove the plan's runs (unless ``dry_run``), printing each; returns (bytes freed, errors)."""
    out = out if out is not None else sys.stdout
    freed, errors = 0, []
    for run in p.remove:
        if not dry_run:
            try:
                shutil.rmtree(run.path)
            except OSError as exc:
                errors.append(f"{run.path}: {exc.strerror or exc}")
                continue
        freed += run.size
        print(f"{'would remove' if dry_run else 'removed'} {run.path} ({_human(run.size)})", file=out)
    return freed, errors


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def register_cli(subparsers: Any) -> None:
    """Add the ``prune`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "prune", help="remove old run directories (never the history, never a live run)",
        description="Remove each run directory that is beyond the newest N AND started longer ago than the "
                    "age; a live run (its ledger still being written) and the history database are never removed.")
    p.add_argument("--runs-dir", default="runs", help="the folder holding the run directories (default: runs)")
    p.add_argument("--keep", type=int, required=True, metavar="N", help="always keep the newest N runs")
    p.add_argument("--older-than", required=True, metavar="AGE", help="remove only runs started longer ago: 30d, 12h")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    p.set_defaults(func=cmd_prune)


def prune_runs(runs_dir: str | os.PathLike[str], keep: int, older_than_s: float, *, dry_run: bool = False) -> int:
    """Prune ``runs_dir`` as ``agentsoak prune`` does, printing each removal, the errors and the end line;
    returns the exit code (0, or 1 when a removal failed). Raises ``PruneError`` for bad input."""
    todo = plan(runs_dir, keep, older_than_s)
    freed, errors = execute(todo, dry_run=dry_run)
    for err in errors:
        print(f"agentsoak: error: could not remove {err}", file=sys.stderr)
    live = sum(1 for _, why in todo.kept if why == "live")
    verb = "would free" if dry_run else "freed"
    print(f"{len(todo.remove) - len(errors)} run(s) {'to remove' if dry_run else 'removed'}, {verb} "
          f"{freed:,} bytes ({_human(freed)}); kept {len(todo.kept)} ({live} live)")
    return 1 if errors else 0


def cmd_prune(args: argparse.Namespace) -> int:
    try:
        return prune_runs(args.runs_dir, args.keep, parse_age(args.older_than), dry_run=args.dry_run)
    except PruneError as exc:
        print(f"agentsoak: error: {exc}", file=sys.stderr)
        return 2
