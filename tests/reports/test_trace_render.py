"""reports.trace.render: the lines a user reads in the terminal, and the --json document."""

from __future__ import annotations

import orjson

from reports.ledger import iter_ledger
from reports.report import build_report
from reports.trace.model import build_trace
from reports.trace.render import render_json, render_text


def text_of(run, agent, **window):
    report = build_report(run)
    trace = build_trace(iter_ledger(run), agent, report.summary, checks=report.checks,
                        partial=report.partial_reasons)
    return trace, render_text(trace, **window)


def line(text, *needles):
    """The one timeline line holding every needle (the totals line does not count)."""
    (found,) = [row for row in text.splitlines() if all(n in row for n in needles) and not row.startswith("totals")]
    return found


def test_the_disconnect_line_shows_the_code_detection_what_followed_and_the_fault(make_run):
    _, text = text_of(make_run(), "a1-0")
    drop = line(text, "disconnect", "code 1006")
    assert drop.lstrip().startswith("+40.00 s  disconnect")
    assert "closed by network, detected by eof, cut s1/t40 in flight" in drop
    assert "-> reconnected in 600 ms (1 attempt)" in drop and drop.endswith("[fault: drop-all#0]")
    cut = line(text, "s1/t40 attempt 1:")
    assert "CUT in flight" in cut and "[fault: drop-all#0]" in cut
    retry = line(text, "s1/t40 attempt 2:")
    assert "completed, TTFT 100 ms" in retry and "cache store" in retry
    assert "store_hydrate for s1/t40" in line(text, "recovery")
    first = line(text, "s1/t0 attempt 1:")
    assert first.lstrip().startswith("+0.50 s  turn") and "cache miss" in first and "[fault" not in first
    head = text.splitlines()
    assert head[0].startswith("agentsoak trace: a1-0 (index 1) in unit (run r1, seed 7)")
    assert "named in failed checks: none" in head
    assert "  drop-all#0 (down, share 100%): +40.00 … +45.00 s" in head
    assert text.rstrip().splitlines()[-1].startswith("totals: 119 turns in 120 attempts (completed 119, cut 1)")


def test_a_reconnect_lists_its_failed_attempts_under_it(make_run):
    _, text = text_of(make_run(attempts={"a1-2": 3}), "a1-2")
    rows = text.splitlines()
    i = rows.index(line(text, "reconnect: connected on attempt 3"))
    assert rows[i + 1].strip().startswith("attempt 1 at +40.") and rows[i + 1].endswith("failed: refused; retry in 0.50 s")
    assert "attempt 3" in rows[i + 3] and "connected, handshake 40 ms" in rows[i + 3]


def test_a_gave_up_agent_and_its_failed_check_are_plain_to_see(make_run):
    _, text = text_of(make_run(give_up=("a1-3",)), "a1-3")
    assert "named in failed checks: reconnect.unrecovered_agents" in text
    assert "NEVER RECONNECTED: gave up" in line(text, "disconnect", "1006")
    assert "reconnect: GAVE UP after 1 attempt" in text


def test_a_partial_run_says_so_first(make_run):
    _, text = text_of(make_run(partial=True), "a1-1")
    assert text.splitlines()[1].startswith("!!! PARTIAL RUN: ")


def test_since_and_until_show_a_window(make_run):
    trace, text = text_of(make_run(), "a1-0", since=39.7, until=41.0)
    assert "showing 4 of 127 events, from +39.70 s to +41.00 s" in text
    assert "code 1006" in text and "s1/t39 " not in text and "recovery" not in text
    assert "totals: 1 turn in 2 attempts (cut 1, completed 1)" in text


def test_json_holds_every_item_with_its_kind_and_the_windows_it_hit(make_run):
    trace, _ = text_of(make_run(), "a1-0")
    doc = orjson.loads(render_json(trace))
    assert doc["agent"] == "a1-0" and doc["index"] == 1 and doc["failed_checks"] == []
    assert doc["faults"] == [{"fault": "drop-all#0", "type": "down", "share": 1.0, "start": 40.0, "end": 45.0,
                              "standing": True, "hit": True}]
    (drop,) = [i for i in doc["items"] if i["kind"] == "disconnect" and i["code"] == 1006]
    assert drop["faults"] == ["drop-all#0"] and drop["detected"] == "eof" and drop["ended"] == "reconnected"
    kinds = {i["kind"] for i in doc["items"]}
    assert kinds == {"agent", "connect", "turn", "disconnect", "recovery"}
    (connect,) = [i for i in doc["items"] if i["kind"] == "connect" and i["reason"] == "reconnect"]
    assert connect["attempts"][0]["ok"] is True and connect["outcome"] == "connected"
    assert doc["totals"]["disconnects"] == {"1006": 1, "1000": 1}
