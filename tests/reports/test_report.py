from __future__ import annotations

import xml.etree.ElementTree as ET

import orjson
import pytest

from reports.errors import RunDirError, ThresholdError
from reports.report import build_report, exit_code, render_terminal, write_report


def test_healthy_report_passes_and_writes_every_file(make_run):
    run = make_run()
    report = build_report(run)
    assert exit_code(report) == 0 and report.verdict == "PASS" and not report.partial
    paths = write_report(report)
    assert {p.name for p in paths.values()} == {"report.md", "report.html", "report.json", "junit.xml"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())


def test_terminal_summary_has_the_demo_figures(make_run):
    text = render_terminal(build_report(make_run()))
    assert text.index("Checks") < text.index("Latency")
    for needle in ("Agents", "Sessions", "Turns", "Failures", "TTFT", "Inter-token gap (turn p50)",
                   "Inter-token gap (turn p99)", "Output tokens/s", "Turn latency", "Cache hits", "Cache misses",
                   "p50", "p95", "p99", "PASS  "):
        assert needle in text, needle


def test_failing_check_gives_exit_1_and_junit_marks_it(make_run):
    report = build_report(make_run(never_reconnect=("a1-3",)))
    assert exit_code(report) == 1 and report.verdict == "FAIL"
    write_report(report)
    root = ET.parse(report.run_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(report.checks)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["reconnect.unrecovered_agents"]
    assert "a1-3" in cases[0].find("failure").text
    assert root.find("testsuite").get("failures") == "1"
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert "reconnect.half_open_detect_ms" in skipped


def test_report_json_is_versioned_and_complete(make_run):
    report = build_report(make_run(mismatch=("a1-0", 3)))
    write_report(report)
    doc = orjson.loads((report.run_dir / "report.json").read_bytes())
    assert doc["schema_version"] == 1 and doc["verdict"] == "FAIL" and doc["exit_code"] == 1
    bad = [c for c in doc["checks"] if c["verdict"] == "fail"]
    assert [(c["name"], c["agents"]) for c in bad] == [("context.digest_mismatches", ["a1-0"])]
    assert doc["summary"]["integrity"]["digest_mismatches"]["examples"] == ["a1-0/s1/t3"]
    assert len(doc["timeline"]["t"]) == len(doc["timeline"]["connected"]) > 100
    assert doc["faults"][0]["fault"] == "drop-all#0"


def test_partial_run_is_reported_loudly_with_exit_2(make_run):
    run = make_run(partial=True)
    report = build_report(run)
    assert report.partial and exit_code(report) == 2 and report.verdict == "BROKEN"
    reasons = " ".join(report.partial_reasons)
    assert "run.json is missing" in reasons and "no run_stop" in reasons and "cut line: locust-20.jsonl" in reasons
    assert report.checks  # still a full report
    text = render_terminal(report)
    assert text.splitlines()[1].startswith("!!! PARTIAL RUN")
    paths = write_report(report)
    assert "PARTIAL RUN" in paths["md"].read_text().split("\n## ")[0]
    assert '<div class="banner partial">!!! PARTIAL RUN' in paths["html"].read_text()
    assert orjson.loads(paths["json"].read_bytes())["run"]["partial"] is True


def test_missing_run_json_alone_makes_it_partial(make_run):
    run = make_run()
    (run / "run.json").unlink()
    report = build_report(run)
    assert report.partial and report.partial_reasons == ("run.json is missing (the run did not finish)",)
    assert exit_code(report) == 2
    # the in-process caller can hand the status over before writing run.json
    assert exit_code(build_report(run, run_status={"status": "completed"})) == 0


def test_cut_last_line_alone_makes_it_partial(make_run):
    run = make_run()
    with open(run / "ledger" / "faults-30.jsonl", "ab") as fh:
        fh.write(b'{"v":1,"kind":"fault_rem')
    report = build_report(run)
    assert report.partial and "faults-30.jsonl" in report.partial_reasons[0]
    assert report.bad_lines == 1 and any("could not be parsed" in n for n in report.notes)


def test_run_status_error_and_no_agent_events_are_broken(make_run, tmp_path):
    run = make_run()
    (run / "run.json").write_bytes(orjson.dumps({"status": "error", "exit_reason": "proxy crashed"}))
    report = build_report(run)
    assert exit_code(report) == 2 and "proxy crashed" in report.broken
    empty = tmp_path / "empty"
    (empty / "ledger").mkdir(parents=True)
    (empty / "ledger" / "orchestrator-1.jsonl").write_bytes(
        b'{"v":1,"kind":"run_start","mono":1.0,"t":1.0}\n{"v":1,"kind":"run_stop","mono":2.0,"t":2.0,"reason":"completed"}\n')
    (empty / "run.json").write_bytes(b'{"status": "completed"}')
    report = build_report(empty)
    assert exit_code(report) == 2 and "no agent events" in report.broken


def test_bad_run_directories_raise_clear_errors(tmp_path, make_run):
    with pytest.raises(RunDirError, match="no such run directory"):
        build_report(tmp_path / "nope")
    with pytest.raises(RunDirError, match="not a run directory"):
        build_report(tmp_path)
    run = make_run()
    (run / "profile.resolved.yaml").write_text("checks: [unclosed\n")
    with pytest.raises(RunDirError, match="unreadable profile"):
        build_report(run)
    (run / "profile.resolved.yaml").write_text("checks:\n  max_lost_turn: 1\n")
    with pytest.raises(ThresholdError, match="did you mean 'max_lost_turns'"):
        build_report(run)


def test_profile_checks_override_the_defaults(make_run):
    run = make_run(checks={"reconnect_p95_ms": 100})
    report = build_report(run)
    assert [c.name for c in report.failed] == ["reconnect.time_p95_ms"]
    assert exit_code(report) == 1


def test_no_digests_note_is_in_the_report(make_run):
    report = build_report(make_run(digests=False))
    assert exit_code(report) == 0
    assert any("sends no context digests" in n for n in report.notes)
    assert "not available (target sends no digests)" in render_terminal(report)


def test_reports_never_import_locust(make_run):
    import subprocess
    import sys

    code = ("import sys, reports.cli, reports.report, reports.verify, reports.compare, reports.render_html;"
            "from reports.report import build_report, write_report; write_report(build_report(sys.argv[1]));"
            "assert not any(m.split('.')[0] in ('locust', 'gevent') for m in sys.modules), 'locust imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(make_run())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_lines_of_the_wrong_types_are_reported_not_a_traceback(make_run):
    """Valid JSON with wrong field types: a line missing a required key or with a wrongly typed one is a
    bad line (counted, named in the notes, left out of every figure); a wrongly typed optional key reads
    as null. Never a crash."""
    run = make_run()
    healthy = build_report(run).summary
    with open(run / "ledger" / "locust-20.jsonl", "ab") as fh:
        fh.write(b'{"v":null,"kind":"turn_end","mono":1010.0,"agent":"a1-0","turn":"a1-0/s1/tx","outcome":[]}\n'
                 b'{"v":1,"kind":"turn_start","t":1,"mono":1011.0,"agent":"a1-0","turn":"a1-0/s9/t0","session":{}}\n'
                 b'{"v":1,"kind":"disconnect","mono":1012.0,"agent":"a1-0","code":[1006],"detected":["ping"]}\n'
                 b'{"v":1,"kind":"recovery","mono":1013.0,"agent":"a1-0","mode":"failed","turn":7}\n'
                 b'{"kind":"run_stop","t":1,"mono":1120.6,"reason":"completed","error":5}\n')
    report = build_report(run)
    assert report.bad_lines == 4 and any("4 ledger line(s) could not be parsed" in n for n in report.notes)
    assert report.summary.outcomes == healthy.outcomes and report.summary.close_codes == healthy.close_codes
    assert report.summary.integrity == healthy.integrity
    assert report.summary.events == healthy.events + 1  # the run_stop with a bad optional key still counts
    assert report.summary.run.stop_error is None
    assert {p.name for p in write_report(report).values()} >= {"report.json", "junit.xml"}


# -- named agents' last events; honest stops (issue 9 §2, §3) ----------------------------------------

def test_an_agent_named_in_a_failed_check_gets_its_last_events(make_run):
    report = build_report(make_run(abandon=("a1-1", 30, "cut_retries_exhausted", 5)))
    (trail,) = [t for t in report.trails if t.check == "turns.lost"]
    assert trail.focus.agent == "a1-1" and trail.anchor == "up to turn a1-1/s1/t30"
    assert [e.kind for e in trail.events] == ["turn_end"] * 5 + ["turn_abandon"]
    assert trail.events[-1].text == "a1-1/s1/t30 given up after 5 attempt(s): cut_retries_exhausted"
    assert trail.events[0].at == pytest.approx(30.7, abs=0.01)  # seconds since the test start
    text = render_terminal(report)
    block = text[text.index("Failed checks"):text.index("\nLoad")]
    assert "- turns.lost: 1 lost: 1 cut 5 times, policy exhausted; examples: a1-1/s1/t30" in block
    assert "  a1-1, up to turn a1-1/s1/t30:" in block and "+31.60 s  turn_abandon" in block
    paths = write_report(report)
    assert "+31.60 s  turn_abandon" in paths["md"].read_text()
    page = paths["html"].read_text()
    assert '<a href="#lane-a1-1">a1-1</a>' in page and '<h4 id="trail-turns-lost-a1-1">' in page
    assert '<a href="#trail-turns-lost-a1-1">last events (turns.lost)</a>' in page  # from the swimlane
    doc = orjson.loads(paths["json"].read_bytes())
    assert doc["summary"]["integrity"]["lost_how"] == {"cut 5 times, policy exhausted": 1}
    (trail_doc,) = [t for t in doc["trails"] if t["check"] == "turns.lost"]
    assert trail_doc["agent"] == "a1-1" and trail_doc["events"][-1]["kind"] == "turn_abandon"


def test_an_unrecovered_agent_shows_its_disconnect_and_a_healthy_run_has_no_trails(make_run):
    report = build_report(make_run(give_up=("a1-2",)))
    (trail,) = report.trails
    assert trail.check == "reconnect.unrecovered_agents" and trail.anchor == "its last events"
    kinds = [e.kind for e in trail.events]
    assert kinds[-2:] == ["connect_attempt", "reconnect_giveup"] and "disconnect" in kinds
    assert build_report(make_run()).trails == ()


def test_an_interrupted_run_is_interrupted_with_exit_2_never_fail(make_run):
    run = make_run(stop_reason="interrupted", lost=("a1-2", 20))  # a check fails, as it would on Ctrl-C
    report = build_report(run)
    assert report.verdict == "INTERRUPTED" and exit_code(report) == 2
    assert report.failed  # the checks are still computed and shown
    head = render_terminal(report).splitlines()
    assert "— INTERRUPTED:" in head[0] and head[1].startswith("!!! INTERRUPTED: interrupted; the checks are from a "
                                                              "partial run")
    doc = orjson.loads(write_report(report)["json"].read_bytes())
    assert doc["verdict"] == "INTERRUPTED" and doc["exit_code"] == 2
    assert build_report(run).verdict == "INTERRUPTED"  # every later report says the same


def test_a_run_that_ended_in_error_is_broken(make_run):
    report = build_report(make_run(stop_reason="error"))
    assert report.verdict == "BROKEN" and exit_code(report) == 2
