"""One agent's timeline (``AgentTrace``), built from its typed ledger events and the run's ``RunSummary``.

Pure: events in, a trace out. The summary supplies what only the whole run knows: the time origin
(the test start), the fault windows, and how each disconnect ended (``reports.summary`` pairs every
disconnect with what followed it and attributes it to a fault). The agent's own events supply the
rest, folded into one item per thing that happened:

- ``Connect``: one (re)connect sequence, its attempts (1-based, restarting after a give-up), and
  whether it connected, gave up or was still trying when the ledger ends;
- ``Turn``: one attempt of a turn (``turn_start`` with its ``turn_end``): outcome, TTFT, cache;
- ``Disconnect``: close code, who closed, how the agent detected it, and what followed;
- ``Recovery``: how the conversation resumed after a reconnect;
- ``Abandon``: a turn given up; ``ProtocolFault``: a frame that broke the protocol;
- ``Lifecycle``: the agent started or stopped.

Each item lists the fault windows that overlapped it (``faults``): a window ``[start, end]`` of the
summary, where an instant fault (``close``, ``evict``: a window of no length) counts as
``INSTANT_S`` long. Times are seconds since the test start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import ClassVar

from reports.ledger import schema as ev
from reports.summary import Disconnect as PairedDisconnect
from reports.summary import FaultWindow, RunSummary
from reports.verify import FAIL, Check

__all__ = ["INSTANT_S", "Abandon", "AgentTrace", "Attempt", "Connect", "Disconnect", "Item", "Lifecycle",
           "ProtocolFault", "Recovery", "Turn", "build_trace", "overlapping", "short_turn"]

#: how long an instant fault (a window of no length) counts for the overlap with an event
INSTANT_S = 0.5


@dataclass(frozen=True, slots=True)
class Attempt:
    """One connect attempt of a sequence. ``ok`` is None when the ledger ends before its outcome."""

    at: float
    attempt: int
    conn: str
    ok: bool | None
    error: str | None = None
    status: int | None = None  # HTTP status of a refused upgrade
    retry_in_s: float | None = None  # the wait before the next attempt (None: giving up)
    handshake_ms: float | None = None  # the successful handshake's duration


@dataclass(frozen=True, slots=True)
class Connect:
    """One (re)connect sequence. ``outcome``: ``connected``, ``gave_up`` (``reconnect_giveup``: the agent
    cools down and starts a new sequence) or ``pending`` (the ledger ends while it is still trying)."""

    kind: ClassVar[str] = "connect"
    at: float
    end: float
    reason: str
    attempts: tuple[Attempt, ...]
    outcome: str
    conn: str | None  # the connection it opened
    faults: tuple[str, ...] = ()

    @property
    def took_ms(self) -> float:
        """First attempt to the outcome."""
        return (self.end - self.at) * 1000.0


@dataclass(frozen=True, slots=True)
class Turn:
    """One attempt of a turn. ``outcome`` None: it never ended (in flight when the ledger ends);
    ``at`` is its start, or its end when the ledger has no start (stopped between attempts)."""

    kind: ClassVar[str] = "turn"
    at: float
    end: float
    turn: str
    session: int | None
    index: int | None
    attempt: int
    conn: str | None
    input_mode: str | None
    outcome: str | None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cache: str | None = None
    error_code: str | None = None
    response_id: str | None = None
    previous_response_id: str | None = None
    digest_mismatch: bool = False
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A connection ended. From the ledger: ``code`` … ``silent_ms``; from the summary's pairing:
    ``ended`` (reconnected, gave_up, agent_stopped, run_ended), ``reconnect_ms``, ``reconnect_attempts``
    and ``fault`` (the fault it is attributed to: the latest window containing it, extended by 10 s)."""

    kind: ClassVar[str] = "disconnect"
    at: float
    conn: str
    code: int | None
    closed_by: str
    detected: str
    recoverable: bool
    in_flight: str | None
    silent_ms: float
    ended: str | None = None
    reconnect_ms: float | None = None
    reconnect_attempts: int | None = None
    fault: str | None = None
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recovery:
    """The first turn to end after a reconnect, and how the conversation resumed."""

    kind: ClassVar[str] = "recovery"
    at: float
    turn: str
    conn: str
    mode: str
    reconnect_ms: float
    attempts: int
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Abandon:
    """The agent gave a turn up (it is lost); ``cause`` says how."""

    kind: ClassVar[str] = "abandon"
    at: float
    turn: str
    attempts: int
    cause: str
    error_code: str | None = None
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProtocolFault:
    """A server frame broke the protocol (the agent ignored it)."""

    kind: ClassVar[str] = "protocol_error"
    at: float
    conn: str
    error: str
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The agent started (``what`` = ``start``, with its global index) or stopped."""

    kind: ClassVar[str] = "agent"
    at: float
    what: str
    index: int | None = None
    faults: tuple[str, ...] = ()


Item = Connect | Turn | Disconnect | Recovery | Abandon | ProtocolFault | Lifecycle


@dataclass(frozen=True)
class AgentTrace:
    """One agent's items in time order, the run's fault windows, and what the run said about the agent.

    ``failed_checks``: the failed checks that name this agent; ``partial``: why the run is partial
    (empty when it is not); ``duration_s``: the test's length.
    """

    agent: str
    index: int | None
    run_id: str | None
    profile: str | None
    seed: object
    duration_s: float
    faults: tuple[FaultWindow, ...]
    items: tuple[Item, ...]
    failed_checks: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()

    def of(self, kind: type[Item]) -> list[Item]:
        return [i for i in self.items if isinstance(i, kind)]

    @property
    def faults_hit(self) -> tuple[str, ...]:
        """The fault windows that overlapped at least one of this agent's items, in window order."""
        hit = {f for i in self.items for f in i.faults}
        return tuple(f.fault for f in self.faults if f.fault in hit)

    @property
    def last_at(self) -> float:
        return max((getattr(i, "end", i.at) for i in self.items), default=0.0)

    def totals(self) -> dict[str, object]:
        """Counts a reader checks first: turns by outcome, connects, disconnects by code, recoveries by mode."""
        turns = [i for i in self.items if isinstance(i, Turn)]
        connects = [i for i in self.items if isinstance(i, Connect)]
        return {
            "turns": len({t.turn for t in turns}),
            "turn_attempts": len(turns),
            "outcomes": dict(Counter(str(t.outcome or "never_ended") for t in turns).most_common()),
            "cache": dict(Counter(str(t.cache) for t in turns if t.cache is not None).most_common()),
            "connects": len(connects),
            "reconnects": sum(1 for c in connects if c.reason == ev.ConnectReason.RECONNECT and c.outcome == "connected"),
            "gave_up": sum(1 for c in connects if c.outcome == "gave_up"),
            "failed_attempts": sum(1 for c in connects for a in c.attempts if a.ok is False),
            "disconnects": dict(Counter("-" if d.code is None else str(d.code)
                                        for d in self.items if isinstance(d, Disconnect)).most_common()),
            "recoveries": dict(Counter(str(r.mode) for r in self.items if isinstance(r, Recovery)).most_common()),
            "abandoned": sum(1 for i in self.items if isinstance(i, Abandon)),
        }


