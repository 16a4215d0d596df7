"""One pass over a run's ledger for the agents of its repro bundles: their events (bounded), their
connections, the faults as applied, and when each named failure happened.

Memory is bounded: per agent at most ``SLICE_EVENTS`` events (the first and the last halves), the
run-level events likewise, and one open/close pair per connection of the bundles' agents.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from faults.draws import toxic_hit
from faults.identity import PROXY_NAME
from faults.schedule import toxic_name
from reports.ledger import schema as ev
from reports.ledger.reader import UnknownEvent
from reports.repro.model import AppliedFault
from reports.verify import Focus

__all__ = ["SLICE_EVENTS", "Evidence", "Slice", "gather"]

#: events kept per agent (and of the run itself): the first half and the last half
SLICE_EVENTS = 2000
_RUN_KINDS = (ev.RunStart, ev.TestStart, ev.TestStop, ev.RunStop, ev.FaultApply, ev.FaultRemove, ev.FaultError)
_TOXIC_TYPES = frozenset({"latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
                          "noop"})


class Slice:
    """The first and last ``SLICE_EVENTS // 2`` events of one stream, and how many there were."""

    __slots__ = ("head", "tail", "total")

    def __init__(self) -> None:
        self.head: list[ev.Event] = []
        self.tail: deque[ev.Event] = deque(maxlen=SLICE_EVENTS - SLICE_EVENTS // 2)
        self.total = 0

    def add(self, e: ev.Event) -> None:
        self.total += 1
        if len(self.head) < SLICE_EVENTS // 2:
            self.head.append(e)
        else:
            self.tail.append(e)

    @property
    def events(self) -> list[ev.Event]:
        return [*self.head, *self.tail]

    @property
    def skipped(self) -> int:
        """Events between the head and the tail that were not kept."""
        return self.total - len(self.head) - len(self.tail)


@dataclass
class _Window:
    apply: ev.FaultApply | None = None
    remove_mono: float | None = None
    errors: list[str] = field(default_factory=list)
    planned_start_s: float | None = None


@dataclass
class Evidence:
    """What the bundles need from the ledger."""

    seed: object = None
    proxy: str | None = None
    t0_mono: float | None = None
    end_mono: float | None = None
    run_events: Slice = field(default_factory=Slice)
    slices: dict[str, Slice] = field(default_factory=dict)
    connections: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)  # agent -> conn -> [open, close]
    windows: dict[str, _Window] = field(default_factory=dict)
    last_of_turn: dict[tuple[str, str], float] = field(default_factory=dict)
    last_of_agent: dict[str, float] = field(default_factory=dict)

    def rel(self, mono: float | None) -> float | None:
        return None if mono is None or self.t0_mono is None else round(mono - self.t0_mono, 3)

    def failed_at(self, focus: Focus) -> tuple[float | None, str | None]:
        """(seconds since the test start, what) of where ``focus`` says the agent went wrong."""
        if focus.turn is not None:
            mono = self.last_of_turn.get((focus.agent, focus.turn))
            return self.rel(mono), f"turn {focus.turn}"
        if focus.until is not None:
            return round(focus.until, 3), f"+{focus.until:.2f} s"
        return self.rel(self.last_of_agent.get(focus.agent)), "its last event"

    def timeline(self, agents: Iterable[str]) -> list[AppliedFault]:
        """Every fault window in apply order, with the connections of ``agents`` it hit."""
        mine = set(agents)
        out = []
        for fault, w in sorted(self.windows.items(), key=lambda kv: _order(kv[1])):
            a = w.apply
            if a is None:
                out.append(AppliedFault(fault=fault, type="?", planned_start_s=w.planned_start_s or 0.0,
                                        planned_duration_s=0.0, applied_at=None, applied_s=None, removed_s=None,
                                        share=None, attributes={}, hit=[], hit_total=None,
                                        hit_by="never applied", errors=w.errors))
                continue
            hit, total, how = self._hits(fault, w, mine)
            out.append(AppliedFault(
                fault=fault, type=a.type, planned_start_s=a.start_s, planned_duration_s=a.duration_s,
                applied_at=dt.datetime.fromtimestamp(a.t, dt.timezone.utc).isoformat(timespec="milliseconds"),
                applied_s=self.rel(a.mono), removed_s=self.rel(w.remove_mono), share=a.share,
                attributes=dict(a.attributes), hit=hit, hit_total=total, hit_by=how, errors=w.errors,
                manual=a.manual))
        return out

    def _open_during(self, start: float, end: float | None, agents: set[str]) -> list[str]:
        """Connections of ``agents`` open at some moment of [start, end]."""
        stop = end if end is not None else (self.end_mono if self.end_mono is not None else float("inf"))
        out = []
        for agent in sorted(agents):
            for conn, (opened, closed) in self.connections.get(agent, {}).items():
                if opened is not None and opened <= stop and (closed is None or closed >= start):
                    out.append(conn)
        return out

    def _hits(self, fault: str, w: _Window, mine: set[str]) -> tuple[list[str], int | None, str]:
        a = w.apply
        assert a is not None
        if a.hit is not None:
            return [c for c in a.hit if c.rsplit("/", 1)[0] in mine], len(a.hit), \
                "the server's reply (fault_apply.hit)"
        if a.type == "down":
            return self._open_during(a.mono, a.mono, mine), None, "every connection open when the proxy went down"
        if a.type in _TOXIC_TYPES:
            if self.proxy != "embedded" or not isinstance(self.seed, int):
                return [], None, f"unknown: the {self.proxy} proxy draws by its own rules"
            stream = str(a.attributes.get("stream", "downstream"))
            toxicity = a.attributes.get("toxicity", a.share if a.share is not None else 1.0)
            during = self._open_during(a.mono, w.remove_mono, mine)
            hit = [c for c in during if toxic_hit(self.seed, PROXY_NAME, c, stream, toxic_name(fault), toxicity)]
            return hit, None, "the embedded proxy's draws for these connections (faults.draws.toxic_hit)"
        if a.type in ("wipe_store",):
            return [], None, "the whole server (no connection picked)"
        if a.type in ("stall", "refuse"):
            return [], None, "per response / upgrade, by the server's draws (not recorded)"
        return [], a.affected, "not recorded (a ledger without fault_apply.hit)"


