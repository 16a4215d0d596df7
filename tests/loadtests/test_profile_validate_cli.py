"""``agentsoak validate PROFILE``: a summary and exit 0, or the error on stderr and exit 2."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from loadtests.profile.validate_cli import register_cli

SMOKE = Path(__file__).resolve().parents[2] / "profiles" / "smoke.yaml"


def run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_valid_profile_prints_a_summary_and_the_planned_faults():
    code, out, err = run(["validate", str(SMOKE)])
    assert code == 0 and err == ""
    assert "profile   smoke" in out and "200 users" in out and "1m" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("slow-link#0", "drop-all#0"))]
    assert rows[0][:4] == ["slow-link#0", "latency", "15s", "25s"]
    assert rows[1][:3] == ["drop-all#0", "close", "35s"]
    assert out.rstrip().endswith("ok")


def test_overrides_apply_and_are_repeatable():
    code, out, _ = run(["validate", str(SMOKE), "--set", "load.users=7", "--set", "faults=[]"])
    assert code == 0 and "7 users" in out and "faults    none" in out


def test_invalid_profile_exits_2_with_the_error_on_stderr(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("load:\n  userz: 5\n")
    code, out, err = run(["validate", str(bad)])
    assert code == 2 and out == ""
    assert (
        err
        == f"error: {bad}:2: load.userz: unknown key; expected one of agents, duration, health_every, processes, source_addresses, spawn_rate, users; did you mean 'users'?\n"
    )


@pytest.mark.parametrize(
    "argv",
    [["validate", "/nonexistent/profile.yaml"], ["validate", str(SMOKE), "--set", "load.users"],
     ["validate", str(SMOKE), "--set", "target.kind=external", "--set", "target.url=wss://api.openai.com"]],
)  # fmt: skip
def test_errors_never_print_a_traceback(argv):
    code, out, err = run(argv)
    assert code == 2 and out == "" and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_allow_remote_flag_permits_a_remote_target():
    argv = ["validate", str(SMOKE), "--set", "target={kind: external, url: 'wss://api.openai.com', api_key_env: K}",
            "--set", "faults=[]", "--allow-remote"]  # fmt: skip
    code, out, _ = run(argv)
    assert code == 0 and "wss://api.openai.com/v1/responses" in out and "$K" in out


def test_agentsoak_validate_command_end_to_end():
    """Through the real entry point: exit codes and streams as a shell user sees them."""
    import subprocess
    import sys

    root = SMOKE.parents[1]
    ok = subprocess.run([sys.executable, "-m", "loadtests.cli", "validate", str(SMOKE)], cwd=root,
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0 and "profile   smoke" in ok.stdout, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "loadtests.cli", "validate", str(SMOKE), "--set", "seed=x"],
                         cwd=root, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        bad.stderr.strip()
        == "error: --set seed: seed: got 'x'; expected an integer between 0 and 9223372036854775807"
    )


def _this_box(monkeypatch):
    from loadtests.layout import Machine

    monkeypatch.setattr(Machine, "detect", classmethod(lambda cls: Machine(fd_limit=20_000, ports=28_232, cpus=2)))


def test_a_layout_that_cannot_fit_is_refused_with_the_numbers_and_the_fix(monkeypatch):
    _this_box(monkeypatch)
    code, out, err = run(["validate", str(SMOKE), "--set", "load.users=10000", "--set", "proxy.workers=1"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err  # one line
    assert err == (f"error: {SMOKE}: proxy.workers: 10,000 agents need 20,256 FDs in one process of the proxy "
                   "(2 FDs per agent + 256 overhead), above the limit of 20,000 (RLIMIT_NOFILE hard); "
                   "set proxy.workers >= 2 (or auto)\n")


def test_auto_settings_are_chosen_and_shown_in_the_summary(monkeypatch):
    _this_box(monkeypatch)
    code, out, err = run(["validate", str(SMOKE), "--set", "load.users=10000", "--set", "proxy.workers=auto",
                          "--set", "load.processes=auto", "--set", "target.server.workers=auto"])
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("layout"))
    assert "locust 2 (auto), proxy 2 (auto), server 1 (auto), source addresses 1" in line
    assert "processes 2" in out  # the load line shows the chosen number


def test_too_many_agents_for_one_source_address_is_refused(monkeypatch):
    _this_box(monkeypatch)
    code, _, err = run(["validate", str(SMOKE), "--set", "load.users=30000", "--set", "proxy.kind=none", "--set", "faults=[]",
                        "--set", "load.processes=auto", "--set", "target.server.workers=auto"])
    assert code == 2
    assert "load.source_addresses: 30,000 agents over 1 source address(es) need 30,000 ports" in err
    assert "above the 28,232 ephemeral ports" in err and "set load.source_addresses >= 2 (or auto)" in err
