"""The regression gate's statistics on synthetic report.json documents: median, MAD, minimum effect
sizes, and too little history reported as UNKNOWN, never as a pass."""

from __future__ import annotations

from typing import Any

import pytest

from reports.history.gate import BROKEN, PASS, REGRESSION, UNKNOWN, gate, judge, mad, median
from reports.history.metrics import BY_NAME, METRICS
from reports.history.record import RecordError, RunRecord

STEADY = {"reconnect_p99_ms": 900.0, "turn_latency_p95_ms": 400.0, "ttft_p95_ms": 100.0, "lost_turns": 0.0,
          "error_rate": 0.001, "cache_hit_ratio": 0.95}


def report_doc(key: str, day: int, *, profile: str = "nightly", verdict: str = "PASS",
               profile_hash: str | None = "h1", revision: str | None = None, saturated: bool = False,
               **metrics: float | None) -> dict[str, Any]:
    """A report.json document as render_json writes it (only what the history reads)."""
    return {
        "run": {"name": profile, "profile": profile, "seed": 42, "dir": f"/runs/{key}", "profile_hash": profile_hash,
                "agentsoak_version": "0.1.0", "host": "ci-1", "target_revision": revision,
                "started_at": f"2026-01-{day:02d}T02:00:00Z", "ended_at": f"2026-01-{day:02d}T04:00:00Z"},
        "metrics": {**STEADY, **metrics},
        "verdict": verdict,
        "exit_code": {"PASS": 0, "FAIL": 1, "BROKEN": 2}[verdict],
        "checks": [{"name": "turns.completed", "verdict": "pass", "observed": 10, "limit": 1, "unit": "turns"}]
        + ([{"name": "generator.headroom", "verdict": "fail", "observed": 99.0, "limit": 90.0, "unit": "% CPU"}]
           if saturated else []),
    }


def record(key: str, day: int, **kw: Any) -> RunRecord:
    return RunRecord.from_report_json(report_doc(key, day, **kw))


def nightly_history(n: int, ttft: list[float] | None = None, **kw: Any) -> list[RunRecord]:
    ttft = ttft or [100.0, 104.0, 97.0, 101.0, 99.0, 103.0, 98.0][:n]
    return [record(f"night{i}", i + 1, ttft_p95_ms=ttft[i % len(ttft)], **kw) for i in range(n)]


def test_median_and_mad():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    # one wild night moves neither: MAD of [1,2,3,4,100] is 1
    assert median([1.0, 2.0, 3.0, 4.0, 100.0]) == 3.0
    assert mad([1.0, 2.0, 3.0, 4.0, 100.0]) == 1.0


def test_a_slowdown_past_the_noise_is_a_regression_naming_metric_baseline_and_change():
    current = record("today", 20, ttft_p95_ms=400.0)
    result = gate(current, nightly_history(7))
    assert result.verdict == REGRESSION and result.exit_code == 1
    assert [g.metric.name for g in result.regressions] == ["ttft_p95_ms"]
    g = result.regressions[0]
    assert g.baseline is not None and (g.baseline.median, g.baseline.mad, g.baseline.n) == (100.0, 2.0, 7)
    assert g.change == pytest.approx(300.0)
    assert "ttft_p95_ms" in result.headline
    assert "400 ms vs baseline median 100 ms (MAD 2.0 ms, n=7): +300 ms (+300%)" in result.headline


def test_noise_within_k_mad_passes():
    # median 100, MAD 2 -> 3 * 1.4826 * 2 = 8.9 ms; the 15% floor (15 ms) and 20 ms floor dominate
    result = gate(record("today", 20, ttft_p95_ms=119.0), nightly_history(7))
    assert result.verdict == PASS and result.exit_code == 0, result.headline
    assert gate(record("today", 20, ttft_p95_ms=120.0), nightly_history(7)).verdict == REGRESSION


