"""Which agents ran at once: ``agent_start``/``agent_stop`` swept in time, and ``agent_refused``.

A run's agents are the indices 1 .. ``users`` (or ``run_start.agents``); Locust re-dispatching the users
of a worker it thinks is gone starts others beside them. The sweep gives the peak number running at
once and when; agents outside the run's set and the refused users are the over-dispatch itself.
"""

from __future__ import annotations

from reports.ledger import schema as ev
from reports.summary.model import Dispatch, RunInfo

__all__ = ["Dispatches"]


class Dispatches:
    """The agents' starts and stops (by monotonic time) and the users refused an index."""

    def __init__(self) -> None:
        self.starts: dict[str, tuple[float, int | None]] = {}  # agent -> (first start, index)
        self.stops: dict[str, float] = {}  # agent -> last stop
        self.refused: list[ev.AgentRefused] = []

    def agent_start(self, e: ev.AgentStart) -> None:
        if e.agent not in self.starts:
            self.starts[e.agent] = (e.mono, e.index)

    def agent_stop(self, e: ev.AgentStop) -> None:
        self.stops[e.agent] = max(e.mono, self.stops.get(e.agent, e.mono))

    def agent_refused(self, e: ev.AgentRefused) -> None:
        self.refused.append(e)

    def dispatch(self, run: RunInfo, base: float) -> Dispatch:
        """The peak concurrency (an agent runs from its start to its stop, or to the end without one),
        and the agents and refused indices outside the run's set."""
        edges = sorted([(t, 1) for t, _i in self.starts.values()]
                       + [(t, -1) for a, t in self.stops.items() if a in self.starts and t >= self.starts[a][0]])
        running = peak = 0  # (t, -1) sorts before (t, 1): a stop before a start at the same instant
        peak_at: float | None = None
        for t, step in edges:
            running += step
            if running > peak:
                peak, peak_at = running, t
        allowed = set(run.agent_indices) if run.agent_indices is not None else None
        users = run.users

        def outside(index: int | None) -> bool:
            if index is None:
                return False
            return index not in allowed if allowed is not None else users is not None and index > users

        extra = tuple(sorted(a for a, (_t, i) in self.starts.items() if outside(i)))
        workers = tuple(sorted({r.worker for r in self.refused if r.worker}))
        missing = tuple(sorted({w for r in self.refused for w in (r.missing or ())}))
        return Dispatch(peak=peak, peak_at_s=None if peak_at is None else peak_at - base,
                        started=len(self.starts), extra_agents=extra,
                        refused=tuple(sorted({r.index for r in self.refused})), refused_workers=workers,
                        missing_workers=missing)
