"""Faults that start after the test ends never run: ``validate`` (and ``run``) warn, naming them."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from loadtests.profile import load_profile
from loadtests.profile.validate_cli import register_cli

SMOKE = Path(__file__).resolve().parents[2] / "profiles" / "smoke.yaml"  # faults at 15s and 35s


def validate(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", *argv])
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, out=out, err=err), out.getvalue(), err.getvalue()


def test_all_faults_after_the_duration_warn_on_stderr_naming_each_and_the_duration():
    code, out, err = validate([str(SMOKE), "--set", "load.duration=15s"])
    assert code == 0 and out.rstrip().endswith("ok")
    assert err == ("WARNING: no fault will run: every fault starts at or after load.duration (15s): "
                   "slow-link (at 15s), drop-all (at 35s)\n")


def test_some_faults_after_the_duration_warn_naming_only_those():
    code, _out, err = validate([str(SMOKE), "--set", "load.duration=20s"])
    assert code == 0
    assert err == "WARNING: 1 of 2 faults start at or after load.duration (20s) and will never run: drop-all (at 35s)\n"


def test_a_timeline_inside_the_duration_gets_no_warning():
    code, _out, err = validate([str(SMOKE)])
    assert code == 0 and err == ""
    from loadtests.profile.late_faults import late_fault_warnings

    assert late_fault_warnings(load_profile(SMOKE, ["faults=[]"])) == []
