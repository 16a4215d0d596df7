"""The orchestrator's failure paths: a child that cannot start, an unexpected error with its traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.child import ChildStartError
from loadtests import run
from loadtests.catalog import resolve_profile
from loadtests.profile import load_profile

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
