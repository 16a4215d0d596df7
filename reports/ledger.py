"""The run ledger: versioned JSONL, written as the run goes, read back as a stream.

Every process of a run (the orchestrator, each Locust process, the fault schedule) owns one file
``ledger/<role>-<pid>.jsonl`` inside the run directory. Each line is one event object:

    {"v": 1, "kind": "turn_end", "t": 1767225600.123456, "mono": 81234.567891, "pid": 4242, ...}

``t`` is wall time (Unix seconds), ``mono`` is ``time.monotonic()`` (system-wide on Linux, so
comparable between processes on one machine). The remaining keys depend on ``kind``; the
catalogue lives in ``docs/ledger.md``. Readers ignore keys they do not know, and skip (but count)
lines that do not parse, such as a final line cut short by ``kill -9``.

Durability: lines are buffered and flushed at least once a second by a background thread (a
greenlet under gevent), and on ``close()``. A killed process therefore loses at most its last
second of events, and never corrupts earlier lines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["LEDGER_VERSION", "LedgerWriter", "LedgerReadStats", "iter_ledger", "ledger_files"]

LEDGER_VERSION = 1
FLUSH_INTERVAL_S = 0.5


class LedgerWriter:
    """Append-only JSONL sink for one process. Thread- and greenlet-safe.

    Args:
        path: the file to append to (its parent is created).
        flush_interval: seconds between background flushes (at most 1 s keeps the promise).
    """

    def __init__(self, path: str | os.PathLike[str], *, flush_interval: float = FLUSH_INTERVAL_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab", buffering=1 << 16)  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._interval = flush_interval
        self._flusher = threading.Thread(target=self._flush_loop, name="ledger-flush", daemon=True)
        self._flusher.start()

    def write(self, kind: str, /, **fields: Any) -> None:
        """Append one event of ``kind``; ``t``/``mono`` are stamped now unless given."""
        record: dict[str, Any] = {"v": LEDGER_VERSION, "kind": kind}
        if "t" not in fields:
            record["t"] = time.time()
        if "mono" not in fields:
            record["mono"] = time.monotonic()
        record["pid"] = self._pid
        record.update(fields)
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
        with self._lock:
            if not self._closed:
                self._fh.write(line)

    def __call__(self, kind: str, /, **fields: Any) -> None:
        self.write(kind, **fields)

    def flush(self) -> None:
        """Push buffered lines to the OS (survives a killed process, not a power cut)."""
        with self._lock:
            if not self._closed:
                self._fh.flush()

    def close(self) -> None:
        """Flush and close; later writes are dropped silently."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._fh.flush()
            self._fh.close()

    def _flush_loop(self) -> None:
        while not self._closed:
            time.sleep(self._interval)
            try:
                self.flush()
            except (OSError, ValueError):  # disk full or closed under us: keep running, never crash
                pass

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LedgerReadStats:
    """What a read saw besides events: files, lines, lines it had to skip, and files cut short."""

    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    newer_version_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)
    #: names of the files whose last line has no newline: cut short (``kill -9``), parsed or not
    cut_files: list[str] = field(default_factory=list)


def ledger_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The ledger files of a run directory, in a stable order."""
    return sorted(Path(run_dir, "ledger").glob("*.jsonl"))


def iter_ledger(
    run_dir: str | os.PathLike[str], stats: LedgerReadStats | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every event of a run, file by file (not globally time-sorted), skipping bad lines.

    Memory is bounded by one line. ``stats`` (if given) counts what was skipped, and names the
    files that were cut short, once the stream is read to the end.
    """
    stats = stats if stats is not None else LedgerReadStats()
    for path in ledger_files(run_dir):
        stats.files += 1
        raw = b"\n"  # an empty file is not cut
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                stats.lines += 1
                try:
                    event = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    stats.bad_lines += 1
                    if len(stats.bad_examples) < 5:
                        stats.bad_examples.append(f"{path.name}:{lineno}")
                    continue
                if not isinstance(event, dict) or "kind" not in event:
                    stats.bad_lines += 1
                    continue
                v = event.get("v", 0)
                if v != LEDGER_VERSION and type(v) in (int, float) and v > LEDGER_VERSION:
                    stats.newer_version_lines += 1
                yield event
        if not raw.endswith(b"\n"):
            stats.cut_files.append(path.name)
