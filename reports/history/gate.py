"""Regression gate: one run against the median and MAD of its profile's recent runs (pure).

For each metric of ``reports.history.metrics``, the baseline is the last ``last`` (default 7)
earlier runs of the same profile that did not break, and a run regresses on a metric when

    worsening >= max(K * 1.4826 * MAD, rel_floor * |median|, abs_floor)        (K = 3)

where ``worsening`` is the change in the metric's bad direction, and 1.4826 * MAD estimates the
standard deviation of normal noise without letting one wild night move it. The floors are the
minimum effect sizes: on a quiet history (MAD 0) a change must still be large enough to matter.
docs/nightly.md says why this method and not change-point detection.

Verdicts and exit codes (``agentsoak gate``): PASS 0; REGRESSION 1 (names metric, baseline and
change); BROKEN 2 (the run itself broke: its numbers are not judged); UNKNOWN 3 (too little history,
or a metric the baseline has that this run did not measure). UNKNOWN is never a pass.

A run whose load generator was saturated (its ``generator.headroom`` check failed) has timing
metrics (``Metric.timing``) that describe the generator, not the target: they are not judged
(status ``saturated``), so the run is at best UNKNOWN, and REGRESSION only on another metric. Such
a run's timing values are left out of later runs' baselines too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reports.headroom import CHECK as HEADROOM
from reports.headroom import NOTE
from reports.history.metrics import METRICS, Metric
from reports.history.record import RunRecord

__all__ = ["PASS", "REGRESSION", "BROKEN", "UNKNOWN", "EXIT_CODES", "DEFAULT_LAST", "DEFAULT_MIN_HISTORY",
           "MAD_K", "Baseline", "MetricGate", "GateResult", "median", "mad", "baseline_runs", "judge", "gate",
           "saturated"]

PASS, REGRESSION, BROKEN, UNKNOWN = "PASS", "REGRESSION", "BROKEN", "UNKNOWN"
EXIT_CODES = {PASS: 0, REGRESSION: 1, BROKEN: 2, UNKNOWN: 3}
DEFAULT_LAST = 7
DEFAULT_MIN_HISTORY = 5
MAD_K = 3.0
MAD_SCALE = 1.4826  # MAD -> standard deviation for normally distributed noise


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence (the mean of the middle two for an even count)."""
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad(values: Sequence[float]) -> float:
    """The median absolute deviation from the median."""
    m = median(values)
    return median([abs(v - m) for v in values])


@dataclass(frozen=True)
class Baseline:
    """A metric's recent history: median, MAD and how many runs gave a value."""

    median: float
    mad: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Baseline:
        return cls(median(values), mad(values), len(values))


