"""The orchestrator's failure paths: a child that cannot start, an unexpected error with its traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.child import ChildStartError
from loadtests import run
from loadtests.catalog import resolve_profile
from loadtests.profile import load_profile
from reports.ledger.reader import iter_ledger
from reports.ledger.schema import RunStart

pytestmark = pytest.mark.timeout(60)


def test_reference_server_that_cannot_start_says_why_and_where(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with pytest.raises(ChildStartError) as err:
        run.ReferenceServer(["--no-such-flag"], log)
    assert err.value.component == "reference server" and err.value.reason == "exited with code 2"
    assert "unrecognized arguments: --no-such-flag" in err.value.said
    assert str(err.value).endswith(f"see {log}")


def test_an_unexpected_error_leaves_its_traceback_in_the_run_log(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-line message names the error and the log; the log has the whole traceback."""

    def broken_target(*_a: object) -> None:
        raise ValueError("wiring bug")

    monkeypatch.setattr(run, "_start_target", broken_target)
    profile = load_profile(resolve_profile("smoke"))
    result = run.run_profile(profile, run_dir=run.make_run_dir(profile, tmp_path), progress=None)
    assert result.status == "error"
    assert result.error == "ValueError: wiring bug; traceback in logs/orchestrator.log"
    text = (result.run_dir / "logs" / "orchestrator.log").read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert "in broken_target" in text and text.rstrip().endswith("ValueError: wiring bug")
    assert json.loads((result.run_dir / "run.json").read_text())["status"] == "error"
    start = _run_start(result.run_dir)
    assert start.layout is not None and (start.layout.locust, start.layout.proxy, start.layout.server) == (1, 1, 1)
    assert start.layout.summary.startswith("layout 200 agents: locust 1, proxy 1, server 1")


def _run_start(run_dir: Path) -> RunStart:
    return next(e for e in iter_ledger(run_dir) if isinstance(e, RunStart))


def test_run_profile_refuses_a_layout_that_cannot_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers other than ``agentsoak run`` (soak, A/B, reproduce) meet the same refusal, before any
    component starts."""
    from loadtests.layout import Machine

    monkeypatch.setattr(Machine, "detect", classmethod(lambda cls: Machine(fd_limit=20_000, ports=28_232, cpus=2)))
    monkeypatch.setattr(run, "_start_target", lambda *_a: pytest.fail("the target was started"))
    profile = load_profile(resolve_profile("smoke"), ["load.users=10000"])
    result = run.run_profile(profile, run_dir=run.make_run_dir(profile, tmp_path), progress=None)
    assert result.status == "error" and result.error is not None
    assert "proxy.workers: 10,000 agents need 20,256 FDs" in result.error
    assert _run_start(result.run_dir).layout is None


def test_locust_processes_meet_their_own_master_on_loopback(tmp_path: Path) -> None:
    """With ``--processes`` the master binds 127.0.0.1 on a port of the run's own (not 5557 on every
    interface), so two runs on one box never share a master and nothing listens beyond loopback."""
    profile = load_profile(resolve_profile("smoke"), ["load.processes=2"])

    def opts(cmd: list[str]) -> dict[str, str]:
        return {flag: cmd[i + 1] for i, flag in enumerate(cmd) if flag.startswith("--master")}

    first = opts(run._locust_command(profile, tmp_path, "ws://127.0.0.1:1/v1/responses", None, None))
    assert first["--master-bind-host"] == first["--master-host"] == "127.0.0.1"
    assert first["--master-bind-port"] == first["--master-port"] != "5557"  # the kernel's pick of a free port
    one = run._locust_command(load_profile(resolve_profile("smoke")), tmp_path, "ws://127.0.0.1:1/", None, None)
    assert not opts(one)  # one process: no master at all


def test_the_web_ui_mode_runs_locusts_page_with_the_profiles_defaults(tmp_path: Path) -> None:
    """``agentsoak ui``: the same command but Locust's web UI (no --headless, no CSV/HTML of its own: each
    swarm's run is made by the master), the form's -u/-r/-t from the profile's load."""
    profile = load_profile(resolve_profile("smoke"), ["load.users=7", "load.duration=20s"])
    web = run.WebOptions(host="127.0.0.1", port=18089, build_path="/x/static")
    cmd = run._locust_command(profile, tmp_path, "ws://127.0.0.1:1/", None, None, web)
    assert "--headless" not in cmd and "--csv" not in cmd and "--agentsoak-ui" in cmd
    flags = {flag: cmd[i + 1] for i, flag in enumerate(cmd[:-1]) if flag.startswith("-")}
    assert flags["--web-host"] == "127.0.0.1" and flags["--web-port"] == "18089"
    assert flags["-u"] == "7" and flags["-t"] == "20s" and flags["--build-path"] == "/x/static"
