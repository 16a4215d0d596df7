from __future__ import annotations

import pytest

from reports.ledger import iter_ledger
from reports.summary import summarize
from reports.verify import FAIL, PASS, SKIP, Focus, Thresholds, verify
from tests.reports.builder import down_with_backoff


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
    assert "1 judged against the backoff policy" in c.detail and "1 not on time, judged from the fault's end" in c.detail


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


# -- check details that say what happened (issue 9 §2) ---------------------------------------------------

def test_a_not_found_answered_only_by_a_later_session_is_unanswered(make_run):
    """Full resend off: the agent gives the turn up and starts a new session, whose first turn (full input,
    no previous id) is a new conversation, not the answer."""
    c = checks_of(make_run(not_found_new_session="a1-1"))["context.response_chain"]
    assert c.verdict == FAIL and c.agents == ("a1-1",)
    assert "2 previous_response_not_found, 1 answered by a full resend, 1 not" in c.detail
    assert c.focus == (Focus("a1-1", turn="a1-1/s2/t0"),)


def test_an_instant_fault_is_never_a_standing_fault_to_wait_out(make_run):
    """A `close` fault is over as it applies: a slow reconnect after it is judged by its raw time."""
    checks = checks_of(make_run(fault_type="close", reconnect_ms={"a1-3": 6_000.0},
                                fault_plan=(("drop-all#0", "close", 40.0),)))
    c = checks["reconnect.time_p95_ms"]
    assert c.verdict == FAIL and c.observed == pytest.approx(6_000.0)
    assert "backoff policy" not in c.detail and "4 against the fixed limits" in c.detail
    assert "standing" not in checks["reconnect.time_p50_ms"].detail


def test_an_8s_down_with_sdk_backoff_is_judged_by_the_policy_and_passes(tmp_path):
    """Every agent reconnects on its first attempt after the outage, up to ~7 s after it cleared (backoff)."""
    checks = checks_of(down_with_backoff(tmp_path / "run"))
    for q in ("p50", "p95", "p99", "max"):
        c = checks[f"reconnect.time_{q}_ms"]
        assert c.verdict == PASS and c.observed == pytest.approx(5.0), c  # the connect time alone
    detail = checks["reconnect.time_p50_ms"].detail
    assert ("4 judged against the backoff policy (first attempt after the fault cleared, plus connect time): "
            "all on time; raw p50 13180 ms") in detail
    assert [n for n, c in checks.items() if c.verdict == FAIL] == []


def test_a_reconnect_later_than_its_backoff_allows_fails_and_is_named(tmp_path):
    """An agent that waited 20 s after its last refusal (the policy allows 8 s) is not on time."""
    checks = checks_of(down_with_backoff(tmp_path / "run", late="a1-2"))
    c = checks["reconnect.time_p99_ms"]
    assert c.verdict == FAIL and c.agents == ("a1-2",) and c.observed == pytest.approx(18_775.0, abs=10)
    assert "1 not on time, judged from the fault's end (a1-2)" in c.detail
    assert c.focus == (Focus("a1-2", until=pytest.approx(20.02 + 26.755)),)
    assert checks["reconnect.time_p50_ms"].verdict == PASS  # the other three were on time


def test_lost_turns_say_how_each_was_lost(make_run):
    lost = checks_of(make_run(lost=("a1-2", 20), abandon=("a1-1", 30, "cut_retries_exhausted", 5),
                              not_found_new_session="a1-3"))["turns.lost"]
    assert lost.verdict == FAIL and lost.observed == 3 and lost.agents == ("a1-1", "a1-2", "a1-3")
    assert lost.detail.startswith("3 lost: ")
    for part in ("1 cut 5 times, policy exhausted", "1 cut and not retried",
                 "1 previous_response_not_found, full resend disabled"):
        assert part in lost.detail, lost.detail
    assert "never ended" not in lost.detail