# per-metric status: ok | regressed | insufficient (too few baseline values) | missing (this run has no
# value but the baseline does) | unmeasured (neither has a value: nothing to judge, e.g. no reconnects) |
# saturated (a timing metric of a run whose load generator was saturated: not judged)
@dataclass(frozen=True)
class MetricGate:
    """One metric's judgement."""

    metric: Metric
    status: str
    value: float | None
    baseline: Baseline | None
    min_history: int
    change: float | None = None  # worsening in the metric's unit (negative: better)
    allowed: float | None = None  # the largest worsening still counted as noise is just below this

    @property
    def change_pct(self) -> float | None:
        if self.change is None or self.baseline is None or not self.baseline.median:
            return None
        return 100.0 * self.change / abs(self.baseline.median)

    def describe(self) -> str:
        """One line: the metric, the value, the baseline and the change."""
        m, b = self.metric, self.baseline
        if self.status == "unmeasured":
            return f"{m.name}: not measured in this run nor in its history"
        if self.status == "missing":
            return f"{m.name}: not measured in this run, but in {b.n if b else 0} baseline run(s)"
        if self.status == "saturated":
            return (f"{m.name}: {m.fmt(self.value)}; not judged: the load generator was saturated "
                    f"({HEADROOM} failed), and {NOTE}")
        have = b.n if b else 0
        if self.status == "insufficient":
            return (f"{m.name}: {m.fmt(self.value)}; insufficient history: {have} of {self.min_history} runs")
        assert b is not None and self.change is not None and self.allowed is not None
        pct = "" if self.change_pct is None else f" ({self.change_pct:+.0f}%)"
        word = "worse" if self.change > 0 else "better" if self.change < 0 else "no change"
        return (f"{m.name}: {m.fmt(self.value)} vs baseline median {m.fmt(b.median)} (MAD {m.fmt(b.mad)}, "
                f"n={b.n}): {m.fmt(self.change, signed=True)}{pct} {word}, regression from "
                f"{m.fmt(self.allowed, signed=True)}")

    def to_dict(self) -> dict[str, Any]:
        b = self.baseline
        return {"metric": self.metric.name, "status": self.status, "value": self.value,
                "baseline": None if b is None else {"median": b.median, "mad": b.mad, "n": b.n},
                "change": self.change, "change_pct": self.change_pct, "allowed": self.allowed,
                "worse": self.metric.worse, "unit": self.metric.unit, "reason": self.describe()}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict for one run, with every metric's judgement and the runs it compared with."""

    run_key: str
    profile: str
    verdict: str
    metrics: tuple[MetricGate, ...]
    baseline: tuple[str, ...]  # run keys of the baseline runs, oldest first
    last: int
    min_history: int
    notes: tuple[str, ...] = ()
    generator_saturated: bool = False  # this run's generator.headroom check failed

    @property
    def unjudged_timing(self) -> tuple[MetricGate, ...]:
        return tuple(g for g in self.metrics if g.status == "saturated")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def regressions(self) -> tuple[MetricGate, ...]:
        return tuple(g for g in self.metrics if g.status == "regressed")

    @property
    def headline(self) -> str:
        """The one-line reason, as a nightly job's log shows it."""
        n = len(self.baseline)
        if self.verdict == BROKEN:
            return f"gate BROKEN: run {self.run_key} broke; its metrics are not judged"
        sat = ""
        if self.generator_saturated:
            sat = (f"the load generator was saturated in run {self.run_key} ({HEADROOM} failed): "
                   f"{', '.join(g.metric.name for g in self.unjudged_timing) or 'no timing metric'} not judged, "
                   f"as {NOTE}")
        if self.verdict == REGRESSION:
            names = ", ".join(g.metric.name for g in self.regressions)
            return (f"gate REGRESSION: {names} regressed against the last {n} run(s) of profile "
                    f"{self.profile}; " + "; ".join(g.describe() for g in self.regressions)
                    + (f"; {sat}" if sat else ""))
        if self.verdict == UNKNOWN and sat:
            return f"gate UNKNOWN: {sat}"
        if self.verdict == UNKNOWN:
            if n < self.min_history:
                return (f"gate UNKNOWN: insufficient history: {n} of {self.min_history} runs of profile "
                        f"{self.profile}")
            undecided = [g.metric.name for g in self.metrics if g.status in ("insufficient", "missing")]
            return (f"gate UNKNOWN: cannot judge {', '.join(undecided) or 'any metric'} against the last {n} "
                    f"run(s) of profile {self.profile}")
        judged = sum(1 for g in self.metrics if g.status == "ok")
        return f"gate PASS: {judged} metric(s) within noise of the last {n} run(s) of profile {self.profile}"

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_key, "profile": self.profile, "verdict": self.verdict, "exit_code": self.exit_code,
                "headline": self.headline, "last": self.last, "min_history": self.min_history,
                "baseline_runs": list(self.baseline), "metrics": [g.to_dict() for g in self.metrics],
                "notes": list(self.notes), "generator_saturated": self.generator_saturated}


