from __future__ import annotations

import pytest

from reports.ledger import iter_ledger
from reports.summary import summarize
from reports.verify import FAIL, PASS, SKIP, Thresholds, verify


def checks_of(run_dir, th: Thresholds | None = None):
    return {c.name: c for c in verify(summarize(iter_ledger(run_dir)), th or Thresholds())}


def test_healthy_run_passes_every_check(make_run):
    checks = checks_of(make_run())
    assert [c.name for c in checks.values() if c.verdict == FAIL] == []
    # the checks that must really have been exercised by the healthy run are PASS, not SKIP
    for name in ("reconnect.unrecovered_agents", "reconnect.time_p95_ms", "reconnect.attempts_max",
                 "recovery.failed", "context.digest_mismatches", "context.response_chain", "turns.lost",
                 "turns.duplicated", "latency.recovery_s", "faults.errors"):
        assert checks[name].verdict == PASS, checks[name]
    assert checks["context.digest_mismatches"].detail.startswith("475 completed turns compared")


BREAKERS = [
    # (scenario knobs, the check that must fail, the agents it must name)
    (dict(never_reconnect=("a1-2",)), "reconnect.unrecovered_agents", ("a1-2",)),
    (dict(give_up=("a1-1",)), "reconnect.unrecovered_agents", ("a1-1",)),
    (dict(mismatch=("a1-1", 10)), "context.digest_mismatches", ("a1-1",)),
    (dict(lost=("a1-2", 20)), "turns.lost", ("a1-2",)),
    (dict(duplicated=("a1-3", 30)), "turns.duplicated", ("a1-3",)),
    (dict(slow_after_s=60.0), "latency.recovery_s", ()),
    (dict(reconnect_ms={"a1-1": 3_000.0, "a1-2": 3_100.0, "a1-3": 3_200.0}), "reconnect.time_p50_ms",
     ("a1-1", "a1-2", "a1-3")),
    (dict(reconnect_ms={"a1-1": 17_000.0}), "reconnect.time_p99_ms", ("a1-1",)),
    (dict(reconnect_ms={"a1-1": 30_000.0}), "reconnect.time_max_ms", ("a1-1",)),
    (dict(half_open=("a1-2", 60_000.0)), "reconnect.half_open_detect_ms", ("a1-2",)),
    (dict(attempts={"a1-0": 7}), "reconnect.attempts_max", ("a1-0",)),
    (dict(failed_recovery="a1-2"), "recovery.failed", ("a1-2",)),
    (dict(chain_break=("a1-1", 15)), "context.response_chain", ("a1-1",)),
    (dict(unanswered_not_found="a1-1"), "context.response_chain", ("a1-1",)),
    (dict(fault_error=True), "faults.errors", ()),
    (dict(digests=False, chain_break=("a1-1", 15)), "context.digest_mismatches", ("a1-1",)),
]


@pytest.mark.parametrize(("knobs", "name", "agents"), BREAKERS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BREAKERS)])
def test_each_check_fails_on_a_ledger_built_to_break_it(make_run, knobs, name, agents):
    checks = checks_of(make_run(**knobs))
    assert checks[name].verdict == FAIL, checks[name]
    assert checks[name].agents == agents
    # a broken ledger breaks what it was built to break, and the healthy checks around it stay quiet
    unexpected = {n for n, c in checks.items() if c.verdict == FAIL} - {name, "context.response_chain",
                                                                         "reconnect.time_max_ms",
                                                                         "reconnect.time_p95_ms",
                                                                         "reconnect.time_p99_ms"}
    assert unexpected == set()


def test_p50_is_not_failed_by_one_slow_reconnect_of_four(make_run):
    c = checks_of(make_run(reconnect_ms={"a1-1": 3_000.0}))["reconnect.time_p50_ms"]
    assert c.verdict == PASS and c.observed == pytest.approx(700.0)  # nearest rank: 2nd of 600/700/750/3000


