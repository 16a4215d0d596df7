"""``agentsoak run`` options parsed without a run."""

from __future__ import annotations

import pytest

from loadtests.cli import build_parser


def test_progress_every_takes_a_duration_and_defaults_to_30_s(capsys):
    parser = build_parser()
    assert parser.parse_args(["run", "smoke"]).progress_every == 30.0
    assert parser.parse_args(["run", "smoke", "--progress-every", "5m"]).progress_every == 300.0
    assert parser.parse_args(["demo", "--progress-every", "10"]).progress_every == 10.0
    for bad in ("0", "soon", "-5s"):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["run", "smoke", f"--progress-every={bad}"])
        assert exit_.value.code == 2
        assert f"argument --progress-every: {bad!r}: expected a duration" in capsys.readouterr().err


def test_a_layout_that_cannot_fit_is_refused_before_anything_starts(tmp_path, capsys, monkeypatch):
    from loadtests.layout import Machine
    from loadtests.run_cli import NOT_RUN, run_and_report
    from loadtests.stop_signals import StopSignals

    monkeypatch.setattr(Machine, "detect", classmethod(lambda cls: Machine(fd_limit=20_000, ports=28_232, cpus=2)))
    args = build_parser().parse_args(["run", "smoke", "--output-dir", str(tmp_path), "--set", "load.users=10000"])
    with StopSignals() as stops:
        outcome = run_and_report(args, stops)
    assert (outcome.code, outcome.verdict, outcome.run_dir) == (2, NOT_RUN, None)
    assert list(tmp_path.iterdir()) == []  # no run directory, no component started
    err = capsys.readouterr().err
    assert "agentsoak: error: smoke: proxy.workers: 10,000 agents need 20,256 FDs" in err
    assert err.rstrip().endswith("set proxy.workers >= 2 (or auto)")