def test_noisy_history_widens_the_band():
    """A history that swings by ±40 ms does not flag a +60 ms night (3 robust sigmas is ~178 ms)."""
    noisy = [100.0, 180.0, 60.0, 140.0, 80.0, 170.0, 90.0]
    result = gate(record("today", 20, ttft_p95_ms=160.0 + 60.0), nightly_history(7, noisy))
    ttft = next(g for g in result.metrics if g.metric.name == "ttft_p95_ms")
    assert ttft.status == "ok" and ttft.allowed is not None and ttft.allowed > 150.0


def test_minimum_effect_floors_on_a_perfectly_stable_history():
    """MAD 0: without floors any change would count. 1 extra lost turn does; +10 ms TTFT does not."""
    hist = nightly_history(7, [100.0])
    assert gate(record("today", 20, ttft_p95_ms=110.0), hist).verdict == PASS
    lost = gate(record("today", 20, lost_turns=1.0), hist)
    assert lost.verdict == REGRESSION and [g.metric.name for g in lost.regressions] == ["lost_turns"]


def test_lower_is_worse_for_the_cache_hit_ratio():
    hist = nightly_history(7)
    worse = gate(record("today", 20, cache_hit_ratio=0.80), hist)
    assert [g.metric.name for g in worse.regressions] == ["cache_hit_ratio"]
    assert gate(record("today", 20, cache_hit_ratio=1.0), hist).verdict == PASS  # better is never a regression


@pytest.mark.parametrize("n", [0, 2, 4])
def test_insufficient_history_is_unknown_never_pass(n):
    result = gate(record("today", 20, ttft_p95_ms=100.0), nightly_history(n))
    assert result.verdict == UNKNOWN and result.exit_code == 3
    assert f"insufficient history: {n} of 5 runs" in result.headline
    # ... even with a huge slowdown: nothing is judged on too little history
    assert gate(record("today", 20, ttft_p95_ms=9999.0), nightly_history(n)).verdict == UNKNOWN


def test_min_history_option_lowers_the_bar():
    result = gate(record("today", 20, ttft_p95_ms=400.0), nightly_history(2), min_history=2)
    assert result.verdict == REGRESSION and "against the last 2 run(s)" in result.headline


def test_the_baseline_is_the_last_n_earlier_runs_of_the_same_profile_that_did_not_break():
    hist = nightly_history(10)
    hist += [record("broken", 11, verdict="BROKEN", ttft_p95_ms=5000.0),
             record("other", 12, profile="smoke", ttft_p95_ms=5000.0),
             record("later", 25, ttft_p95_ms=5000.0)]
    current = record("today", 20)
    result = gate(current, [*hist, current], last=7)
    assert result.baseline == tuple(f"night{i}" for i in range(3, 10))
    assert result.verdict == PASS


def test_a_metric_this_run_lacks_but_the_baseline_has_is_unknown():
    result = gate(record("today", 20, reconnect_p99_ms=None), nightly_history(7))
    assert result.verdict == UNKNOWN
    assert "reconnect_p99_ms" in result.headline
    # measured nowhere (a profile without faults has no reconnects): not a reason to withhold a pass
    hist = nightly_history(7, reconnect_p99_ms=None)
    assert gate(record("today", 20, reconnect_p99_ms=None), hist).verdict == PASS


def test_a_broken_run_is_not_judged():
    result = gate(record("today", 20, verdict="BROKEN", ttft_p95_ms=9999.0), nightly_history(7))
    assert result.verdict == BROKEN and result.exit_code == 2


def test_a_changed_profile_is_noted():
    result = gate(record("today", 20, profile_hash="h2", ttft_p95_ms=400.0), nightly_history(7))
    assert any("profile differs" in n for n in result.notes)


def test_judge_by_itself():
    g = judge(BY_NAME["turn_latency_p95_ms"], 500.0, [400.0, None, 410.0, 390.0, 400.0, 405.0], min_history=5)
    assert g.status == "regressed" and g.baseline is not None and g.baseline.n == 5
    assert judge(BY_NAME["turn_latency_p95_ms"], 500.0, [400.0, None, 410.0], min_history=5).status == "insufficient"