def overlapping(faults: Iterable[FaultWindow], start: float, end: float) -> tuple[str, ...]:
    """The ids of the fault windows that overlap ``[start, end]`` (an instant one counts ``INSTANT_S``)."""
    return tuple(f.fault for f in faults
                 if f.type != "?" and f.start <= end and start <= max(f.end, f.start + INSTANT_S))


def short_turn(agent: str, turn: str) -> str:
    """``agent-0007/s1/t3`` -> ``s1/t3`` (turn ids start with their agent's id)."""
    prefix = agent + "/"
    return turn[len(prefix):] if turn.startswith(prefix) else turn


_AGENT_KINDS = (ev.AgentStart, ev.AgentStop, ev.ConnectAttempt, ev.ConnectOk, ev.ConnectFail, ev.Disconnect,
                ev.ReconnectGiveup, ev.ProtocolError, ev.TurnStart, ev.TurnEnd, ev.TurnAbandon, ev.Recovery)


class _Builder:
    """Folds one agent's time-sorted events into items (``at``/``end`` not yet tagged with faults)."""

    def __init__(self, agent: str, base: float, paired: list[PairedDisconnect]) -> None:
        self.agent, self.base = agent, base
        self.paired = {round(d.at, 6): d for d in paired}
        self.items: list[tuple[float, int, object]] = []  # (sort time, seq, item or open record)
        self.index: int | None = None
        self.seq = 0
        self.conn: dict[str, object] | None = None  # the open connect sequence
        self.turns: dict[tuple[str, int], ev.TurnStart] = {}

    def rel(self, mono: float) -> float:
        return mono - self.base

    def add(self, at: float, item: object) -> None:
        self.seq += 1
        self.items.append((at, self.seq, item))

    # -- connects ------------------------------------------------------------------------------
    def _close_connect(self, outcome: str, end: float, conn: str | None = None) -> None:
        c = self.conn
        assert c is not None
        attempts: list[Attempt] = c["attempts"]  # type: ignore[assignment]
        self.add(c["at"], Connect(at=c["at"], end=end, reason=c["reason"], attempts=tuple(attempts),  # type: ignore[arg-type]
                                  outcome=outcome, conn=conn))
        self.conn = None

    def attempt(self, e: ev.ConnectAttempt) -> None:
        at = self.rel(e.mono)
        if self.conn is not None and any(a.conn == e.conn for a in self.conn["attempts"]):  # type: ignore[attr-defined]
            return  # its outcome came first (same time): already recorded
        if self.conn is not None and (e.attempt == 1 or e.reason != self.conn["reason"]):
            self._close_connect("pending", at)  # a new sequence began without an outcome for the last
        if self.conn is None:
            self.conn = {"at": at, "reason": e.reason, "attempts": []}
        self.conn["attempts"].append(Attempt(at=at, attempt=e.attempt, conn=e.conn, ok=None))  # type: ignore[attr-defined]

    def _last_attempt(self, conn: str, at: float, reason: str, attempt: int) -> list[Attempt]:
        if self.conn is None:  # an outcome without its attempt (a cut ledger): open the sequence here
            self.conn = {"at": at, "reason": reason, "attempts": [Attempt(at=at, attempt=attempt, conn=conn, ok=None)]}
        attempts: list[Attempt] = self.conn["attempts"]  # type: ignore[assignment]
        if attempts[-1].conn != conn:
            attempts.append(Attempt(at=at, attempt=attempt, conn=conn, ok=None))
        return attempts

    def connect_ok(self, e: ev.ConnectOk) -> None:
        at = self.rel(e.mono)
        attempts = self._last_attempt(e.conn, at, e.reason, e.attempt)
        a = attempts[-1]
        attempts[-1] = Attempt(at=a.at, attempt=a.attempt, conn=a.conn, ok=True, handshake_ms=e.duration_ms)
        self._close_connect("connected", at, e.conn)

    def connect_fail(self, e: ev.ConnectFail) -> None:
        at = self.rel(e.mono)
        attempts = self._last_attempt(e.conn, at, e.reason, e.attempt)
        a = attempts[-1]
        attempts[-1] = Attempt(at=a.at, attempt=a.attempt, conn=a.conn, ok=False, error=e.error, status=e.status,
                               retry_in_s=e.retry_in_s)

    def giveup(self, e: ev.ReconnectGiveup) -> None:
        at = self.rel(e.mono)
        if self.conn is None:
            self.conn = {"at": at, "reason": ev.ConnectReason.RECONNECT, "attempts": []}
        self._close_connect("gave_up", at)

    # -- turns ---------------------------------------------------------------------------------
    def turn_start(self, e: ev.TurnStart) -> None:
        self.turns[(e.turn, e.attempt)] = e

    def turn_end(self, e: ev.TurnEnd) -> None:
        s = self.turns.pop((e.turn, e.attempt), None)
        end = self.rel(e.mono)
        at = self.rel(s.mono) if s is not None else end
        mismatch = e.server_digest is not None and e.client_digest is not None and e.server_digest != e.client_digest
        self.add(at, Turn(
            at=at, end=end, turn=e.turn, session=e.session if e.session is not None else (s.session if s else None),
            index=e.index if e.index is not None else (s.index if s else None), attempt=e.attempt,
            conn=e.conn or (s.conn if s else None), input_mode=s.input_mode if s else None, outcome=e.outcome,
            ttft_ms=e.ttft_ms, duration_ms=e.duration_ms, cache=e.cache, error_code=e.error_code,
            response_id=e.response_id, previous_response_id=s.previous_response_id if s else None,
            digest_mismatch=mismatch))

    def finish(self, last: float) -> list[object]:
        if self.conn is not None:
            self._close_connect("pending", last)
        for s in self.turns.values():  # started, never ended
            at = self.rel(s.mono)
            self.add(at, Turn(at=at, end=max(at, last), turn=s.turn, session=s.session, index=s.index,
                              attempt=s.attempt, conn=s.conn, input_mode=s.input_mode, outcome=None,
                              previous_response_id=s.previous_response_id))
        self.items.sort(key=lambda x: (x[0], x[1]))
        return [item for _, _, item in self.items]

    def feed(self, e: ev.Event) -> None:
        at = self.rel(e.mono)
        if isinstance(e, ev.TurnEnd):
            self.turn_end(e)
        elif isinstance(e, ev.TurnStart):
            self.turn_start(e)
        elif isinstance(e, ev.ConnectAttempt):
            self.attempt(e)
        elif isinstance(e, ev.ConnectOk):
            self.connect_ok(e)
        elif isinstance(e, ev.ConnectFail):
            self.connect_fail(e)
        elif isinstance(e, ev.ReconnectGiveup):
            self.giveup(e)
        elif isinstance(e, ev.Disconnect):
            p = self.paired.get(round(at, 6))
            self.add(at, Disconnect(
                at=at, conn=e.conn, code=e.code, closed_by=e.closed_by, detected=e.detected,
                recoverable=e.recoverable, in_flight=e.in_flight, silent_ms=e.silent_ms,
                ended=p.ended if p else None, reconnect_ms=p.reconnect_ms if p else None,
                reconnect_attempts=p.attempts if p else None, fault=p.fault if p else None))
        elif isinstance(e, ev.Recovery):
            self.add(at, Recovery(at=at, turn=e.turn, conn=e.conn, mode=e.mode, reconnect_ms=e.reconnect_ms,
                                  attempts=e.attempts))
        elif isinstance(e, ev.TurnAbandon):
            self.add(at, Abandon(at=at, turn=e.turn, attempts=e.attempts, cause=e.cause, error_code=e.error_code))
        elif isinstance(e, ev.ProtocolError):
            self.add(at, ProtocolFault(at=at, conn=e.conn, error=e.error))
        elif isinstance(e, ev.AgentStart):
            self.index = e.index if e.index is not None else self.index
            self.add(at, Lifecycle(at=at, what="start", index=e.index))
        elif isinstance(e, ev.AgentStop):
            self.add(at, Lifecycle(at=at, what="stop"))


