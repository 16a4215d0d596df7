"""``agentsoak reproduce``: bad input is one line naming the file or field, exit 2; the k-of-n rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.reproduce.trials import Trial, Verdict, needed
from reports.repro import Judgement

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from loadtests.cli import main; sys.exit(main())"]


def reproduce(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "reproduce", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def _bundle(tmp_path: Path, manifest: object, profile: str | None = "name: x\n") -> Path:
    where = tmp_path / "repro" / "turns.lost"
    where.mkdir(parents=True)
    (where / "bundle.json").write_text(json.dumps(manifest))
    if profile is not None:
        (where / "profile.yaml").write_text(profile)
    return where


def test_a_missing_bundle_exits_2_naming_it(tmp_path):
    res = reproduce(str(tmp_path / "nope"))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"agentsoak: error: {tmp_path / 'nope'}: no such bundle directory (bundles are " \
                         "repro/<check>/ in a run directory)\n"


def test_a_bad_manifest_exits_2_naming_the_field(tmp_path):
    where = _bundle(tmp_path, {"format": 1, "signature": {"check": 3}})
    res = reproduce(str(where))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"agentsoak: error: {where / 'bundle.json'}: ") and res.stderr.count("\n") == 1


def test_a_bad_replay_profile_exits_2_naming_its_line(tmp_path, make_bundle):
    where = make_bundle(tmp_path)
    (where / "profile.yaml").write_text("load: {users: many}\n")
    res = reproduce(str(where))
    assert res.returncode == 2
    assert res.stderr == (f"agentsoak: error: the bundle's replay profile: {where / 'profile.yaml'}:1: load.users: "
                          "got 'many'; expected an integer between 1 and 1000000\n")


@pytest.mark.parametrize(("args", "message"), [
    (["-n", "0"], "-n 0 -k 2: expected n >= 1 and 1 <= k <= n"),
    (["-n", "2", "-k", "3"], "-n 2 -k 3: expected n >= 1 and 1 <= k <= n"),
    (["--jobs", "0"], "--jobs 0: expected at least 1"),
])
def test_bad_numbers_exit_2(tmp_path, args, message):
    res = reproduce(str(tmp_path), *args)
    assert (res.returncode, res.stderr) == (2, f"agentsoak: error: {message}\n")


@pytest.mark.parametrize(("n", "k", "hits", "misses", "more"), [
    (3, 2, 0, 0, 2), (3, 2, 1, 1, 1), (3, 2, 2, 0, 0), (3, 2, 0, 2, 0), (3, 2, 1, 0, 1),
    (1, 1, 0, 0, 1), (5, 3, 2, 2, 1), (5, 1, 0, 0, 1), (5, 5, 0, 0, 1),
])
def test_a_verdict_runs_no_more_replays_than_can_still_decide_it(n, k, hits, misses, more):
    assert needed(n, k, hits, misses) == more


def test_verdict_wording():
    def trial(ok: bool) -> Trial:
        return Trial(1, Path("/x"), Judgement(ok, "why", failed_at_s=1.5 if ok else None), 3.0)

    two = Verdict(3, 2, (trial(True), trial(True)))
    assert two.reproduced and two.summary() == \
        "reproduced 2/3 in 2 replays (2 needed; stopped after 2 of 3, the outcome was decided)"
    split = Verdict(3, 2, (trial(True), trial(False), trial(False)))
    assert not split.reproduced and split.brief() == "not reproduced 1/3 in 3 replays"
    assert split.failed_at_s == 1.5
    assert not Verdict(3, 2, (trial(True), trial(True)), broken="boom").reproduced
