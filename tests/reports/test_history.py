"""Run history on SQLite: the store's contract, the run metadata in report.json, and the ``history``,
``history record`` and ``gate`` commands on run directories."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import orjson
import pytest
import yaml

from reports.cli import register_cli
from reports.history.meta import RunMeta, profile_hash, read_meta, write_meta
from reports.history.record import RunRecord
from reports.history.store import HistoryError, HistoryStore
from tests.reports.test_gate import report_doc


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def check_store_contract(url: str) -> None:
    """What every backend must do: round trip, order, filter, last N, replace on re-record."""
    docs = [report_doc("night3", 3, ttft_p95_ms=103.0, revision="c3"),
            report_doc("night1", 1, ttft_p95_ms=101.0, revision="c1"),
            report_doc("smoke1", 2, profile="smoke", lost_turns=2.0),
            report_doc("night2", 2, ttft_p95_ms=None, verdict="FAIL")]
    with HistoryStore(url) as store:
        for d in docs:
            assert store.record(RunRecord.from_report_json(d)) is False
        runs = store.runs()
        # oldest first, by start time, then in the order recorded
        assert [r.run_key for r in runs] == ["night1", "smoke1", "night2", "night3"]
        night = store.runs("nightly")
        assert [r.run_key for r in night] == ["night1", "night2", "night3"]
        assert [r.run_key for r in store.runs("nightly", last=2)] == ["night2", "night3"]
        first = night[0]
        assert first.metrics["ttft_p95_ms"] == 101.0 and first.metrics["cache_hit_ratio"] == 0.95
        assert night[1].metrics["ttft_p95_ms"] is None and night[1].verdict == "FAIL"
        assert first.meta == RunMeta("0.1.0", "ci-1", "c1", "2026-01-01T02:00:00Z", "2026-01-01T04:00:00Z")
        assert (first.profile_hash, first.seed, first.exit_code) == ("h1", "42", 0)
        assert [(c.name, c.verdict, c.observed, c.limit) for c in first.checks] == [
            ("turns.completed", "pass", 10.0, 1.0)]
        assert first.recorded_at
        # recording the same run again replaces it
        again = RunRecord.from_report_json(report_doc("night1", 1, ttft_p95_ms=555.0))
        assert store.record(again) is True
        night = store.runs("nightly")
        assert len(night) == 3 and night[0].metrics["ttft_p95_ms"] == 555.0
    with HistoryStore(url) as store:  # reopening keeps everything (the schema is created once)
        assert len(store.runs()) == 4


def test_sqlite_store_contract(tmp_path):
    check_store_contract(str(tmp_path / "sub" / "history.sqlite"))
    check_store_contract("sqlite:///" + str(tmp_path / "other.sqlite"))


def test_a_missing_sqlite_history_reads_as_empty_and_is_not_created(tmp_path, capsys):
    db = tmp_path / "nope.sqlite"
    assert run_cli("history", "--history", str(db)) == 0
    assert "no runs recorded in history" in capsys.readouterr().out
    assert not db.exists()


def test_report_json_carries_the_run_metadata_and_metrics(make_run, capsys):
    rd = make_run()
    write_meta(rd, RunMeta("9.9.9", "box-7", "deadbeef", "2026-02-01T01:00:00Z", "2026-02-01T01:02:00Z"))
    assert run_cli("report", "--quiet", str(rd)) == 0
    doc = orjson.loads((rd / "report.json").read_bytes())
    run = doc["run"]
    assert {k: run[k] for k in ("agentsoak_version", "host", "target_revision", "started_at", "ended_at")} == {
        "agentsoak_version": "9.9.9", "host": "box-7", "target_revision": "deadbeef",
        "started_at": "2026-02-01T01:00:00Z", "ended_at": "2026-02-01T01:02:00Z"}
    assert run["profile"] == "unit" and run["profile_hash"] == profile_hash(rd) and len(run["profile_hash"]) == 64
    m = doc["metrics"]
    assert set(m) >= {"reconnect_p99_ms", "turn_latency_p95_ms", "ttft_p95_ms", "lost_turns", "error_rate",
                      "cache_hit_ratio"}
    assert m["lost_turns"] == 0 and m["reconnect_p99_ms"] == 750.0  # builder: agents reconnect in 600 + 50 i ms


def test_without_meta_json_the_times_come_from_the_ledger(make_run):
    meta = read_meta(make_run())
    assert (meta.started_at, meta.ended_at) == ("2025-12-31T23:59:59Z", "2026-01-01T00:02:00Z")
    assert meta.host is None and meta.agentsoak_version is None  # unknown, never guessed


def test_profile_hash_ignores_output_dir_but_not_the_workload(make_run):
    rd = make_run()
    before = profile_hash(rd)
    path = rd / "profile.resolved.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "output_dir": "/elsewhere"}))
    assert profile_hash(rd) == before
    path.write_text(yaml.safe_dump({**data, "users": 999}))
    assert profile_hash(rd) != before


def test_bad_meta_json_is_a_clear_error(make_run, capsys):
    rd = make_run()
    (rd / "meta.json").write_text('{"host": 5}')
    assert run_cli("history", "record", str(rd), "--history", str(rd.parent / "h.sqlite")) == 2
    err = capsys.readouterr().err
    assert "meta.json: field 'host' must be a string" in err and err.count("\n") == 1


def test_record_and_trend_commands(make_run, tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "h.sqlite")
    a, b = make_run(), make_run(lost=("a1-1", 3))
    monkeypatch.setenv("AGENTSOAK_TARGET_REVISION", "rev-from-env")
    assert run_cli("history", "record", str(a), "--history", db) == 0
    assert run_cli("history", "--history", db, "record", str(b), "--target-revision", "rev-b") == 0
    out = capsys.readouterr().out
    assert f"recorded {a.name} (profile unit, PASS)" in out and f"recorded {b.name} (profile unit, FAIL)" in out
    assert run_cli("history", "record", str(b), "--history", db, "--target-revision", "rev-b") == 0
    assert f"replaced {b.name}" in capsys.readouterr().out

    assert run_cli("history", "--history", db, "--profile", "unit") == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "started (UTC)" in line)
    for col in ("revision", "verdict", "reconnect p99 (ms)", "TTFT p95 (ms)", "lost turns", "cache hit ratio"):
        assert col in header
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("20")]
    assert [(r[2], r[3]) for r in rows] == [("rev-from-env", "PASS"), ("rev-b", "FAIL")]

    assert run_cli("history", "--history", db, "--json", "--last", "1") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [r["run"] for r in doc["runs"]] == [b.name]
    assert doc["runs"][0]["metrics"]["lost_turns"] == 1 and doc["runs"][0]["target_revision"] == "rev-b"
    assert run_cli("history", "--history", db, "--profile", "smoke") == 0
    assert "no runs of profile smoke recorded" in capsys.readouterr().out


def test_record_rebuilds_a_missing_report(make_run, tmp_path, capsys):
    rd = make_run()
    assert not (rd / "report.json").exists()
    assert run_cli("history", "record", str(rd), "--history", str(tmp_path / "h.sqlite")) == 0
    assert (rd / "report.json").is_file()


def test_gate_command_exit_codes(make_run, tmp_path, capsys):
    db = str(tmp_path / "h.sqlite")
    for _ in range(2):
        assert run_cli("history", "record", str(make_run()), "--history", db) == 0
    same, worse = make_run(), make_run(lost=("a1-1", 3))
    capsys.readouterr()
    assert run_cli("gate", str(same), "--history", db) == 3
    out = capsys.readouterr().out
    assert out.startswith("gate UNKNOWN: insufficient history: 2 of 5 runs of profile unit")
    assert run_cli("gate", str(same), "--history", db, "--min-history", "2") == 0
    assert capsys.readouterr().out.startswith("gate PASS")
    assert run_cli("gate", str(worse), "--history", db, "--min-history", "2") == 1
    out = capsys.readouterr().out
    assert out.startswith("gate REGRESSION: lost_turns regressed")
    assert "1 turns vs baseline median 0 turns (MAD 0 turns, n=2)" in out
    assert run_cli("gate", str(worse), "--history", db, "--min-history", "2", "--json") == 1
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["verdict"] == "REGRESSION" and doc["exit_code"] == 1
    lost = next(m for m in doc["metrics"] if m["metric"] == "lost_turns")
    assert lost["status"] == "regressed" and lost["baseline"] == {"median": 0.0, "mad": 0.0, "n": 2}
    assert run_cli("gate", str(same), "--history", db, "--min-history", "9", "--last", "3") == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, message", [
    ("mysql://u@127.0.0.1/db", "unsupported scheme 'mysql'"),
    ("postgresql://u:secret@127.0.0.1:{port}/db", "cannot open"),
])
def test_a_bad_history_is_one_line_without_the_password(make_run, capsys, url, message):
    url = url.format(port=_free_port())
    assert run_cli("history", "record", str(make_run()), "--history", url) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsoak: error: ") and message in err and err.count("\n") == 1
    assert "secret" not in err and "Traceback" not in err


def test_a_newer_schema_is_refused(tmp_path):
    db = str(tmp_path / "h.sqlite")
    HistoryStore(db).close()
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE agentsoak_history_schema SET version = 99")
    with pytest.raises(HistoryError, match="schema version 99 is newer"):
        HistoryStore(db)


def test_a_bad_report_json_names_file_and_field(make_run, tmp_path, capsys):
    rd = make_run()
    assert run_cli("report", "--quiet", str(rd)) == 0
    doc = orjson.loads((rd / "report.json").read_bytes())
    doc["metrics"]["ttft_p95_ms"] = "slow"
    Path(rd / "report.json").write_bytes(orjson.dumps(doc))
    capsys.readouterr()
    assert run_cli("history", "record", str(rd), "--history", str(tmp_path / "h.sqlite")) == 2
    err = capsys.readouterr().err
    assert "report.json: field metrics.ttft_p95_ms must be a number or null" in err


def test_run_history_hook_records_and_a_failure_to_record_fails_a_passing_run(make_run, tmp_path, capsys):
    from loadtests.run_cli import _record

    rd = make_run()
    assert _record(rd, str(tmp_path / "h.sqlite"), 0) == 0
    assert f"agentsoak: recorded {rd.name} (profile unit, PASS)" in capsys.readouterr().err
    bad = f"postgresql://u@127.0.0.1:{_free_port()}/db"
    assert _record(rd, bad, 0) == 2  # the run passed, but the history asked for was not written
    assert "the run was not recorded" in capsys.readouterr().err
    assert _record(rd, bad, 1) == 1  # a failing run keeps its own exit code
