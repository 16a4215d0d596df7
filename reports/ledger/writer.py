"""``LedgerWriter``: one process's append-only ledger file of typed events, compressed or plain.

Durability: lines are buffered and written as one segment at least every ``FLUSH_INTERVAL_S`` by a
background thread (a greenlet under gevent), when the buffer passes ``MAX_BUFFER`` bytes, and on
``close()`` (which a normal interpreter exit also calls). A killed process therefore loses at most its last interval of events and never
corrupts what it flushed before (``reports.ledger.segments``: a ``.jsonl.zst`` file ends a zstd block
on each flush). Memory is bounded by ``MAX_BUFFER``, however long the run.

While a writer is open it holds a shared ``flock`` on its file (released by the kernel when the
process dies, also by ``kill -9``), so ``is_being_written`` tells a live run from a finished or
crashed one (``agentsoak prune`` never removes a live run).

Encoding: each event is msgspec JSON with every schema key (so a dropped field still fails the
reader), with times stored to the microsecond: ``t``, ``mono``, ``*_mono`` and ``*_s`` to 6 decimals,
``*_ms`` to 3. Sub-microsecond digits are noise that does not compress; dropping them saves about
a fifth of a compressed ledger.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from pathlib import Path

import msgspec

try:
    import fcntl
except ImportError:  # not on Windows: no locks, prune falls back to the files' age
    fcntl = None  # type: ignore[assignment]

from reports.ledger.schema import EVENT_TYPES, Event
from reports.ledger.segments import COMPRESSED_SUFFIX, encoder_for

__all__ = ["FLUSH_INTERVAL_S", "MAX_BUFFER", "SUFFIX", "LedgerWriter", "encode", "is_being_written", "ledger_path"]

FLUSH_INTERVAL_S = 0.5
MAX_BUFFER = 256 * 1024
#: the suffix a run's processes write (``ledger_path``); LedgerWriter follows the path it is given
SUFFIX = COMPRESSED_SUFFIX
_ENCODER = msgspec.json.Encoder()
_OPEN: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """A process that exits without closing its writers still writes their last lines and frame end."""
    for writer in list(_OPEN):
        try:
            writer.close()
        except (OSError, ValueError):
            pass


def _scale(name: str) -> float | None:
    if name in ("t", "mono") or name.endswith(("_mono", "_s")):
        return 1e6
    return 1e3 if name.endswith("_ms") else None


def _rounding(cls: type) -> tuple[tuple[str, float, float], ...]:
    """(field, scale, bound) of each float field kept to the microsecond; beyond ``bound`` it stays as is."""
    spec = []
    for f in msgspec.structs.fields(cls):
        scale = _scale(f.name)
        if scale is not None and "float" in str(f.type):
            spec.append((f.name, scale, 2.0**52 / scale))  # scaled values stay exact integers
    return tuple(spec)


_ROUNDING: dict[type, tuple[tuple[str, float, float], ...]] = {cls: _rounding(cls) for cls in EVENT_TYPES}


def _to_microseconds(event: Event) -> Event:
    cls = type(event)
    spec = _ROUNDING.get(cls)
    if spec is None:
        spec = _ROUNDING[cls] = _rounding(cls)
    changes = {}
    for name, scale, bound in spec:
        v = getattr(event, name)
        # round(v, 6) is correctly rounded but ~6x slower; this rounds half up and differs from it
        # by one unit of the last kept digit at most, on ties. NaN and inf fail the bound, stay as is.
        if type(v) is float and -bound < v < bound:
            r = (v * scale + 0.5) // 1 / scale
            if r != v:
                changes[name] = r
    return msgspec.structs.replace(event, **changes) if changes else event


def encode(event: Event) -> bytes:
    """One ledger line (with its newline) for ``event``, times to the microsecond."""
    return _ENCODER.encode(_to_microseconds(event)) + b"\n"


def ledger_path(ledger_dir: str | os.PathLike[str], role: str, pid: int | None = None) -> Path:
    """``<ledger_dir>/<role>-<pid>.jsonl.zst``: the file one process of a run writes (pid: this one)."""
    return Path(ledger_dir, f"{role}-{os.getpid() if pid is None else pid}{SUFFIX}")


def is_being_written(path: str | os.PathLike[str]) -> bool:
    """True while a live ``LedgerWriter`` (of any process) holds ``path`` open."""
    if fcntl is None:
        return False
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


class LedgerWriter:
    """Append-only sink for one process. Thread- and greenlet-safe; ``writer(event)`` writes.

    Args:
        path: the file to append to (its parent is created); ``.jsonl.zst`` is compressed, any other
            name plain JSONL.
        flush_interval: seconds between background flushes (at most 1 s keeps the promise).
    """

    def __init__(self, path: str | os.PathLike[str], *, flush_interval: float = FLUSH_INTERVAL_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._encoder = encoder_for(self.path)
        self._fh = open(self.path, "ab", buffering=MAX_BUFFER)  # noqa: SIM115 - closed in close()
        self._lock_file()
        _OPEN.add(self)
        self._buf: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()
        self._closed = False
        self._interval = flush_interval
        self._flusher = threading.Thread(target=self._flush_loop, name="ledger-flush", daemon=True)
        self._flusher.start()

    def write(self, event: Event) -> None:
        """Append one event (its ``t``/``mono`` were stamped when it was built)."""
        line = encode(event)
        with self._lock:
            if self._closed:
                return
            self._buf.append(line)
            self._size += len(line)
            if self._size >= MAX_BUFFER:
                self._write_segment()

    __call__ = write

    def flush(self) -> None:
        """Write the buffered lines as one segment (survives a killed process, not a power cut)."""
        with self._lock:
            if not self._closed:
                self._write_segment()

    def close(self) -> None:
        """Flush, end the compressed frame and close; later writes are dropped silently."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            _OPEN.discard(self)
            try:
                self._write_segment()
                self._fh.write(self._encoder.end())
                self._fh.flush()
            finally:
                self._fh.close()

    def _lock_file(self) -> None:
        if fcntl is None:
            return
        for _ in range(3):  # a prune holds its probe for microseconds; never block on it
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:  # a file system without locks: prune goes by the files' age
                return

    def _write_segment(self) -> None:
        if not self._buf:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        self._fh.write(self._encoder.segment(data))
        self._fh.flush()

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
