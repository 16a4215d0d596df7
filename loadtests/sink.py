"""Where agents record what happened: a sink takes one typed ledger event (``reports.ledger.schema``)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any, Protocol

from reports.ledger.schema import Event

__all__ = ["RECENT_EVENTS", "EventSink", "MemorySink", "RecentSink"]

#: How many events a :class:`RecentSink` keeps by default (a few MB at most).
RECENT_EVENTS = 10_000


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


class RecentSink:
    """Keeps the last ``capacity`` events and a count of every kind ever seen; memory stays bounded.

    For a Locust process without a run directory (the web UI): nothing reads a ledger there, and a
    long session must not hold every event it ever wrote.
    """

    def __init__(self, capacity: int = RECENT_EVENTS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._recent: deque[Event] = deque(maxlen=capacity)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event: Event, /) -> None:
        with self._lock:
            self._recent.append(event)
            self.counts[event.kind] += 1

    write = __call__

    @property
    def events(self) -> list[Event]:
        """The events kept, oldest first (at most ``capacity``)."""
        with self._lock:
            return list(self._recent)

    @property
    def total(self) -> int:
        """How many events were written, kept or not."""
        with self._lock:
            return sum(self.counts.values())
