"""Connections: each disconnect paired with what followed it, close codes, connect failures, recoveries.

Per agent, the connection events are kept (few: a handful per reconnect) and sorted by time at the
end, so files may arrive in any order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from reports.ledger import schema as ev
from reports.summary.findings import FindingSet
from reports.summary.model import CloseKey, Disconnect, FaultWindow
from reports.summary.timeline import Timeline

__all__ = ["Connections", "FAULT_ATTRIBUTION_TAIL_S"]

#: a disconnect up to this long after a fault window closed is still attributed to that fault
FAULT_ATTRIBUTION_TAIL_S = 10.0

_Marked = ev.Disconnect | ev.ConnectOk | ev.ConnectAttempt | ev.ConnectFail | ev.ReconnectGiveup | ev.AgentStop
_ENDED_BY = {ev.ReconnectGiveup: "gave_up", ev.AgentStop: "agent_stopped"}


@dataclass(frozen=True, slots=True)
class _Mark:
    """One connection event of an agent, with its arrival order to break ties in time."""

    seq: int
    event: _Marked


class Connections:
    """Accumulates the connection events of every agent."""

    def __init__(self, timeline: Timeline, agents: set[str]) -> None:
        self.timeline = timeline
        self.agents = agents
        self.marks: dict[str, list[_Mark]] = {}
        self.seq = 0
        self.close_codes: Counter[CloseKey] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.recovery_modes: Counter[ev.RecoveryMode] = Counter()
        self.failed_recoveries = FindingSet()

    def seen(self, agent: str) -> list[_Mark]:
        marks = self.marks.get(agent)
        if marks is None:
            self.agents.add(agent)
            marks = self.marks[agent] = []
        return marks

    def mark(self, e: _Marked) -> None:
        self.seq += 1
        self.seen(e.agent).append(_Mark(self.seq, e))

    def connect_ok(self, e: ev.ConnectOk) -> None:
        self.mark(e)
        b = self.timeline.at(e.mono)
        b.connects += 1
        if e.reason == ev.ConnectReason.RECONNECT:
            b.reconnects += 1

    def disconnect(self, e: ev.Disconnect) -> None:
        self.mark(e)
        self.timeline.at(e.mono).disconnects += 1
        self.close_codes[CloseKey(e.closed_by, e.code)] += 1

    def connect_attempt(self, e: ev.ConnectAttempt) -> None:
        if e.reason == ev.ConnectReason.RECONNECT:
            self.mark(e)  # every attempt of a reconnect: a few per disconnect
        else:
            self.seen(e.agent)

    def connect_fail(self, e: ev.ConnectFail) -> None:
        if e.reason == ev.ConnectReason.RECONNECT:
            self.mark(e)
        else:
            self.seen(e.agent)
        self.connect_failures[f"HTTP {e.status}" if e.status is not None else e.error[:80]] += 1

    def recovery(self, e: ev.Recovery) -> None:
        self.seen(e.agent)
        self.recovery_modes[e.mode] += 1
        self.timeline.at(e.mono).recoveries[e.mode] += 1
        if e.mode == ev.RecoveryMode.FAILED:
            self.failed_recoveries.add(e.agent, e.turn or e.conn)

    def agent_start(self, e: ev.AgentStart) -> None:
        self.seen(e.agent)

    def disconnects(self, base: float, faults: tuple[FaultWindow, ...]) -> tuple[Disconnect, ...]:
        """Every disconnect with how it ended, sorted by time then agent."""
        out: list[Disconnect] = []
        for agent, marks in self.marks.items():
            marks.sort(key=lambda m: (m.event.mono, m.seq))
            out.extend(_Pairing(agent, base, faults).run(marks))
        out.sort(key=lambda d: (d.at, d.agent))
        return tuple(out)


class _Pairing:
    """Walks one agent's sorted connection events, closing each disconnect with what followed it."""

    def __init__(self, agent: str, base: float, faults: tuple[FaultWindow, ...]) -> None:
        self.agent = agent
        self.base = base
        self.faults = faults
        self.pending: ev.Disconnect | None = None
        self.first_attempt: float | None = None
        self.attempts: list[ev.ConnectAttempt] = []  # of the pending disconnect's reconnect
        self.fails: list[ev.ConnectFail] = []
        self.out: list[Disconnect] = []

    def run(self, marks: list[_Mark]) -> list[Disconnect]:
        for m in marks:
            e = m.event
            if isinstance(e, ev.Disconnect):
                if self.pending is not None:
                    self._close("run_ended")  # a second disconnect without a connect_ok between
                self.pending = e
            elif self.pending is None:
                continue
            elif isinstance(e, ev.ConnectOk):
                self._close("reconnected", e)
            elif isinstance(e, ev.ConnectAttempt):
                if self.first_attempt is None:
                    self.first_attempt = e.mono
                self.attempts.append(e)
            elif isinstance(e, ev.ConnectFail):
                self.fails.append(e)
            else:
                self._close(_ENDED_BY[type(e)])
        if self.pending is not None:
            self._close("run_ended")
        return self.out

    def _fault_of(self, at: float) -> str | None:
        best = None
        for f in self.faults:
            if f.start <= at <= f.end + FAULT_ATTRIBUTION_TAIL_S and (best is None or f.start >= best.start):
                best = f
        return best.fault if best is not None else None

    def _standing_end(self, at: float) -> float | None:
        ends = [f.end for f in self.faults if f.standing and f.start <= at <= f.end]
        return max(ends) if ends else None

    def _after_clear(self, ok: ev.ConnectOk | None, end_at: float | None) -> dict[str, Any]:
        """How a reconnect that came after its standing window cleared went, judged by its own attempts."""
        if ok is None or end_at is None:
            return {}
        end = self.base + end_at
        if ok.mono <= end:
            return {}  # it reconnected while the fault still stood: nothing was waited out
        first = next((a for a in self.attempts if a.mono >= end), None)
        # a refused upgrade (an HTTP status: 429 with Retry-After) may announce a wait beyond the backoff
        before = [f for f in self.fails if f.mono < end and f.retry_in_s is not None and f.status is not None]
        return {
            "after_clear_ms": (first.mono - end) * 1000.0 if first is not None else None,
            "first_after_clear_ok": first is not None and first.conn == ok.conn,
            "connect_ms": ok.duration_ms,
            "refused_wait_s": before[-1].retry_in_s if before else None,
        }

    def _close(self, ended: str, ok: ev.ConnectOk | None = None) -> None:
        d = self.pending
        assert d is not None
        at = d.mono - self.base
        end_at = self._standing_end(at)
        self.out.append(Disconnect(
            agent=self.agent, at=at, code=d.code, closed_by=d.closed_by, detected=d.detected,
            recoverable=d.recoverable, silent_ms=d.silent_ms, fault=self._fault_of(at), ended=ended,
            reconnect_ms=(ok.mono - d.mono) * 1000.0 if ok is not None else None,
            attempts=ok.attempt if ok is not None else None,
            first_attempt_ms=(self.first_attempt - d.mono) * 1000.0 if self.first_attempt is not None else None,
            fault_end_at=end_at, **self._after_clear(ok, end_at),
        ))
        self.pending = None
        self.first_attempt = None
        self.attempts, self.fails = [], []
