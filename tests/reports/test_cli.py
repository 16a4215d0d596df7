from __future__ import annotations

import argparse

import pytest

from reports.cli import register_cli


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_report_pass_fail_and_files(make_run, capsys):
    good = make_run()
    assert run_cli("report", str(good)) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "html: " in out and (good / "report.html").is_file()
    bad = make_run(lost=("a1-1", 9))
    assert run_cli("report", str(bad)) == 1
    assert "FAIL       turns.lost" in capsys.readouterr().out


def test_report_partial_exits_2(make_run, capsys):
    assert run_cli("report", "--quiet", str(make_run(partial=True))) == 2
    assert "PARTIAL RUN" in capsys.readouterr().out


@pytest.mark.parametrize("setup", ["missing", "not_run_dir", "bad_yaml", "bad_key"])
def test_bad_input_is_one_line_and_exit_2(make_run, tmp_path, capsys, setup):
    target = tmp_path / "x"
    if setup == "not_run_dir":
        target.mkdir()
    elif setup in ("bad_yaml", "bad_key"):
        target = make_run()
        (target / "profile.resolved.yaml").write_text(
            "{{{" if setup == "bad_yaml" else "checks: {reconnect_p95: 10}\n")
    assert run_cli("report", str(target)) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsoak: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_compare_shows_differences_and_flags_regressions(make_run, capsys):
    a, b = make_run(), make_run(duplicated=("a1-2", 7))
    assert run_cli("compare", str(a), str(a)) == 0
    capsys.readouterr()
    assert run_cli("compare", str(a), str(b)) == 1
    out = capsys.readouterr().out
    assert "1 check(s) regressed" in out
    line = next(row for row in out.splitlines() if "turns.duplicated" in row)
    assert line.split()[:4] == ["REGRESSED", "turns.duplicated", "PASS", "FAIL"]
    assert "turn latency p95 (ms)" in out and "cache hit ratio" in out
    assert run_cli("compare", str(a), str(a.parent / "nope")) == 2


def test_report_on_an_interrupted_run_exits_2(make_run, capsys):
    run = make_run(stop_reason="interrupted", never_reconnect=("a1-1",))
    for _ in range(2):  # and on every later report of that run
        assert run_cli("report", "--quiet", str(run)) == 2
        out = capsys.readouterr().out
        assert "INTERRUPTED" in out and "FAIL:" not in out
