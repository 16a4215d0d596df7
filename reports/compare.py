"""Two reports side by side: check by check, then metric by metric (pure; render with tabulate)."""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from reports.model import Report
from reports.tables import fmt
from reports.verify import FAIL

__all__ = ["CheckDiff", "MetricDiff", "Comparison", "compare", "render_comparison"]


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
class Comparison:
    name_a: str
    name_b: str
    checks: tuple[CheckDiff, ...]
    metrics: tuple[MetricDiff, ...]

    @property
    def regressions(self) -> tuple[CheckDiff, ...]:
        return tuple(c for c in self.checks if c.regressed)


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


def compare(a: Report, b: Report) -> Comparison:
    """Diff two reports: every check of either, every headline metric."""
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
    return Comparison(a.name, b.name, checks, metrics)


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
    return "\n".join([
        f"agentsoak compare: {label_a} = {c.name_a}, {label_b} = {c.name_b}; {len(c.regressions)} check(s) regressed",
        "",
        "Checks",
        tabulate(check_rows, headers=["", "Check", f"{label_a} verdict", f"{label_b} verdict",
                                      f"{label_a} observed", f"{label_b} observed"], disable_numparse=True),
        "",
        "Metrics",
        tabulate(metric_rows, headers=["Metric", label_a, label_b, "Δ", "Δ%"], disable_numparse=True),
    ]) + "\n"
