"""reports.trace.model: one agent's items from a built ledger, and the fault windows that overlapped them."""

from __future__ import annotations

import pytest

from reports.ledger import iter_ledger
from reports.report import build_report
from reports.summary import FaultWindow, summarize
from reports.trace.model import INSTANT_S, Connect, Disconnect, Recovery, Turn, build_trace, overlapping


def trace_of(run, agent, report=None):
    report = report or build_report(run)
    return build_trace(iter_ledger(run), agent, report.summary, checks=report.checks,
                       partial=report.partial_reasons)


def test_a_cut_turn_its_disconnect_reconnect_retry_and_recovery_in_time_order(make_run):
    """Agent a1-0 has a turn in flight when drop-all#0 (40-45 s) cuts every socket."""
    t = trace_of(make_run(), "a1-0")
    assert t.agent == "a1-0" and t.index == 1 and t.profile == "unit" and t.failed_checks == ()
    assert [i.at for i in t.items] == sorted(i.at for i in t.items)
    (drop, last) = t.of(Disconnect)
    assert (drop.code, drop.closed_by, drop.detected) == (1006, "network", "eof")
    assert drop.at == pytest.approx(40.0) and drop.faults == ("drop-all#0",) and drop.fault == "drop-all#0"
    assert drop.in_flight == "a1-0/s1/t40" and drop.ended == "reconnected" and drop.reconnect_ms == pytest.approx(600)
    assert (last.code, last.closed_by, last.ended, last.faults) == (1000, "client", "agent_stopped", ())
    tries = [i for i in t.of(Turn) if i.turn == "a1-0/s1/t40"]
    assert [(x.attempt, x.outcome, x.cache) for x in tries] == [(1, "cut", None), (2, "completed", "store")]
    assert tries[0].faults == ("drop-all#0",) and tries[1].ttft_ms == 100.0
    first = t.of(Turn)[0]
    assert (first.outcome, first.ttft_ms, first.cache, first.faults) == ("completed", 100.0, "miss", ())
    (rec,) = t.of(Recovery)
    assert rec.mode == "store_hydrate" and rec.turn == "a1-0/s1/t40"
    initial, again = t.of(Connect)
    assert (initial.reason, initial.outcome, len(initial.attempts)) == ("initial", "connected", 1)
    assert (again.reason, again.outcome, again.conn) == ("reconnect", "connected", "a1-0/c2")
    assert t.faults_hit == ("drop-all#0",)
    totals = t.totals()
    assert totals["disconnects"] == {"1006": 1, "1000": 1} and totals["recoveries"] == {"store_hydrate": 1}
    assert totals["outcomes"]["cut"] == 1 and totals["reconnects"] == 1


def test_every_attempt_of_a_reconnect_is_kept_with_its_error_and_wait(make_run):
    t = trace_of(make_run(attempts={"a1-2": 3}), "a1-2")
    (seq,) = [c for c in t.of(Connect) if c.reason == "reconnect"]
    assert seq.outcome == "connected" and [a.attempt for a in seq.attempts] == [1, 2, 3]
    assert [a.ok for a in seq.attempts] == [False, False, True]
    assert seq.attempts[0].error == "refused" and seq.attempts[0].retry_in_s == 0.5
    assert seq.attempts[-1].handshake_ms == 40.0 and seq.conn == seq.attempts[-1].conn
    assert t.totals()["failed_attempts"] == 2


def test_an_agent_that_gave_up_is_named_by_the_failed_check_and_never_reconnects(make_run):
    run = make_run(give_up=("a1-3",))
    t = trace_of(run, "a1-3")
    assert t.failed_checks == ("reconnect.unrecovered_agents",)
    (drop,) = t.of(Disconnect)
    assert drop.ended == "gave_up" and drop.code == 1006
    assert t.of(Connect)[-1].outcome == "gave_up"
    assert t.items[-1] is t.of(Connect)[-1]  # nothing happened after it


def test_a_digest_mismatch_and_a_given_up_turn_are_items(make_run):
    t = trace_of(make_run(mismatch=("a1-1", 12)), "a1-1")
    (bad,) = [i for i in t.of(Turn) if i.digest_mismatch]
    assert bad.turn == "a1-1/s1/t12" and bad.outcome == "completed"
    t = trace_of(make_run(abandon=("a1-2", 30, "cut_retries_exhausted", 3)), "a1-2")
    assert [i.kind for i in t.items if getattr(i, "turn", None) == "a1-2/s1/t30"] == ["turn"] * 3 + ["abandon"]
    assert t.totals()["abandoned"] == 1 and t.failed_checks == ("turns.lost",)


def test_a_partial_run_traces_up_to_where_the_ledger_ends(make_run):
    run = make_run(partial=True)
    report = build_report(run)
    t = trace_of(run, "a1-1", report)
    assert t.partial and "no run_stop" in " ".join(t.partial)
    assert t.of(Turn) and t.of(Disconnect)[0].code == 1006  # the fault is in it; the final client close is not
    assert all(d.code != 1000 for d in t.of(Disconnect))


def test_a_compressed_ledger_gives_the_same_trace(make_run):
    plain, packed = make_run(), make_run(compressed=True)
    assert (packed / "ledger" / "locust-20.jsonl.zst").is_file()
    assert trace_of(packed, "a1-0").items == trace_of(plain, "a1-0").items


def test_an_instant_fault_overlaps_what_follows_it_for_half_a_second():
    close = FaultWindow("drop#0", "close", 0.5, 20.0, 20.0, True, 20.0, 0.0)
    assert overlapping([close], 20.0 + INSTANT_S - 0.01, 25.0) == ("drop#0",)
    assert overlapping([close], 20.0 + INSTANT_S + 0.01, 25.0) == ()
    assert overlapping([close], 10.0, 19.99) == ()
    assert overlapping([close], 10.0, 20.0) == ("drop#0",)  # a turn in flight when it fired


def test_build_trace_picks_the_agent_out_of_the_whole_stream(make_run):
    run = make_run()
    summary = summarize(iter_ledger(run))
    t = build_trace(iter_ledger(run), "a1-3", summary)
    assert {getattr(i, "turn", "a1-3/").split("/")[0] for i in t.items} == {"a1-3"}
    assert build_trace(iter_ledger(run), "nobody", summary).items == ()
