"""Recovery in time: for each fault window, the pre-fault baseline and when latency came back.

Pure functions over a ``RunSummary``'s per-second timeline. "Back" means the turn latency p95
*and* the TTFT p95, over ``recovery_hold_s`` consecutive seconds, are within
``recovery_within_pct`` percent above the baseline measured over up to ``baseline_s`` seconds
before the fault (seconds inside another fault window are left out of the baseline), and those
seconds hold at least ``recovery_min_rate_pct`` percent of the baseline's turns per second.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from reports.quantile import nearest_rank
from reports.sketch import LogHistogram
from reports.summary import Dist, RunSummary, Second
from reports.thresholds import Thresholds

__all__ = ["FaultRecovery", "fault_recoveries"]


@dataclass(frozen=True)
class FaultRecovery:
    """What one fault did and how the run came back from it. Times: seconds since test start.

    ``status``: ``recovered``; ``not_recovered`` (not back within ``recovery_max_s``, or never);
    ``unobserved`` (the run ended too soon after the fault to tell); ``no_baseline`` (no completed
    turns before the fault); ``disabled`` (no ``recovery_within_pct`` threshold).
    """

    fault: str
    type: str
    start: float
    end: float
    status: str
    recovered_after_s: float | None
    baseline_turns: int
    baseline_latency_p95_ms: float | None
    baseline_ttft_p95_ms: float | None
    during_latency_p95_ms: float | None
    during_ttft_p95_ms: float | None
    hit_ratio_before: float | None
    hit_ratio_during: float | None
    hit_ratio_after: float | None
    disconnects: int
    reconnects: int
    peak_reconnects_per_s: int
    reconnect_spread_s: float | None  # p90 - p10 of reconnect times: how the jitter spread them
    first_attempt_ms: Dist  # disconnect seen -> first reconnect attempt (backoff + jitter)


def _ratio(seconds: list[Second]) -> float | None:
    hit = sum(s.cache_hit for s in seconds)
    total = hit + sum(s.cache_store + s.cache_miss for s in seconds)
    return hit / total if total else None


def _p95(seconds: list[Second], attr: str) -> tuple[float | None, int]:
    h = LogHistogram.merged(getattr(s, attr) for s in seconds)
    return h.quantile(0.95), h.count


def fault_recoveries(summary: RunSummary, th: Thresholds) -> tuple[FaultRecovery, ...]:
    """One ``FaultRecovery`` per fault window of ``summary`` (pure)."""
    by_t = {s.t: s for s in summary.timeline}
    last_t = summary.timeline[-1].t if summary.timeline else 0
    faults = summary.applied_faults
    out = []
    for f in faults:
        others = [(g.start, g.end) for g in faults if g is not f]

        def inside_other(t: int, others: list[tuple[float, float]] = others) -> bool:
            return any(a < t + 1 and t <= b for a, b in others)

        lo = math.ceil(f.start - th.baseline_s)
        before = [by_t[t] for t in range(lo, math.floor(f.start)) if t in by_t and not inside_other(t)]
        during = [by_t[t] for t in range(math.floor(f.start), math.ceil(f.end) + 1) if t in by_t]
        after_span = th.recovery_max_s if th.recovery_max_s is not None else th.baseline_s
        after_start = math.ceil(f.end)
        after = [by_t[t] for t in range(after_start, after_start + max(1, math.ceil(after_span))) if t in by_t]
        base_lat, base_n = _p95(before, "latency")
        base_ttft, _ = _p95(before, "ttft")
        base_rate = base_n / len(before) if before else 0.0
        status, recovered_after = _recovery(f.end, base_lat, base_ttft, base_rate, by_t, last_t, th)

        mine = [d for d in summary.disconnects if d.fault == f.fault]
        times = sorted(d.at + d.reconnect_ms / 1000.0 for d in mine if d.reconnect_ms is not None)
        per_s = Counter(math.floor(t) for t in times)
        spread = nearest_rank(times, 0.9) - nearest_rank(times, 0.1) if len(times) >= 2 else None
        out.append(FaultRecovery(
            fault=f.fault, type=f.type, start=f.start, end=f.end, status=status,
            recovered_after_s=recovered_after, baseline_turns=base_n,
            baseline_latency_p95_ms=base_lat, baseline_ttft_p95_ms=base_ttft,
            during_latency_p95_ms=_p95(during, "latency")[0], during_ttft_p95_ms=_p95(during, "ttft")[0],
            hit_ratio_before=_ratio(before), hit_ratio_during=_ratio(during), hit_ratio_after=_ratio(after),
            disconnects=len(mine), reconnects=len(times),
            peak_reconnects_per_s=max(per_s.values(), default=0), reconnect_spread_s=spread,
            first_attempt_ms=Dist.of_values(d.first_attempt_ms for d in mine if d.first_attempt_ms is not None),
        ))
    return tuple(out)


def _recovery(
    end: float, base_lat: float | None, base_ttft: float | None, base_rate: float, by_t: dict[int, Second],
    last_t: int, th: Thresholds,
) -> tuple[str, float | None]:
    if th.recovery_within_pct is None:
        return "disabled", None
    if base_lat is None or base_ttft is None:
        return "no_baseline", None
    factor = 1.0 + th.recovery_within_pct / 100.0
    lat_lim, ttft_lim = base_lat * factor, base_ttft * factor
    hold = max(1, math.ceil(th.recovery_hold_s))
    need = max(1, math.ceil(base_rate * hold * th.recovery_min_rate_pct / 100.0))  # turns in the window
    start = math.ceil(end - 1e-9)
    for k in range(start, last_t - hold + 2):
        if th.recovery_max_s is not None and k - end > th.recovery_max_s:
            return "not_recovered", None
        window = [by_t[t] for t in range(k, k + hold) if t in by_t]
        lat, n = _p95(window, "latency")
        ttft, _ = _p95(window, "ttft")
        if n >= need and lat is not None and lat <= lat_lim and ttft is not None and ttft <= ttft_lim:
            return "recovered", max(0.0, k - end)
    if th.recovery_max_s is not None and last_t + 1 - end < th.recovery_max_s:
        return "unobserved", None
    return "not_recovered", None