def test_lost_turns_of_an_older_ledger_fall_back_to_the_last_outcome(make_run):
    """No turn_abandon (a ledger written before it existed): the last turn_end says how."""
    lost = checks_of(make_run(lost=("a1-2", 20), unanswered_not_found="a1-1"))["turns.lost"]
    assert lost.observed == 1 and "1 cut and not retried" in lost.detail


def test_faults_applied_fails_when_a_planned_fault_never_applied(make_run):
    plan = (("drop-all#0", "down", 40.0), ("slow-link#0", "latency", 60.0), ("late#0", "close", 130.0))
    c = checks_of(make_run(fault_plan=plan, duration_s=120.0))["faults.applied"]
    assert c.verdict == FAIL and c.observed == 2
    assert c.detail.startswith("1 of 3 planned faults applied; not applied: slow-link#0 (latency at 60 s)")
    assert "late#0 (close at 130 s, after load.duration 120 s: never played)" in c.detail


def test_faults_applied_passes_skips_and_leaves_undue_faults_alone(make_run):
    assert checks_of(make_run())["faults.applied"].verdict == PASS
    assert checks_of(make_run(fault_plan=()))["faults.applied"].verdict == SKIP
    assert checks_of(make_run(fault_plan=None))["faults.applied"].verdict == SKIP  # an older ledger
    # a window planned after the test stopped early (interrupted at 80 s of 120) was not due
    plan = (("drop-all#0", "down", 40.0), ("again#0", "down", 100.0))
    run = make_run(fault_plan=plan, stop_reason="interrupted", duration_s=80.0, planned_duration_s=120.0)
    c = checks_of(run)["faults.applied"]
    assert c.verdict == PASS and "1 planned after the test stopped (not due)" in c.detail


def test_a_planned_fault_applied_by_a_later_play_of_the_timeline_counts_as_applied(make_run):
    """The web UI's timeline stopped and started again: drop-all#0 fired as drop-all#0.p2."""
    c = checks_of(make_run(fault_id="drop-all#0.p2"))["faults.applied"]
    assert c.verdict == PASS and c.detail.startswith("1 of 1 planned faults applied"), c.detail
    assert checks_of(make_run(fault_id="other#0"))["faults.applied"].verdict == FAIL  # the control


def test_windows_after_the_timeline_was_stopped_by_hand_are_not_due(make_run):
    """The web UI's Faults tab stopped the timeline at 50 s: the windows it never reached are not due,
    and the detail says why; without the stop in the ledger they fail."""
    plan = (("drop-all#0", "down", 40.0), ("slow-link#0", "latency", 60.0), ("drop-all#1", "down", 90.0))
    stopped = (("stop", 50.0, 1),)
    c = checks_of(make_run(fault_plan=plan, timeline=stopped))["faults.applied"]
    assert c.verdict == PASS and c.observed == 0, c.detail
    assert c.detail == "1 of 1 planned faults applied; 2 not due: the timeline was stopped by hand at 50 s"
    control = checks_of(make_run(fault_plan=plan))["faults.applied"]
    assert control.verdict == FAIL and control.observed == 2


def test_a_window_due_before_the_stop_by_hand_still_fails(make_run):
    """A window the timeline reached before it was stopped, and that did not apply (or failed), is a FAIL."""
    plan = (("drop-all#0", "down", 40.0), ("slow-link#0", "latency", 20.0), ("late#0", "down", 90.0))
    c = checks_of(make_run(fault_plan=plan, timeline=(("stop", 50.0, 1),)))["faults.applied"]
    assert c.verdict == FAIL and c.observed == 1
    assert "not applied: slow-link#0 (latency at 20 s)" in c.detail
    assert "1 not due: the timeline was stopped by hand at 50 s" in c.detail


