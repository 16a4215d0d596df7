"""Two reports side by side: check by check, then metric by metric (pure; render with tabulate).

A comparison fails (``agentsoak compare`` exits 1) when a check flips to FAIL, or when a gated metric
(``reports.history.metrics``) worsens from A to B past its ``--threshold``: ``NAME=10%`` (relative to
A's value; from a value of 0 any worsening is past it) or ``NAME=50`` (absolute, in the metric's unit;
ratios as fractions, e.g. ``error_rate=0.01``).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from reports.errors import ReportError
from reports.history.metrics import BY_NAME, METRICS, Metric, run_metrics
from reports.model import Report
from reports.tables import fmt
from reports.verify import FAIL

__all__ = ["CheckDiff", "MetricDiff", "Threshold", "ThresholdSyntaxError", "GatedDiff", "Comparison", "compare",
           "render_comparison", "comparison_dict"]


class ThresholdSyntaxError(ReportError, ValueError):
    """A ``--threshold`` that is not ``METRIC=N%`` or ``METRIC=N`` with a known metric."""


@dataclass(frozen=True)
class Threshold:
    """How much worse B may be than A on one metric: a fraction of A (``relative``) or an absolute amount."""

    metric: Metric
    amount: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """``ttft_p95_ms=10%`` or ``lost_turns=0``; raises ``ThresholdSyntaxError`` naming the problem."""
        name, sep, raw = text.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise ThresholdSyntaxError(f"--threshold {text!r}: expected METRIC=N% or METRIC=N")
        metric = BY_NAME.get(name)
        if metric is None:
            near = difflib.get_close_matches(name, BY_NAME, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ThresholdSyntaxError(f"--threshold {text!r}: unknown metric {name!r}{hint}; "
                                       f"known: {', '.join(BY_NAME)}")
        relative = raw.endswith("%")
        try:
            amount = float(raw[:-1] if relative else raw)
        except ValueError:
            raise ThresholdSyntaxError(f"--threshold {text!r}: {raw!r} is not a number or a percentage") from None
        if not math.isfinite(amount) or amount < 0:
            raise ThresholdSyntaxError(f"--threshold {text!r}: the amount must be a finite number >= 0")
        return cls(metric, amount / 100.0 if relative else amount, relative)

    def allowed(self, a: float) -> float:
        """The largest worsening from ``a`` still within the threshold."""
        return self.amount * abs(a) if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else self.metric.fmt(self.amount, signed=True)


@dataclass(frozen=True)
class CheckDiff:
    name: str
    verdict_a: str | None  # None: the check does not exist in that run
    verdict_b: str | None
    observed_a: float | int | None
    observed_b: float | int | None

    @property
    def regressed(self) -> bool:
        return self.verdict_b == FAIL and self.verdict_a != FAIL

    @property
    def changed(self) -> bool:
        return self.verdict_a != self.verdict_b or self.observed_a != self.observed_b


@dataclass(frozen=True)
class MetricDiff:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def pct(self) -> float | None:
        return None if self.delta is None or not self.a else 100.0 * self.delta / abs(self.a)


@dataclass(frozen=True)
class GatedDiff:
    """One gated metric of A and B, with its threshold when one was given."""

    metric: Metric
    a: float | None
    b: float | None
    threshold: Threshold | None = None

    @property
    def worsening(self) -> float | None:
        """How much worse B is than A in the metric's unit (negative: better); None without both."""
        return None if self.a is None or self.b is None else self.metric.worsening(self.a, self.b)

    @property
    def exceeded(self) -> bool:
        """B is worse than A by more than the threshold allows."""
        w = self.worsening
        return self.threshold is not None and w is not None and self.a is not None and \
            w > self.threshold.allowed(self.a)

    @property
    def status(self) -> str:
        if self.threshold is None:
            return ""
        if self.worsening is None:
            return "n/a"  # not measured in A or B: nothing to hold to the threshold
        return "EXCEEDED" if self.exceeded else "ok"


@dataclass(frozen=True)
class Comparison:
    name_a: str
    name_b: str
    checks: tuple[CheckDiff, ...]
    metrics: tuple[MetricDiff, ...]
    gated: tuple[GatedDiff, ...] = ()

    @property
    def regressions(self) -> tuple[CheckDiff, ...]:
        return tuple(c for c in self.checks if c.regressed)

    @property
    def exceeded(self) -> tuple[GatedDiff, ...]:
        """Gated metrics that worsened past their threshold."""
        return tuple(g for g in self.gated if g.exceeded)

    @property
    def failed(self) -> bool:
        """A check flipped to FAIL, or a metric worsened past its threshold (exit 1)."""
        return bool(self.regressions or self.exceeded)