def test_p95_fails_and_names_only_the_slow_agent(make_run):
    # the 5 s down window stands after the disconnect: 12 s raw is ~7 s after the fault cleared
    c = checks_of(make_run(reconnect_ms={"a1-3": 12_000.0}))["reconnect.time_p95_ms"]
    assert c.verdict == FAIL and c.agents == ("a1-3",) and c.observed == pytest.approx(7_000.0, abs=100)
    assert "waited out a standing fault" in c.detail


def test_time_a_standing_fault_still_stood_is_not_counted_against_reconnect(make_run):
    """A reconnect that had to wait for a 5 s down window is judged from the window's end."""
    c = checks_of(make_run(reconnect_ms={"a1-3": 6_000.0}))["reconnect.time_p95_ms"]
    assert c.verdict == PASS and c.observed < 2_000.0
    assert checks_of(make_run(reconnect_ms={"a1-3": 6_000.0}, fault_len=0.0))[
        "reconnect.time_p95_ms"].verdict == FAIL  # an instantaneous fault: the full 6 s counts


def test_unrecovered_agent_near_the_end_is_exempt_within_grace(make_run):
    # the fault hits 10 s before the test stops: within the 20 s grace the missing reconnect is no failure
    run = make_run(fault_at=110.0, never_reconnect=("a1-2",))
    assert checks_of(run)["reconnect.unrecovered_agents"].verdict == PASS
    assert checks_of(run, Thresholds(reconnect_grace_s=5.0))["reconnect.unrecovered_agents"].verdict == FAIL


def test_digest_fallback_says_so_and_passes_on_clean_protocol_evidence(make_run):
    c = checks_of(make_run(digests=False))["context.digest_mismatches"]
    assert c.verdict == PASS
    assert c.detail.startswith("not available (target sends no digests)")
    assert "1 previous_response_not_found, 1 answered by a full resend" in c.detail


def test_threshold_override_turns_a_pass_into_a_fail_and_none_into_skip(make_run):
    run = make_run()
    assert checks_of(run, Thresholds(reconnect_p95_ms=100.0))["reconnect.time_p95_ms"].verdict == FAIL
    assert checks_of(run, Thresholds(reconnect_p95_ms=None))["reconnect.time_p95_ms"].verdict == SKIP
    assert checks_of(run, Thresholds(recovery_within_pct=None))["latency.recovery_s"].verdict == SKIP
    assert checks_of(run, Thresholds(min_completed_turns=10_000))["turns.completed"].verdict == FAIL


def test_storm_check_enforces_its_limit_when_set(make_run):
    run = make_run()
    assert checks_of(run)["reconnect.storm_peak_per_s"].verdict == SKIP
    c = checks_of(run, Thresholds(reconnect_peak_per_s_max=2))["reconnect.storm_peak_per_s"]
    assert c.verdict == FAIL and c.observed == 4


def test_checks_without_data_skip_instead_of_passing():
    checks = {c.name: c for c in verify(summarize([]), Thresholds())}
    assert checks["reconnect.time_p95_ms"].verdict == SKIP
    assert checks["reconnect.unrecovered_agents"].verdict == SKIP
    assert checks["turns.completed"].verdict == FAIL  # no turn completed: the run did nothing


def test_recovery_within_pct_is_relative_to_the_baseline(make_run):
    # 1500/450 ms vs a 440/112 ms baseline for 60 s: a 400% allowance counts that as recovered at once
    run = make_run(slow_after_s=60.0)
    c = checks_of(run, Thresholds(recovery_within_pct=400.0))["latency.recovery_s"]
    assert c.verdict == PASS and c.observed == 0
    # ... and a longer recovery_max_s lets it be late but recovered (~56 s after the window closed)
    c = checks_of(run, Thresholds(recovery_max_s=90.0))["latency.recovery_s"]
    assert c.verdict == PASS and 50 <= c.observed <= 60