def _tagged(item: Item, faults: tuple[FaultWindow, ...]) -> Item:
    end = getattr(item, "end", item.at)
    hit = overlapping(faults, item.at, end)
    return replace(item, faults=hit) if hit else item


def build_trace(events: Iterable[ev.Event | object], agent: str, summary: RunSummary, *,
                checks: Iterable[Check] = (), partial: Iterable[str] = ()) -> AgentTrace:
    """The trace of ``agent`` from ``events`` (any events: the agent's are picked; any file order).

    ``summary`` is the run's (``reports.summary.summarize`` of the same ledger); ``checks`` the run's
    checks (the failed ones naming the agent are listed); ``partial`` why the run is partial.
    """
    mine = [e for e in events if isinstance(e, _AGENT_KINDS) and e.agent == agent]
    mine.sort(key=lambda e: e.mono)  # stable: ties keep the order they were written in
    base = summary.t0_mono if summary.t0_mono is not None else (mine[0].mono if mine else 0.0)
    b = _Builder(agent, base, [d for d in summary.disconnects if d.agent == agent])
    for e in mine:
        b.feed(e)
    last = max(summary.duration_s, b.rel(mine[-1].mono)) if mine else summary.duration_s
    faults = summary.applied_faults
    items = tuple(_tagged(i, faults) for i in b.finish(last))  # type: ignore[arg-type]
    run = summary.run
    return AgentTrace(
        agent=agent, index=b.index, run_id=run.run_id, profile=run.profile, seed=run.seed,
        duration_s=summary.duration_s, faults=faults, items=items,
        failed_checks=tuple(c.name for c in checks if c.verdict == FAIL and agent in c.agents),
        partial=tuple(partial),
    )
