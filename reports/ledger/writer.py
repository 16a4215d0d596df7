"""``LedgerWriter``: one process's append-only JSONL file of typed events.

Durability: lines are buffered and flushed at least once a second by a background thread (a
greenlet under gevent), and on ``close()``. A killed process therefore loses at most its last
second of events, and never corrupts earlier lines.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import msgspec

from reports.ledger.schema import Event

__all__ = ["LedgerWriter", "encode", "FLUSH_INTERVAL_S"]

FLUSH_INTERVAL_S = 0.5
_ENCODER = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """One ledger line (with its newline) for ``event``."""
    buf = _ENCODER.encode(event)
    return buf + b"\n"


class LedgerWriter:
    """Append-only JSONL sink for one process. Thread- and greenlet-safe; ``writer(event)`` writes.

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
        self._interval = flush_interval
        self._flusher = threading.Thread(target=self._flush_loop, name="ledger-flush", daemon=True)
        self._flusher.start()

    def write(self, event: Event) -> None:
        """Append one event (its ``t``/``mono`` were stamped when it was built)."""
        line = _ENCODER.encode(event) + b"\n"
        with self._lock:
            if not self._closed:
                self._fh.write(line)

    __call__ = write

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
