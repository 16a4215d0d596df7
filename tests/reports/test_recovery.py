"""Recovery in time: when a fault's latency counts as back (reports/recovery.py)."""

from __future__ import annotations

from reports.recovery import _recovery
from reports.sketch import LogHistogram
from reports.summary.model import RecoveryCounts, Second
from reports.thresholds import Thresholds


def second(t: int, turns: int, latency_ms: float, ttft_ms: float) -> Second:
    lat, ttft = LogHistogram(), LogHistogram()
    for _ in range(turns):
        lat.add(latency_ms)
        ttft.add(ttft_ms)
    return Second(t=t, connected=0, connects=0, disconnects=0, reconnects=0, turns=turns, failures=0, latency=lat,
                  ttft=ttft, cache_hit=0, cache_store=0, cache_miss=0, recoveries=RecoveryCounts())


def timeline() -> dict[int, Second]:
    """100 turns/s at 100/50 ms before a mass drop at 60 s; 2 stragglers a second at baseline latency
    for 5 s after it (turns read from frames that arrived before the drop), nothing while the agents
    reconnect, then the full rate at 400/300 ms (hydrates) until 90 s, then back at 100/50 ms."""
    out = {t: second(t, 100, 100.0, 50.0) for t in range(0, 60)}
    out.update({t: second(t, 2, 100.0, 50.0) for t in range(61, 66)})
    out.update({t: second(t, 100, 400.0, 300.0) for t in range(70, 90)})
    out.update({t: second(t, 100, 100.0, 50.0) for t in range(90, 120)})
    return out


def test_a_few_stragglers_right_after_a_drop_are_not_a_recovery():
    status, after = _recovery(60.5, 100.0, 50.0, 100.0, timeline(), 119, Thresholds(recovery_max_s=60.0))
    assert status == "recovered"
    assert after is not None and 29 <= after <= 30  # at 90 s, when the full rate came back fast


def test_the_rate_share_is_a_threshold():
    """At 0 % any turn counts, as before: the stragglers read as a recovery 0.5 s after the drop."""
    status, after = _recovery(60.5, 100.0, 50.0, 100.0, timeline(), 119,
                              Thresholds(recovery_max_s=60.0, recovery_min_rate_pct=0.0))
    assert status == "recovered" and after is not None and after < 1


def test_a_slow_run_needs_only_one_turn():
    """A baseline of one turn every 10 s: one fast turn in the window is enough."""
    seconds = {t: second(t, 1, 100.0, 50.0) for t in range(0, 60, 10)}
    seconds[70] = second(70, 1, 100.0, 50.0)
    status, after = _recovery(60.5, 100.0, 50.0, 0.1, seconds, 80, Thresholds(recovery_max_s=60.0))
    assert status == "recovered" and after is not None and 7 <= after <= 10