def saturated(run: RunRecord) -> bool:
    """Whether ``run``'s load generator was saturated (its ``generator.headroom`` check failed)."""
    return any(c.name == HEADROOM and c.verdict == "fail" for c in run.checks)


def baseline_runs(current: RunRecord, history: Sequence[RunRecord], last: int) -> list[RunRecord]:
    """The ``last`` runs of the current run's profile before it (not itself, none that broke), oldest first."""
    earlier = [r for r in history
               if r.profile == current.profile and r.run_key != current.run_key and r.verdict != BROKEN
               and (not current.order_key or r.order_key <= current.order_key)]
    earlier.sort(key=lambda r: r.order_key)
    return earlier[-last:] if last > 0 else []


def judge(metric: Metric, value: float | None, history: Sequence[float | None], *,
          min_history: int = DEFAULT_MIN_HISTORY, k: float = MAD_K) -> MetricGate:
    """One metric of one run against its history's values (None where a run did not measure it)."""
    values = [v for v in history if v is not None]
    base = Baseline.of(values) if values else None
    if value is None:
        return MetricGate(metric, "missing" if values else "unmeasured", None, base, min_history)
    if len(values) < min_history or base is None:
        return MetricGate(metric, "insufficient", value, base, min_history)
    change = metric.worsening(base.median, value)
    allowed = max(k * MAD_SCALE * base.mad, metric.rel_floor * abs(base.median), metric.abs_floor)
    return MetricGate(metric, "regressed" if change >= allowed else "ok", value, base, min_history, change, allowed)


def gate(current: RunRecord, history: Sequence[RunRecord], *, last: int = DEFAULT_LAST,
         min_history: int = DEFAULT_MIN_HISTORY, k: float = MAD_K,
         metrics: Sequence[Metric] = METRICS) -> GateResult:
    """Judge ``current`` against ``history`` (any runs; the baseline is chosen by ``baseline_runs``)."""
    if min_history < 1 or last < min_history:
        raise ValueError(f"need 1 <= min_history <= last, got min_history={min_history}, last={last}")
    base = baseline_runs(current, history, last)
    sat = saturated(current)
    hot = {r.run_key for r in base if saturated(r)}  # their timing values describe their generator

    def one(m: Metric) -> MetricGate:
        g = judge(m, current.metrics.get(m.name), [None if m.timing and r.run_key in hot else r.metrics.get(m.name)
                                                   for r in base], min_history=min_history, k=k)
        if sat and m.timing and g.status != "unmeasured":
            return MetricGate(m, "saturated", g.value, g.baseline, min_history)
        return g

    judged = tuple(one(m) for m in metrics)
    notes = []
    if hot:
        notes.append(f"{len(hot)} baseline run(s) had a saturated load generator ({HEADROOM} failed): their "
                     f"timing metrics are left out of the baseline")
    hashes = {r.profile_hash for r in base if r.profile_hash}
    if current.profile_hash and hashes and current.profile_hash not in hashes:
        notes.append(f"the resolved profile differs from the baseline's (hash {current.profile_hash[:12]} vs "
                     f"{', '.join(sorted(h[:12] for h in hashes))}): a change may come from the profile")
    revisions = [r.meta.target_revision for r in base if r.meta.target_revision]
    if revisions and current.meta.target_revision:
        notes.append(f"target revision {current.meta.target_revision}; baseline from {revisions[0]} "
                     f"to {revisions[-1]}")
    if current.verdict == BROKEN:
        verdict = BROKEN
    elif any(g.status == "regressed" for g in judged):
        verdict = REGRESSION
    elif sat:
        verdict = UNKNOWN
    elif (len(base) < min_history or any(g.status in ("insufficient", "missing") for g in judged)
          or not any(g.status == "ok" for g in judged)):
        verdict = UNKNOWN
    else:
        verdict = PASS
    return GateResult(current.run_key, current.profile, verdict, judged, tuple(r.run_key for r in base),
                      last, min_history, tuple(notes), sat)
