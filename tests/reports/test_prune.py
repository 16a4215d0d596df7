"""``agentsoak prune``: beyond the newest N and older than the age, never the history, never a live run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from loadtests.cli import main
from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev
from reports.prune import LIVE_WINDOW_S, parse_age, plan

DAY = 86400.0
NOW = time.time()


def make_run(runs: Path, days_ago: float, profile: str = "smoke", *, finished: bool = True,
             touched_days_ago: float | None = None, size: int = 1000) -> Path:
    """A run directory started ``days_ago`` (its name's stamp), last written ``touched_days_ago``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW - days_ago * DAY))
    run = runs / f"{stamp}-{profile}"
    led = run / "ledger"
    with LedgerWriter(ledger_path(led, "orchestrator", 1)) as w:
        w(ev.TestStart(users=1))
    (run / "report.html").write_bytes(b"x" * size)
    if finished:
        (run / "run.json").write_text('{"status": "completed"}')
    age(run, days_ago if touched_days_ago is None else touched_days_ago)
    return run


def age(run: Path, days_ago: float) -> None:
    when = NOW - days_ago * DAY
    for root, dirs, files in os.walk(run):
        for name in [*files, *dirs]:
            os.utime(os.path.join(root, name), (when, when))
    os.utime(run, (when, when))


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def names(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def test_a_run_goes_only_when_beyond_the_newest_n_and_older_than_the_age(tmp_path):
    runs = [make_run(tmp_path, d) for d in (1, 10, 20, 40, 50, 60)]
    p = plan(tmp_path, keep=4, older_than_s=30 * DAY, now=NOW)
    assert [r.path for r in p.remove] == runs[4:]  # 40 d is old, but among the newest 4
    p = plan(tmp_path, keep=1, older_than_s=30 * DAY, now=NOW)
    assert [r.path for r in p.remove] == runs[3:]  # 10 and 20 d are beyond the newest 1, but young
    assert dict((r.path, why) for r, why in p.kept) == {
        runs[0]: "one of the newest 1", runs[1]: "not old enough", runs[2]: "not old enough"}
    assert plan(tmp_path, keep=6, older_than_s=0, now=NOW).remove == ()


def test_the_cli_removes_them_and_prints_each_and_the_bytes_freed(tmp_path, capsys):
    runs = [make_run(tmp_path, d, size=10_000 * (i + 1)) for i, d in enumerate((1, 40, 50))]
    sizes = [du(r) for r in runs]
    assert 20_000 < sizes[1] < 21_000
    assert main(["prune", "--runs-dir", str(tmp_path), "--keep", "1", "--older-than", "30d"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"removed {r} ({n / 1000:.1f} kB)" for r, n in zip(runs[1:], sizes[1:], strict=True)]
    assert out[2].startswith(f"2 run(s) removed, freed {sizes[1] + sizes[2]:,} bytes")
    assert names(tmp_path) == [runs[0].name]


def test_a_dry_run_prints_the_same_and_removes_nothing(tmp_path, capsys):
    runs = [make_run(tmp_path, d) for d in (1, 40)]
    assert main(["prune", "--runs-dir", str(tmp_path), "--keep", "1", "--older-than", "30d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {runs[1]} " in out and f"would free {du(runs[1]):,} bytes" in out
    assert names(tmp_path) == sorted(r.name for r in runs)


def test_the_history_database_and_what_is_not_a_run_stay(tmp_path):
    make_run(tmp_path, 40)
    (tmp_path / "history.sqlite").write_bytes(b"SQLite format 3\0")
    (tmp_path / "notes").mkdir()  # no ledger/, no run.json: not a run
    (tmp_path / "20200101T000000Z-elsewhere").symlink_to(make_run(tmp_path / "other", 40), target_is_directory=True)
    for p in (tmp_path / "history.sqlite", tmp_path / "notes"):
        os.utime(p, (NOW - 90 * DAY, NOW - 90 * DAY))
    assert main(["prune", "--runs-dir", str(tmp_path), "--keep", "0", "--older-than", "1d"]) == 0
    assert names(tmp_path) == ["20200101T000000Z-elsewhere", "history.sqlite", "notes", "other"]
    assert len(names(tmp_path / "other")) == 1  # the symlink's target stays too


def test_a_live_run_is_never_removed_however_old_its_name(tmp_path):
    writing = make_run(tmp_path, 50, "writing", finished=False)
    fresh = make_run(tmp_path, 60, "fresh", finished=False, touched_days_ago=(LIVE_WINDOW_S - 60) / DAY)
    crashed = make_run(tmp_path, 70, "crashed", finished=False)
    with LedgerWriter(ledger_path(writing / "ledger", "locust", 2)):  # a process still holds its ledger
        age(writing, 50)
        p = plan(tmp_path, keep=0, older_than_s=DAY, now=NOW)
    assert [r.path for r in p.remove] == [crashed]  # no run.json and silent for an hour: crashed, not live
    assert {r.path: why for r, why in p.kept} == {writing: "live", fresh: "live"}


def test_a_run_without_a_stamped_name_is_aged_by_its_modification_time(tmp_path):
    old = make_run(tmp_path, 40)
    renamed = old.rename(tmp_path / "my-run")
    os.utime(renamed, (NOW - 40 * DAY, NOW - 40 * DAY))
    new = make_run(tmp_path, 1)
    assert [r.path for r in plan(tmp_path, keep=1, older_than_s=30 * DAY, now=NOW).remove] == [renamed]
    assert new.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--keep", "1", "--older-than", "30 days"], "--older-than: '30 days' is not an age"),
    (["--keep", "-1", "--older-than", "30d"], "--keep: -1 is negative"),
    (["--keep", "1", "--older-than", "30d", "--runs-dir", "/nonexistent/runs"], "/nonexistent/runs: not a directory"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = argv if "--runs-dir" in argv else [*argv, "--runs-dir", str(tmp_path)]
    assert main(["prune", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_ages_read_in_seconds():
    assert [parse_age(a) for a in ("45s", "90m", "12h", "30d", "2w", "1.5d")] == [
        45, 5400, 43200, 30 * DAY, 14 * DAY, 1.5 * DAY]
