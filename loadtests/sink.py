"""Where agents record what happened: a sink takes one typed ledger event (``reports.ledger.schema``)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from reports.ledger.schema import Event

__all__ = ["EventSink", "MemorySink"]


class EventSink(Protocol):
    """Anything callable as ``sink(event)``: a :class:`MemorySink`, a ``LedgerWriter``, …"""

    def __call__(self, event: Event, /) -> None: ...


class MemorySink:
    """Keeps typed events in memory, in order (for tests and for the demo's summary)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event, /) -> None:
        with self._lock:
            self.events.append(event)

    write = __call__

    def of(self, kind: str | type[Event], **match: Any) -> list[Any]:
        """Events of ``kind`` (a kind name or an event class) whose fields equal ``match``."""
        with self._lock:
            events = list(self.events)
        if isinstance(kind, str):
            events = [e for e in events if e.kind == kind]
        else:
            events = [e for e in events if isinstance(e, kind)]
        return [e for e in events if all(getattr(e, k) == v for k, v in match.items())]