def _metrics(r: Report) -> dict[str, float | None]:
    s = r.summary
    out: dict[str, float | None] = {
        "agents": s.agents, "sessions": s.sessions, "turns": s.turns,
        "failures": s.failed_turns,
        "output tokens/s": s.output_tokens_per_s,
    }
    for label, d in (("TTFT", s.ttft_ms), ("turn latency", s.latency_ms)):
        for q in ("p50", "p95", "p99"):
            out[f"{label} {q} (ms)"] = getattr(d, q)
    out["inter-token gap p50 (ms)"] = s.gap_p50_ms.p50
    out["inter-token gap p99 (ms)"] = s.gap_p99_ms.p99
    out["cache hits"], out["cache misses"] = s.cache["hit"], s.cache["miss"]
    out["cache hit ratio"] = s.cache_hit_ratio
    out["disconnects"] = len(s.disconnects)
    out["reconnects"] = len(s.reconnect_times_ms)
    for mode, n in s.recovery_modes.items():
        out[f"recovery {mode}"] = n
    return out


def compare(a: Report, b: Report, thresholds: tuple[Threshold, ...] = ()) -> Comparison:
    """Diff two reports: every check of either, every headline metric, every gated metric.

    ``thresholds``: at most one per metric (a later one for the same metric wins).
    """
    ca = {c.name: c for c in a.checks}
    cb = {c.name: c for c in b.checks}
    names = list(ca) + [n for n in cb if n not in ca]
    checks = tuple(
        CheckDiff(n, ca[n].verdict if n in ca else None, cb[n].verdict if n in cb else None,
                  ca[n].observed if n in ca else None, cb[n].observed if n in cb else None)
        for n in names
    )
    ma, mb = _metrics(a), _metrics(b)
    metrics = tuple(MetricDiff(k, ma.get(k), mb.get(k)) for k in list(ma) + [k for k in mb if k not in ma])
    by_metric = {t.metric.name: t for t in thresholds}
    ga, gb = run_metrics(a), run_metrics(b)
    gated = tuple(GatedDiff(m, ga[m.name], gb[m.name], by_metric.get(m.name)) for m in METRICS)
    return Comparison(a.name, b.name, checks, metrics, gated)


def render_comparison(c: Comparison, label_a: str = "A", label_b: str = "B") -> str:
    def verdict(v: str | None) -> str:
        return "-" if v is None else v.upper()

    check_rows = [[("REGRESSED" if d.regressed else "changed" if d.changed else ""), d.name,
                   verdict(d.verdict_a), verdict(d.verdict_b), fmt(d.observed_a), fmt(d.observed_b)]
                  for d in c.checks]
    metric_rows = []
    for m in c.metrics:
        digits = 3 if m.name.endswith("ratio") else 1
        metric_rows.append([m.name, fmt(m.a, digits), fmt(m.b, digits), fmt(m.delta, digits),
                            "-" if m.pct is None else f"{m.pct:+.1f}%"])
    gated_rows = [[g.status, g.metric.name, g.metric.fmt(g.a), g.metric.fmt(g.b),
                   g.metric.fmt(g.worsening, signed=True), "-" if g.threshold is None else str(g.threshold)]
                  for g in c.gated]
    gated = ["", "Gated metrics (worse: how much worse B is than A)",
             tabulate(gated_rows, headers=["", "Metric", label_a, label_b, "worse", "threshold"],
                      disable_numparse=True)] if gated_rows else []
    past = f"; {len(c.exceeded)} metric(s) past their threshold" if any(g.threshold for g in c.gated) else ""
    return "\n".join([
        f"agentsoak compare: {label_a} = {c.name_a}, {label_b} = {c.name_b}; "
        f"{len(c.regressions)} check(s) regressed{past}",
        "",
        "Checks",
        tabulate(check_rows, headers=["", "Check", f"{label_a} verdict", f"{label_b} verdict",
                                      f"{label_a} observed", f"{label_b} observed"], disable_numparse=True),
        "",
        "Metrics",
        tabulate(metric_rows, headers=["Metric", label_a, label_b, "Δ", "Δ%"], disable_numparse=True),
        *gated,
    ]) + "\n"


def comparison_dict(c: Comparison) -> dict[str, Any]:
    """The comparison as plain data (``agentsoak compare --json``)."""
    return {
        "a": c.name_a, "b": c.name_b, "failed": c.failed,
        "checks": [{"name": d.name, "verdict_a": d.verdict_a, "verdict_b": d.verdict_b,
                    "observed_a": d.observed_a, "observed_b": d.observed_b, "regressed": d.regressed}
                   for d in c.checks],
        "metrics": [{"name": m.name, "a": m.a, "b": m.b, "delta": m.delta, "pct": m.pct} for m in c.metrics],
        "gated": [{"metric": g.metric.name, "unit": g.metric.unit, "worse": g.metric.worse, "a": g.a, "b": g.b,
                   "worsening": g.worsening,
                   "threshold": None if g.threshold is None else {
                       "amount": g.threshold.amount, "relative": g.threshold.relative,
                       "allowed": None if g.a is None else g.threshold.allowed(g.a)},
                   "exceeded": g.exceeded, "status": g.status or None} for g in c.gated],
        "regressed_checks": [d.name for d in c.regressions],
        "exceeded_metrics": [g.metric.name for g in c.exceeded],
    }
