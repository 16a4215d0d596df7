"""Where agents record what happened: a sink takes one typed ledger event (``reports.ledger.schema``)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any, Protocol

import msgspec

from reports.ledger.schema import Event

__all__ = ["RECENT_EVENTS", "EventSink", "MemorySink", "RecentSink", "ShiftedSink", "SwitchSink"]

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


class SwitchSink:
    """A stable sink whose target changes: the web UI's swarms each write their own run's ledger.

    ``switch(target)`` closes the previous target (a ``LedgerWriter``: its frame is ended) and sends
    what follows to ``target`` (None: nowhere). Every event also goes to each of ``taps`` (the live
    gauges), whatever the target.
    """

    def __init__(self) -> None:
        self._target: Any = None
        self.taps: list[EventSink] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event, /) -> None:
        target = self._target
        if target is not None:
            target(event)
        for tap in self.taps:
            tap(event)

    write = __call__

    @property
    def target(self) -> Any:
        return self._target

    def switch(self, target: Any) -> None:
        with self._lock:
            old, self._target = self._target, target
        close = getattr(old, "close", None)
        if close is not None:
            close()

    def flush(self) -> None:
        flush = getattr(self._target, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        self.switch(None)


class ShiftedSink:
    """Writes each event to ``inner`` with ``mono`` and every ``*_mono`` field moved by ``offset_s``.

    A worker on another machine puts its ledger on its master's monotonic clock this way
    (:mod:`loadtests.master_link`); ``path``, ``flush`` and ``close`` are the inner sink's.
    """

    def __init__(self, inner: Any, offset_s: float) -> None:
        self.inner = inner
        self.offset_s = offset_s
        self.path = getattr(inner, "path", None)

    def __call__(self, event: Event, /) -> None:
        changes = {}
        for name in _mono_fields(type(event)):
            v = getattr(event, name)
            if type(v) is float:
                changes[name] = v + self.offset_s
        self.inner(msgspec.structs.replace(event, **changes) if changes else event)

    write = __call__

    def flush(self) -> None:
        flush = getattr(self.inner, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


_MONO_FIELDS: dict[type, tuple[str, ...]] = {}


def _mono_fields(cls: type) -> tuple[str, ...]:
    names = _MONO_FIELDS.get(cls)
    if names is None:
        names = _MONO_FIELDS[cls] = tuple(f.name for f in msgspec.structs.fields(cls)
                                          if f.name == "mono" or f.name.endswith("_mono"))
    return names
