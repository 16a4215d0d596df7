"""The metrics a run is gated on: one table row each, and their values for one report.

Each ``Metric`` says which way is worse and the smallest change that counts (a relative floor, a
fraction of the baseline, and an absolute floor in the metric's unit), so that a stable history
(MAD near 0) does not flag a 1 ms wobble. The table is the one place to add a metric: append a row
with its extractor; the gate, the history store (metrics are name/value rows) and ``compare
--threshold`` pick it up by name. Component resource slopes are rows per component role (the
server, the Locust master, the Locust workers, the proxy): a role of several processes gives its
worst (highest) second-half slope, judged with the run's own health thresholds (``reports.slope``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from reports.ledger.schema import FAILED_OUTCOMES, GOOD_OUTCOMES
from reports.model import Report
from reports.quantile import nearest_rank
from reports.slope import component_slopes

__all__ = ["Metric", "METRICS", "BY_NAME", "run_metrics"]


@dataclass(frozen=True)
class Metric:
    """One gated metric. ``worse`` is the direction of a regression; the floors are minimum effect sizes."""

    name: str  # the key in report.json "metrics", in the history and in --threshold
    label: str
    unit: str  # "ms", "turns" or "ratio" (a fraction, shown as %)
    worse: Literal["higher", "lower"]
    rel_floor: float  # a change smaller than this fraction of the baseline is noise
    abs_floor: float  # ... and so is one smaller than this, in ``unit``
    extract: Callable[[Report], float | None]

    def __post_init__(self) -> None:
        # a zero floor would let a stable history (MAD 0) call any change, even 0, a regression
        if not (self.abs_floor > 0 and self.rel_floor >= 0):
            raise ValueError(f"metric {self.name}: abs_floor must be > 0 and rel_floor >= 0")

    @property
    def timing(self) -> bool:
        """A time the load generator measures: it describes the generator when the generator was saturated."""
        return self.unit == "ms"

    def worsening(self, baseline: float, value: float) -> float:
        """How much worse ``value`` is than ``baseline``, in ``unit`` (negative: better)."""
        return value - baseline if self.worse == "higher" else baseline - value

    def fmt(self, value: float | None, *, signed: bool = False) -> str:
        """A value (or a change, ``signed``) in this metric's unit."""
        if value is None:
            return "-"
        sign = "+" if signed else ""
        if self.unit == "ratio":
            return f"{100.0 * value:{sign}.2f}%" if not signed else f"{100.0 * value:+.2f} pp"
        if self.unit == "ms":
            return f"{value:{sign}.0f} ms" if abs(value) >= 10 else f"{value:{sign}.1f} ms"
        return f"{value:{sign}g} {self.unit}"


def _reconnect_p99(r: Report) -> float | None:
    # the same times the reconnect.time_p99_ms check judges: from when the fault cleared
    times = sorted(r.summary.clear_reconnect_times_ms)
    return nearest_rank(times, 0.99) if times else None


def _error_rate(r: Report) -> float | None:
    """Failed or errored turn attempts over attempts with a definite outcome (cuts are retried)."""
    outcomes = r.summary.outcomes
    failed = sum(outcomes.get(o, 0) for o in FAILED_OUTCOMES)
    ended = failed + sum(outcomes.get(o, 0) for o in GOOD_OUTCOMES)
    return failed / ended if ended else None


#: component role -> the test on a component name (``locust-worker-3``, ``proxy-worker-0``)
_ROLES: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    ("server", "server", lambda c: c == "server"),
    ("locust_master", "Locust master", lambda c: c == "locust-master"),
    ("locust_workers", "Locust workers", lambda c: c.startswith("locust-worker-")),
    ("proxy", "proxy", lambda c: c == "proxy" or c.startswith("proxy-worker-")),
)


def _slope_of(role: Callable[[str], bool], attr: str) -> Callable[[Report], float | None]:
    def extract(r: Report) -> float | None:
        th = r.thresholds
        values = [getattr(c, attr) for c in component_slopes(r.summary, min_samples=th.health_min_samples,
                                                             min_window_s=th.health_min_window_s)
                  if role(c.component) and getattr(c, attr) is not None]
        return max(values) if values else None
    return extract


def _health_metrics() -> tuple[Metric, ...]:
    out = []
    for key, label, role in _ROLES:
        out.append(Metric(f"{key}_rss_slope_mb_per_h", f"{label} RSS slope", "MB/h", "higher", 0.5, 10.0,
                          _slope_of(role, "rss_mb_per_h")))
        out.append(Metric(f"{key}_fd_slope_per_h", f"{label} FD slope", "FDs/h", "higher", 0.5, 50.0,
                          _slope_of(role, "fds_per_h")))
    return tuple(out)


METRICS: tuple[Metric, ...] = (
    Metric("reconnect_p99_ms", "reconnect p99", "ms", "higher", 0.25, 100.0, _reconnect_p99),
    Metric("turn_latency_p95_ms", "turn latency p95", "ms", "higher", 0.15, 20.0,
           lambda r: r.summary.latency_ms.p95),
    Metric("ttft_p95_ms", "TTFT p95", "ms", "higher", 0.15, 20.0, lambda r: r.summary.ttft_ms.p95),
    Metric("lost_turns", "lost turns", "turns", "higher", 0.0, 1.0,
           lambda r: float(r.summary.integrity.lost_turns.count)),
    Metric("error_rate", "error rate", "ratio", "higher", 0.5, 0.005, _error_rate),
    Metric("cache_hit_ratio", "cache hit ratio", "ratio", "lower", 0.05, 0.02, lambda r: r.summary.cache_hit_ratio),
    *_health_metrics(),
)
BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}


def run_metrics(report: Report) -> dict[str, float | None]:
    """Every table metric of one report (None where the run did not measure it, e.g. no reconnects)."""
    out: dict[str, float | None] = {}
    for m in METRICS:
        value = m.extract(report)
        out[m.name] = None if value is None else float(value)
    return out
