"""The Agents tab's live numbers: ledger events in, one JSON-ready snapshot out.

Every event of the current run reaches :meth:`LiveGauges.feed`: the master's (or local runner's) own
through its sink, the workers' through Locust's worker->master messages (:mod:`loadtests.ui.session`).
Counts that the report also shows (recovery modes, cache hit ratio, lost and duplicated turns, TTFT and
turn p95, reconnects per second, fault windows, connected agents per second) come from
:class:`reports.summary.Summarizer`, the report's own pass, so the page and the report agree. Only the
agents' state *now* (connected, reconnecting, gave up) is kept here, from the same events.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from reports.ledger import schema as ev
from reports.summary import RunSummary, Summarizer

__all__ = ["LiveGauges", "RECONNECT_RATE_WINDOW_S", "SERIES_POINTS"]

#: reconnects per second: the mean over the last this many whole seconds
RECONNECT_RATE_WINDOW_S = 5
#: the connected-agents chart keeps at most this many seconds (the most recent)
SERIES_POINTS = 600
#: how long one summary is reused (the page polls about once a second; several tabs may poll)
_SUMMARY_TTL_S = 0.5


class LiveGauges:
    """Live state of one run; :meth:`reset` at each swarm's start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset(None)

    def reset(self, run_id: str | None) -> None:
        with self._lock:
            self.run_id = run_id
            self._summarizer = Summarizer()
            self._states: dict[str, str] = {}  # agent -> connected | reconnecting | gave_up
            self._cached: tuple[float, RunSummary] | None = None
            self._manual: set[str] = set()

    def feed(self, event: ev.Event | Any) -> None:
        with self._lock:
            self._summarizer.feed(event)
            self._cached = None
            agent = getattr(event, "agent", None)
            if isinstance(event, ev.ConnectOk):
                self._states[agent] = "connected"
            elif isinstance(event, ev.Disconnect):
                self._states[agent] = "reconnecting"
            elif isinstance(event, ev.ReconnectGiveup):
                self._states[agent] = "gave_up"
            elif isinstance(event, ev.AgentStop):
                self._states.pop(agent, None)
            elif isinstance(event, ev.FaultApply) and event.manual:
                self._manual.add(event.fault)

    __call__ = feed

    def summary(self) -> RunSummary:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > _SUMMARY_TTL_S:
                self._cached = (now, self._summarizer.summary())
            return self._cached[1]

    def snapshot(self) -> dict[str, Any]:
        """The Agents tab's numbers (see docs: ``GET /agentsoak/gauges``)."""
        s = self.summary()
        with self._lock:
            states = list(self._states.values())
            manual = set(self._manual)
        seconds = s.timeline
        done = seconds[:-1]  # the last second is still filling
        recent = done[-RECONNECT_RATE_WINDOW_S:]
        rate = sum(x.reconnects for x in recent) / len(recent) if recent else 0.0
        return {
            "run": self.run_id,
            "agents": {
                "connected": states.count("connected"),
                "reconnecting": states.count("reconnecting"),
                "gave_up": states.count("gave_up"),
                "started": s.agents,
            },
            "reconnects_per_s": round(rate, 2),
            "reconnects": sum(x.reconnects for x in seconds),
            "recovery_modes": dict(s.recovery_modes),
            "cache": dict(s.cache),
            "cache_hit_ratio": _num(s.cache_hit_ratio, 4),
            "turns": s.turns,
            "lost_turns": s.integrity.lost_turns.count,
            "duplicated_turns": s.integrity.duplicated_turns.count,
            "ttft_p95_ms": _num(s.ttft_ms.p95, 1),
            "turn_p95_ms": _num(s.latency_ms.p95, 1),
            "series": [[x.t, x.connected] for x in seconds[-SERIES_POINTS:]],
            "faults": [{"fault": f.fault, "type": f.type, "start": _num(f.start, 2), "end": _num(f.end, 2),
                        "active": not f.removed, "manual": f.fault in manual, "errors": list(f.errors)}
                       for f in s.faults],
        }


def _num(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)
