"""Where agents record what happened: a sink takes ``(kind, **fields)`` (see docs/ledger.md)."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

__all__ = ["EventSink", "MemorySink", "stamp"]


class EventSink(Protocol):
    """Anything callable as ``sink(kind, **fields)``: a :class:`MemorySink`, a ``LedgerWriter``, …"""

    def __call__(self, kind: str, /, **fields: Any) -> None: ...


def stamp() -> dict[str, float]:
    """The two timestamps every event carries: wall ``t`` and monotonic ``mono`` (seconds)."""
    return {"t": time.time(), "mono": time.monotonic()}


class MemorySink:
    """Keeps events in memory, in order, as dicts (for tests and for the demo's summary)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, /, **fields: Any) -> None:
        event = {"kind": kind, **fields}
        event.setdefault("t", time.time())
        event.setdefault("mono", time.monotonic())
        with self._lock:
            self.events.append(event)

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Events of ``kind`` whose fields equal ``match``."""
        with self._lock:
            return [e for e in self.events if e["kind"] == kind and all(e.get(k) == v for k, v in match.items())]
