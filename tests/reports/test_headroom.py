"""Load-generator headroom: the ``generator.headroom`` check on synthetic runs with CPU samples."""

from __future__ import annotations

from reports.headroom import BOX, NOTE, headroom
from reports.ledger import iter_ledger
from reports.report import build_report, render_terminal
from reports.summary import summarize
from reports.verify import FAIL, PASS, SKIP, Thresholds, verify

N = 24  # samples in the builder's 120 s test, one every 5 s (t = 5 .. 120)


def flat(v: float, n: int = N) -> tuple[float, ...]:
    return (v,) * n


def burst(base: float, hot: dict[int, float], n: int = N) -> tuple[float, ...]:
    """``base`` everywhere but the samples ``hot`` (index -> CPU; index k is the sample at t = 5 (k + 1))."""
    return tuple(hot.get(k, base) for k in range(n))


def check_of(run_dir, th: Thresholds | None = None):
    checks = {c.name: c for c in verify(summarize(iter_ledger(run_dir)), th or Thresholds())}
    return checks["generator.headroom"]


def test_a_run_with_headroom_passes_and_lists_every_peak(make_run):
    run = make_run(cpu={"locust-master": flat(45.0), "server": flat(30.0), "proxy": flat(20.0)}, cpu_count=2)
    c = check_of(run)
    assert c.verdict == PASS, c
    assert c.observed == 45.0 and c.limit == 90.0
    assert "peak CPU: locust-master 45%, proxy 20%, server 30%" in c.detail
    assert "box peak 0.95 of 2 cores (48%, limit 90%)" in c.detail


def test_a_saturated_locust_process_fails_naming_it_its_window_and_peak(make_run):
    hot = burst(30.0, {8: 95.0, 9: 97.0, 10: 99.0, 11: 96.0})  # t = 45 .. 60: the interval 40-60 s
    run = make_run(cpu={"locust-master": flat(10.0), "locust-worker-1": flat(35.0), "locust-worker-2": hot,
                        "server": flat(25.0)}, cpu_count=4)
    c = check_of(run)
    assert c.verdict == FAIL, c
    assert (c.observed, c.limit, c.unit) == (99.0, 90.0, "% CPU")
    assert c.detail.startswith("load generator saturated: locust-worker-2 at >= 90% CPU over 40-60 s of the "
                               "test (4 samples), peak 99.0%; " + NOTE)
    assert "locust-worker-1" not in c.detail.split(NOTE)[0]
    # the report's headline says it, so the latency figures are not read as the target's
    text = render_terminal(build_report(run))
    head = text.splitlines()[:4]
    assert any(line.startswith("!!! LOAD GENERATOR SATURATED (generator.headroom failed): locust-worker-2 at "
                               ">= 90% CPU over 40-60 s") and NOTE in line for line in head), head


def test_the_embedded_server_sharing_the_box_counts_too(make_run):
    c = check_of(make_run(cpu={"locust-master": flat(40.0), "server": burst(50.0, {3: 100.0, 4: 100.0})}))
    assert c.verdict == FAIL and "server at >= 90% CPU over 15-25 s" in c.detail, c


def test_one_hot_sample_is_not_saturation_unless_the_minimum_span_is_lowered(make_run):
    run = make_run(cpu={"locust-master": burst(40.0, {5: 99.0, 12: 99.0})}, cpu_count=2)
    assert check_of(run).verdict == PASS
    c = check_of(run, Thresholds(headroom_min_samples=1))
    assert c.verdict == FAIL
    assert "over 25-30 s of the test (1 samples)" in c.detail and "over 60-65 s" in c.detail, c


def test_a_saturated_box_fails_although_no_process_is(make_run):
    # 40 + 30 + 20 = 90% of one core = 45% of 2 cores; at t = 70 .. 85, 80 + 60 + 50 = 190% = 95% of the box
    hot = range(13, 17)
    run = make_run(cpu={"locust-master": burst(40.0, dict.fromkeys(hot, 80.0)),
                        "server": burst(30.0, dict.fromkeys(hot, 60.0)),
                        "proxy": burst(20.0, dict.fromkeys(hot, 50.0))}, cpu_count=2)
    c = check_of(run)
    assert c.verdict == FAIL, c
    assert (c.observed, c.limit) == (95.0, 90.0)
    assert c.detail.startswith("load generator saturated: the box at >= 90% of its 2 cores over 65-85 s of the "
                               "test (4 samples), peak 1.90 cores (95%); " + NOTE), c
    h = headroom(summarize(iter_ledger(run)), cpu_pct=90.0, box_pct=90.0, min_samples=2)
    assert [s.component for s in h.saturations] == [BOX]
    # without the core count (an older ledger) the box is not judged, and the check says so
    old = check_of(make_run(cpu={"locust-master": flat(80.0), "server": flat(60.0), "proxy": flat(50.0)}))
    assert old.verdict == PASS and "box not judged: core count not recorded" in old.detail, old


def test_samples_outside_the_test_do_not_count(make_run):
    # the builder's test runs 0-120 s; saturation at t = 125 .. 140 is after its stop
    c = check_of(make_run(cpu={"locust-master": flat(40.0) + flat(99.0, 4)}, cpu_count=2))
    assert c.verdict == PASS, c


def test_too_few_or_no_samples_skip_with_the_reason(make_run):
    none = check_of(make_run())
    assert none.verdict == SKIP and "no health samples" in none.detail
    few = check_of(make_run(cpu={"locust-master": (99.0,)}))
    assert few.verdict == SKIP, few
    assert few.detail.startswith("too few CPU samples during the test to judge saturation (need 2 consecutive): "
                                 "locust-master (1)"), few
    # a component with too few samples next to judged ones is named as not judged
    mixed = check_of(make_run(cpu={"locust-master": flat(40.0), "locust-worker-3": (50.0,)}))
    assert mixed.verdict == PASS and "not judged (too few samples): locust-worker-3 (1)" in mixed.detail


def test_the_profile_checks_override_or_disable_the_limits(make_run):
    th = Thresholds.from_mapping({"headroom_cpu_pct": 99.5, "headroom_box_pct": 95, "headroom_min_samples": 3})
    assert (th.headroom_cpu_pct, th.headroom_box_pct, th.headroom_min_samples) == (99.5, 95.0, 3)
    cpu = {"locust-master": burst(40.0, {8: 95.0, 9: 99.0})}
    assert check_of(make_run(cpu=cpu)).verdict == FAIL
    raised = build_report(make_run(cpu=cpu, checks={"headroom_cpu_pct": 99.5}))
    c = {c.name: c for c in raised.checks}["generator.headroom"]
    assert c.verdict == PASS and c.limit == 99.5, c
    off = build_report(make_run(cpu=cpu, checks={"headroom_cpu_pct": None, "headroom_box_pct": None}))
    c = {c.name: c for c in off.checks}["generator.headroom"]
    assert c.verdict == SKIP and c.detail == "disabled (no limit)", c
