"""Shipped profiles: found by name from any directory, listed with their header line; a path wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.catalog import load_profile_arg, resolve_profile, shipped_profiles
from loadtests.profile import ProfileError, load_profile

REPO = Path(__file__).resolve().parents[2]
SOURCE_NAMES = sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))


def test_every_profile_file_is_shipped_with_its_first_comment_line() -> None:
    """The catalogue is the profiles/ folder: each YAML file, its header's first line without the name."""
    shipped = {p.name: p for p in shipped_profiles()}
    assert sorted(shipped) == SOURCE_NAMES and "smoke" in shipped
    first = (REPO / "profiles" / "smoke.yaml").read_text().splitlines()[0]
    assert first.startswith("# smoke: ")
    assert shipped["smoke"].summary == first.removeprefix("# smoke: ")
    assert all(p.summary for p in shipped.values())


def test_a_name_resolves_to_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nowhere near a checkout's profiles/
    for arg in ("smoke", "smoke.yaml"):
        path = Path(resolve_profile(arg))
        assert path.name == "smoke.yaml" and path.is_file()
        assert load_profile(path).name == "smoke"


def test_an_existing_path_wins_over_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").write_text("name: mine\n")
    assert resolve_profile("smoke") == "smoke"
    assert load_profile(resolve_profile("smoke")).name == "mine"


def test_an_unknown_name_lists_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for arg in ("smok", "profiles/nothing.yaml"):
        with pytest.raises(ProfileError) as err:
            resolve_profile(arg)
        assert str(err.value).startswith(f"{arg}: no such file, and no shipped profile of that name; shipped: ")
        assert str(err.value).endswith(", ".join(SOURCE_NAMES))


def test_load_profile_arg_says_why_in_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What run, demo, soak, ab and ui print for a profile that does not load (and exit 2 on)."""
    profile = load_profile_arg("smoke", ["load.users=3"])
    assert not isinstance(profile, str) and profile.load.users == 3
    assert capsys.readouterr().err == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text("load: {users: many}\n")
    reason = load_profile_arg(str(bad))
    assert isinstance(reason, str) and reason.startswith(f"{bad}:") and "load.users" in reason
    assert capsys.readouterr().err == f"agentsoak: {reason}\n"
    long = "x" * 5000  # the filesystem refuses the name itself: an OSError, still one line
    assert load_profile_arg(long) == f"cannot read profile {long}: File name too long"
    assert capsys.readouterr().err == f"agentsoak: cannot read profile {long}: File name too long\n"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from loadtests.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_profiles_command_lists_names_and_summaries(tmp_path: Path) -> None:
    done = _cli("profiles", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split(None, 1) for line in done.stdout.splitlines()]
    assert [r[0] for r in rows] == SOURCE_NAMES
    assert dict(rows)["smoke"] == "a one-minute health check of the whole chain."


def test_validate_takes_a_name_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    ok = _cli("validate", "reconnect-storm", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("profile   reconnect-storm ")
    bad = _cli("validate", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "nope: no such file, and no shipped profile of that name; shipped: broken-recovery" in bad.stderr