def test_a_restart_by_hand_replays_the_windows_after_the_stop(make_run):
    """Stopped at 10 s and started again at 25 s: drop-all#0 (at 40 s) is due again at 65 s in the
    second play, so it must apply (as drop-all#0.p2); a window the restart moved past the test end is
    not due."""
    plan = (("drop-all#0", "down", 40.0), ("late#0", "down", 100.0))
    again = (("stop", 10.0, 1), ("start", 25.0, 2))
    c = checks_of(make_run(fault_plan=plan, fault_id="drop-all#0.p2", fault_at=65.0, timeline=again))
    applied = c["faults.applied"]
    assert applied.verdict == PASS, applied.detail
    assert applied.detail == ("1 of 1 planned faults applied; "
                              "1 not due: the timeline was stopped by hand at 10 s (started again at 25 s)")
    missed = checks_of(make_run(fault_plan=plan, fault_id="other#0", fault_at=65.0, timeline=again))
    assert missed["faults.applied"].verdict == FAIL
    assert "not applied: drop-all#0 (down at 40 s)" in missed["faults.applied"].detail


def test_failed_checks_focus_their_agents_and_passed_ones_do_not(make_run):
    checks = checks_of(make_run(lost=("a1-2", 20), never_reconnect=("a1-3",)))
    assert checks["turns.lost"].focus == (Focus("a1-2", turn="a1-2/s1/t20"),)
    assert checks["reconnect.unrecovered_agents"].focus == (Focus("a1-3"),)
    assert checks["turns.duplicated"].focus == ()


# -- the load itself: over-dispatch (reports/summary/dispatch.py) --------------------------------------------

def test_the_load_checks_pass_when_the_run_held_exactly_its_agents(make_run):
    checks = checks_of(make_run())
    assert checks["load.concurrent_agents"].verdict == PASS
    assert (checks["load.concurrent_agents"].observed, checks["load.concurrent_agents"].limit) == (4, 4)
    assert checks["load.concurrent_agents"].detail.startswith("peak 4 agents running at once at 0 s of the test")
    assert (checks["load.extra_agents"].verdict, checks["load.extra_agents"].observed) == (PASS, 0)


def test_more_agents_at_once_than_the_run_has_fails_both_load_checks_naming_the_extra_agent(make_run):
    """Locust started a fourth user on a run of three (its re-dispatch of a missing worker's users)."""
    checks = checks_of(make_run(users=3))
    conc, extra = checks["load.concurrent_agents"], checks["load.extra_agents"]
    assert (conc.verdict, conc.observed, conc.limit, conc.agents) == (FAIL, 4, 3, ("a1-3",))
    assert "peak 4 agents running at once" in conc.detail and "re-dispatches" in conc.detail
    assert (extra.verdict, extra.observed, extra.agents) == (FAIL, 1, ("a1-3",))


def test_users_the_master_refused_fail_extra_agents_naming_the_worker_but_not_the_concurrency(make_run):
    checks = checks_of(make_run(refused=(5, 6)))
    conc, extra = checks["load.concurrent_agents"], checks["load.extra_agents"]
    assert conc.verdict == PASS and conc.observed == 4
    assert (extra.verdict, extra.observed, extra.limit) == (FAIL, 2, 0)
    assert "the master refused 2 (indices 5, 6, started on host_b, while host_a counted as missing)" in extra.detail


def test_a_web_ui_swarm_is_not_judged_on_its_agent_count(make_run):
    checks = checks_of(make_run(users=3, interactive=True))
    assert checks["load.concurrent_agents"].verdict == SKIP and checks["load.extra_agents"].verdict == SKIP
    assert "web UI" in checks["load.concurrent_agents"].detail


def test_the_extra_agents_limit_is_a_threshold(make_run):
    assert checks_of(make_run(refused=(5,)), Thresholds(max_extra_agents=1))["load.extra_agents"].verdict == PASS
    assert checks_of(make_run(refused=(5,)), Thresholds(max_extra_agents=None))["load.extra_agents"].verdict == SKIP
