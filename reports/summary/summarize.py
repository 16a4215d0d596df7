"""``summarize``: one streaming pass over typed ledger events into a ``RunSummary``.

Pure (events in, summary out) and order-independent where the ledger is not ordered: files arrive
one after another, so run and fault events may come after the agent events they frame. Memory is
bounded by agents, turns, reconnects and seconds of run time, never by events: latencies go into
log-bucket histograms (``reports.sketch``), the time series into one bucket per second.

Assumption (docs/ledger.md): every event of one agent comes from one process, hence one file, in
the order it was written; the response-id chain is followed per agent on that basis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from reports.ledger import schema as ev
from reports.ledger.reader import UnknownEvent
from reports.summary.connections import Connections
from reports.summary.dispatch import Dispatches
from reports.summary.faults import Faults
from reports.summary.health import Health
from reports.summary.model import Dist, RunSummary
from reports.summary.run import RunFrame
from reports.summary.timeline import Timeline
from reports.summary.turns import Turns

__all__ = ["Summarizer", "summarize"]


def summarize(events: Iterable[ev.Event | UnknownEvent]) -> RunSummary:
    """Aggregate ledger events (any file order) into a ``RunSummary``. Pure; one pass."""
    acc = _Pass()
    feed = acc.feed
    for e in events:
        feed(e)
    return acc.finish()


class Summarizer:
    """``summarize`` fed one event at a time, with a ``RunSummary`` of what came so far at any moment
    (the web UI's live gauges: the same logic as the report, so both agree)."""

    def __init__(self) -> None:
        self._pass = _Pass()

    def feed(self, e: ev.Event | UnknownEvent) -> None:
        self._pass.feed(e)

    def summary(self) -> RunSummary:
        return self._pass.finish()


class _Pass:
    """The state of one ``summarize`` pass: one collector per concern, and a dispatch table by kind."""

    def __init__(self) -> None:
        self.events = 0
        self.agent_events = 0
        self.min_mono = math.inf
        self.max_mono = -math.inf
        self.agents: set[str] = set()
        self.timeline = Timeline()
        self.run = RunFrame()
        self.faults = Faults()
        self.health = Health()
        self.turns = Turns(self.timeline, self.agents)
        self.conns = Connections(self.timeline, self.agents)
        self.dispatches = Dispatches()
        run, faults, turns, conns = self.run, self.faults, self.turns, self.conns
        self.agent_handlers: dict[type[Any], Callable[[Any], None]] = {
            ev.TurnEnd: turns.end, ev.TurnStart: turns.start, ev.TurnAbandon: turns.abandon,
            ev.ConnectOk: conns.connect_ok, ev.ConnectAttempt: conns.connect_attempt,
            ev.Disconnect: conns.disconnect, ev.ReconnectGiveup: conns.mark, ev.AgentStop: self._agent_stop,
            ev.ConnectFail: conns.connect_fail, ev.AgentStart: self._agent_start, ev.Recovery: conns.recovery,
            ev.TransportFallback: turns.fallback,
        }
        self.other_handlers: dict[type[Any], Callable[[Any], None]] = {
            ev.RunStart: run.run_start, ev.RunStop: run.run_stop, ev.TestStart: run.test_started,
            ev.TestStop: run.test_stopped, ev.FaultApply: faults.apply, ev.FaultRemove: faults.remove,
            ev.FaultError: faults.error, ev.HealthSample: self.health.sample,
            ev.TimelineStart: faults.timeline_start, ev.TimelineStop: faults.timeline_stop,
            ev.AgentRefused: self.dispatches.agent_refused,
        }

    def _agent_start(self, e: ev.AgentStart) -> None:
        self.conns.agent_start(e)
        self.dispatches.agent_start(e)

    def _agent_stop(self, e: ev.AgentStop) -> None:
        self.conns.mark(e)
        self.dispatches.agent_stop(e)

    def feed(self, e: ev.Event | UnknownEvent) -> None:
        self.events += 1
        mono = e.mono
        if mono is None or not math.isfinite(mono):
            return  # without a monotonic time an event cannot be placed
        if mono < self.min_mono:
            self.min_mono = mono
        if mono > self.max_mono:
            self.max_mono = mono
        handler = self.agent_handlers.get(type(e))
        if handler is not None:
            self.agent_events += 1
            handler(e)
            return
        handler = self.other_handlers.get(type(e))
        if handler is not None:
            handler(e)

    def finish(self) -> RunSummary:
        have_time = self.min_mono <= self.max_mono
        t0 = self.run.origin(self.min_mono if have_time else None)
        end = self.run.end(self.max_mono if have_time else None)
        base = t0 or 0.0
        faults = self.faults.windows(base, self.max_mono)
        turns, conns, timeline = self.turns, self.conns, self.timeline
        return RunSummary(
            run=self.run.info(),
            t0_mono=t0,
            duration_s=max(0.0, (end or 0.0) - base) if t0 is not None else 0.0,
            events=self.events,
            agent_events=self.agent_events,
            agents=len(self.agents),
            sessions=len(turns.sessions),
            turns=len(turns.turns),
            turn_attempts=turns.starts,
            outcomes=dict(sorted(turns.outcomes.items())),
            ttft_ms=Dist.of(timeline.ttft()),
            latency_ms=Dist.of(timeline.latency()),
            gap_p50_ms=Dist.of(turns.gap50),
            gap_p99_ms=Dist.of(turns.gap99),
            tokens_per_s=Dist.of(turns.tps),
            output_tokens=turns.output_tokens,
            input_tokens=turns.input_tokens,
            cached_tokens=turns.cached_tokens,
            cache=timeline.cache_totals(),
            recovery_modes={m.value: conns.recovery_modes[m] for m in ev.RecoveryMode},
            faults=faults,
            disconnects=conns.disconnects(base, faults),
            close_codes=dict(sorted(conns.close_codes.items(), key=lambda kv: (kv[0].closed_by, str(kv[0].code)))),
            connect_failures=dict(conns.connect_failures.most_common()),
            integrity=turns.integrity(conns.failed_recoveries),
            timeline=timeline.seconds(base),
            transports=dict(sorted(turns.transports.items())),
            fallbacks=dict(sorted(turns.fallbacks.items())),
            health=self.health.series(base),
            timeline_plays=self.faults.plays(),
            dispatch=self.dispatches.dispatch(self.run.info(), base),
        )