def test_every_metric_has_positive_floors():
    assert {m.name for m in METRICS} >= {"reconnect_p99_ms", "turn_latency_p95_ms", "ttft_p95_ms", "lost_turns",
                                         "error_rate", "cache_hit_ratio"}
    assert all(m.abs_floor > 0 for m in METRICS)


def test_a_bad_report_json_names_the_field():
    doc = report_doc("x", 1)
    doc["metrics"]["ttft_p95_ms"] = "fast"
    with pytest.raises(RecordError, match=r"report.json: field metrics.ttft_p95_ms must be a number"):
        RunRecord.from_report_json(doc)
    del doc["run"]
    with pytest.raises(RecordError, match=r"field run is missing"):
        RunRecord.from_report_json(doc)


def test_a_saturated_generator_is_not_read_as_a_latency_regression():
    # the same slowdown that is a REGRESSION from a healthy generator (above) is not judged from a saturated one
    current = record("today", 20, verdict="FAIL", saturated=True, ttft_p95_ms=400.0, turn_latency_p95_ms=2000.0)
    result = gate(current, nightly_history(7))
    assert result.verdict == UNKNOWN and result.exit_code == 3 and result.regressions == ()
    assert result.generator_saturated
    status = {g.metric.name: g.status for g in result.metrics}
    assert status["ttft_p95_ms"] == status["turn_latency_p95_ms"] == status["reconnect_p99_ms"] == "saturated"
    assert status["lost_turns"] == status["error_rate"] == "ok"
    assert result.headline == ("gate UNKNOWN: the load generator was saturated in run today (generator.headroom "
                               "failed): reconnect_p99_ms, turn_latency_p95_ms, ttft_p95_ms not judged, as the "
                               "latency figures then describe the generator, not the target")
    ttft = next(g for g in result.metrics if g.metric.name == "ttft_p95_ms")
    assert ttft.describe().startswith("ttft_p95_ms: 400 ms; not judged: the load generator was saturated")
    assert result.to_dict()["generator_saturated"] is True
    # a generator.headroom check that passed changes nothing
    doc = report_doc("today", 20, ttft_p95_ms=400.0)
    doc["checks"].append({"name": "generator.headroom", "verdict": "pass", "observed": 60.0, "limit": 90.0,
                          "unit": "% CPU"})
    assert gate(RunRecord.from_report_json(doc), nightly_history(7)).verdict == REGRESSION


def test_a_saturated_generator_still_regresses_on_what_it_does_not_time():
    current = record("today", 20, verdict="FAIL", saturated=True, ttft_p95_ms=400.0, lost_turns=5.0)
    result = gate(current, nightly_history(7))
    assert result.verdict == REGRESSION and [g.metric.name for g in result.regressions] == ["lost_turns"]
    assert "ttft_p95_ms not judged" in result.headline


def test_saturated_runs_timing_is_left_out_of_the_baseline():
    # two of seven nights had a saturated generator and slow figures: they must not widen the band
    history = [record(f"night{i}", i + 1, saturated=i in (2, 4), verdict="FAIL" if i in (2, 4) else "PASS",
                      ttft_p95_ms=900.0 if i in (2, 4) else 100.0) for i in range(7)]
    result = gate(record("today", 20, ttft_p95_ms=400.0), history, min_history=5)
    ttft = next(g for g in result.metrics if g.metric.name == "ttft_p95_ms")
    assert ttft.baseline is not None and (ttft.baseline.n, ttft.baseline.median) == (5, 100.0)
    assert result.verdict == REGRESSION
    assert any("2 baseline run(s) had a saturated load generator" in n for n in result.notes)
    lost = next(g for g in result.metrics if g.metric.name == "lost_turns")
    assert lost.baseline is not None and lost.baseline.n == 7
