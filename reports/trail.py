"""What happened to an agent named in a failed check: its last relevant events, from a second pass.

``trails`` streams the ledger once more and keeps, for each ``(check, Focus)``, a ring buffer of at
most ``TRAIL_EVENTS`` events of that agent, so memory is bounded by the focused agents (at most
``FOCUS_AGENTS`` per failed check), never by the ledger. The events shown are those that say what
happened to a connection or a turn (disconnects, connect attempts, turn ends, give-ups), up to the
focus: the last event of the focused turn, a time, or the agent's last event.
Assumption (docs/ledger.md): one agent's events are in one file, in the order they were written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reports.ledger import schema as ev
from reports.ledger.reader import UnknownEvent
from reports.verify import Focus

__all__ = ["TRAIL_EVENTS", "Trail", "TrailEvent", "trails"]

TRAIL_EVENTS = 6  # events kept per named agent


@dataclass(frozen=True)
class TrailEvent:
    """One event, ``at`` seconds since the test start, said in a few words."""

    at: float
    kind: str
    text: str


@dataclass(frozen=True)
class Trail:
    """The last events of ``focus.agent`` up to its focus, for the failed check ``check``."""

    check: str
    focus: Focus
    events: tuple[TrailEvent, ...]

    @property
    def anchor(self) -> str:
        """What the events lead up to, in words."""
        f = self.focus
        if f.turn is not None:
            return f"up to turn {f.turn}"
        if f.until is not None:
            return f"up to +{f.until:.2f} s"
        return "its last events"


def _disconnect(e: ev.Disconnect) -> str:
    cut = f", cut {e.in_flight}" if e.in_flight else ""
    return f"disconnect {e.code if e.code is not None else '-'} by {e.closed_by} ({e.detected}){cut}"


def _fail(e: ev.ConnectFail) -> str:
    retry = f"; retry in {e.retry_in_s:.1f} s" if e.retry_in_s is not None else "; no retry"
    return f"attempt {e.attempt} failed: {e.error[:60]}{retry}"


def _turn_end(e: ev.TurnEnd) -> str:
    code = f" {e.error_code}" if e.error_code else ""
    digest = " (digest mismatch)" if _mismatch(e) else ""
    return f"{e.turn} attempt {e.attempt}: {e.outcome}{code}{digest}"


_SAY: dict[type[Any], Callable[[Any], str]] = {
    ev.Disconnect: _disconnect,
    ev.ConnectAttempt: lambda e: f"attempt {e.attempt} ({e.reason}) {e.conn}",
    ev.ConnectOk: lambda e: f"connected on attempt {e.attempt} in {e.duration_ms:.0f} ms",
    ev.ConnectFail: _fail,
    ev.ReconnectGiveup: lambda e: f"gave up after {e.attempts} attempts: {e.error[:60]}",
    ev.ProtocolError: lambda e: f"protocol error: {e.error[:60]}",
    ev.TurnEnd: _turn_end,
    ev.TurnAbandon: lambda e: f"{e.turn} given up after {e.attempts} attempt(s): {e.cause}",
    ev.Recovery: lambda e: f"recovery {e.mode} ({e.turn})",
    ev.AgentStop: lambda e: "agent stopped",
}


class _Done:
    """A run of turns that completed normally, shown as one line."""

    __slots__ = ("mono", "count", "first", "last")
    kind = "turn_end"

    def __init__(self, e: ev.TurnEnd) -> None:
        self.mono, self.count, self.first, self.last = e.mono, 1, e.turn, e.turn

    def say(self) -> str:
        return f"{self.last}: completed" if self.count == 1 else \
            f"{self.count} turns completed ({self.first} … {self.last})"


class _Collector:
    """The ring buffer of one focus, and the snapshot taken at the focused turn's last event."""

    __slots__ = ("check", "focus", "until", "ring", "snapshot")

    def __init__(self, check: str, focus: Focus, t0: float) -> None:
        self.check, self.focus = check, focus
        self.until = None if focus.until is None else t0 + focus.until + 1e-6
        self.ring: deque[ev.Event | _Done] = deque(maxlen=TRAIL_EVENTS)
        self.snapshot: list[ev.Event | _Done] | None = None

    def feed(self, e: ev.Event) -> None:
        if self.until is not None and e.mono > self.until:
            return
        mine = self.focus.turn is not None and getattr(e, "turn", None) == self.focus.turn
        if isinstance(e, ev.TurnEnd) and e.outcome in ev.GOOD_OUTCOMES and not mine and not _mismatch(e):
            last = self.ring[-1] if self.ring else None
            if isinstance(last, _Done):  # completed turns in a row take one line
                last.mono, last.count, last.last = e.mono, last.count + 1, e.turn
            else:
                self.ring.append(_Done(e))
            return
        self.ring.append(e)
        if mine:
            self.snapshot = list(self.ring)

    def trail(self, t0: float) -> Trail:
        events = self.snapshot if self.snapshot is not None else list(self.ring)
        return Trail(self.check, self.focus, tuple(
            TrailEvent(e.mono - t0, e.kind, e.say() if isinstance(e, _Done) else _SAY[type(e)](e)) for e in events))


def _mismatch(e: ev.TurnEnd) -> bool:
    return e.server_digest is not None and e.client_digest is not None and e.server_digest != e.client_digest


def trails(events: Iterable[ev.Event | UnknownEvent], focus: Iterable[tuple[str, Focus]],
           t0: float | None) -> tuple[Trail, ...]:
    """For each ``(check name, Focus)``, the focused agent's last relevant events. Pure; one pass."""
    base = t0 or 0.0
    by_agent: dict[str, list[_Collector]] = {}
    order: list[_Collector] = []
    for check, f in focus:
        c = _Collector(check, f, base)
        by_agent.setdefault(f.agent, []).append(c)
        order.append(c)
    if not order:
        return ()
    for e in events:
        if type(e) not in _SAY:
            continue
        for c in by_agent.get(e.agent, ()):  # type: ignore[union-attr]
            c.feed(e)  # type: ignore[arg-type]
    return tuple(c.trail(base) for c in order)
