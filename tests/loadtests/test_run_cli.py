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
