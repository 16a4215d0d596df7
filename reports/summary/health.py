"""Component health: the orchestrator's ``health_sample`` events, one time series per component.

Memory is one row per sample (a 2 h run sampled every 5 s is 1,440 rows per component).
"""

from __future__ import annotations

from reports.ledger import schema as ev
from reports.summary.model import ComponentSeries

__all__ = ["Health"]


class Health:
    """Collects ``health_sample`` events by component."""

    def __init__(self) -> None:
        self.rows: dict[str, list[ev.HealthSample]] = {}

    def sample(self, e: ev.HealthSample) -> None:
        self.rows.setdefault(e.component, []).append(e)

    def series(self, base: float) -> dict[str, ComponentSeries]:
        """Every component's series, times relative to ``base`` (the test start)."""
        out: dict[str, ComponentSeries] = {}
        for name in sorted(self.rows, key=_order):
            rows = sorted(self.rows[name], key=lambda e: e.mono)
            pids = tuple(dict.fromkeys(e.component_pid for e in rows))
            out[name] = ComponentSeries(
                component=name, pids=pids, t=tuple(round(e.mono - base, 3) for e in rows),
                rss_bytes=tuple(e.rss_bytes for e in rows), fds=tuple(e.fds for e in rows),
                cpu_pct=tuple(e.cpu_pct for e in rows), connections=tuple(e.connections for e in rows),
                established=tuple(e.established for e in rows))
        return out


def _order(name: str) -> tuple[str, int, str]:
    """``locust-worker-10`` after ``locust-worker-9``."""
    head, _, tail = name.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (name, -1, "")