def _order(w: _Window) -> tuple[float, float]:
    if w.apply is not None:
        return (0.0, w.apply.mono)
    return (1.0, w.planned_start_s or 0.0)


def gather(events: Iterable[ev.Event | UnknownEvent], agents: Iterable[str],
           focus: Iterable[Focus] = ()) -> Evidence:
    """One pass: the evidence about ``agents`` and the run, and the end of each ``focus`` turn."""
    mine = set(agents)
    turns = {(f.agent, f.turn) for f in focus if f.turn is not None}
    out = Evidence()
    for e in events:
        if isinstance(e, UnknownEvent):
            continue
        if isinstance(e, _RUN_KINDS):
            out.run_events.add(e)
            _run_event(out, e)
            continue
        agent = getattr(e, "agent", None)
        if agent not in mine:
            continue
        out.slices.setdefault(agent, Slice()).add(e)
        out.last_of_agent[agent] = e.mono
        turn = getattr(e, "turn", None)
        if turn is not None and (agent, turn) in turns:
            out.last_of_turn[(agent, turn)] = e.mono
        if isinstance(e, ev.ConnectOk):
            out.connections.setdefault(agent, {})[e.conn] = [e.mono, None]
        elif isinstance(e, ev.Disconnect):
            span = out.connections.setdefault(agent, {}).setdefault(e.conn, [None, None])
            span[1] = e.mono
    return out


def _run_event(out: Evidence, e: ev.Event) -> None:
    if isinstance(e, ev.RunStart):
        out.seed, out.proxy = e.seed, str(e.proxy)
        for p in e.fault_plan or ():
            out.windows.setdefault(p.fault, _Window()).planned_start_s = p.start_s
    elif isinstance(e, ev.TestStart):
        out.t0_mono = e.mono
    elif isinstance(e, (ev.TestStop, ev.RunStop)):
        out.end_mono = e.mono if out.end_mono is None else min(out.end_mono, e.mono)
    elif isinstance(e, ev.FaultApply):
        out.windows.setdefault(e.fault, _Window()).apply = e
    elif isinstance(e, ev.FaultRemove):
        w = out.windows.setdefault(e.fault, _Window())
        w.remove_mono = e.mono if w.apply is None or w.apply.type not in ("close", "limit", "evict", "wipe_store") \
            else w.apply.mono
    elif isinstance(e, ev.FaultError):
        out.windows.setdefault(e.fault, _Window()).errors.append(e.error)
