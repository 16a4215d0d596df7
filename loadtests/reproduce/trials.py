"""Running replays: one profile up to ``n`` times, stopping as soon as "k of n reproduced" is decided.

Every replay is a run of its own (``python -m loadtests.reproduce.replay``: target, proxy and Locust,
as ``agentsoak run`` starts them) in ``<out>/<NNN>-<label>/``, with a light report (``report.json``,
``report.md``: no HTML) and ``replay.json``, the judgement. Up to ``jobs`` replays of one verdict run
at once, never more than could still be needed to decide it: with ``k=2`` of ``n=3``, two start;
a third only when they disagree. Replays are numbered as they start (the runs spent);
``<out>/trials.jsonl`` lists them. A stop signal reaches every replay running (each stops in order,
as ``agentsoak run`` does) and the verdict ends ``broken``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from faults.child import parent_death_hook
from reports.errors import ReportError
from reports.render_json import render_json
from reports.render_markdown import render_markdown
from reports.report import build_report
from reports.repro import Judgement, Signature, judge

from ..profile import Profile, parse_profile
from ..stop_signals import StopSignals

__all__ = ["JOBS", "Replayer", "Trial", "Verdict", "replay_once", "to_profile"]

#: replays at once (the CLI's --jobs default): two fit this project's 2-core machines
JOBS = max(1, min(2, os.cpu_count() or 1))
_POLL_S = 0.05
_REPLAY_TIMEOUT_S = 3600.0  # far past any replay: a hung one is stopped, then counted broken


def to_profile(data: dict[str, Any], source: str) -> Profile:
    """A profile from its resolved form (``Profile.to_dict()``), validated as any profile is.

    Raises:
        ProfileError: naming ``source`` and the field.
    """
    return parse_profile(yaml.safe_dump(data, sort_keys=False), source=source, allow_remote=True)


def replay_once(profile: Profile, run_dir: Path, signature: Signature, stops: StopSignals) -> Judgement:
    """Run ``profile`` into ``run_dir`` (this process is the orchestrator) and judge it."""
    from ..run import run_profile

    for sub in ("ledger", "logs", "locust"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    result = run_profile(profile, run_dir=run_dir, progress=None, stops=stops)
    if result.status == "interrupted":
        return Judgement(False, f"interrupted ({result.error})", broken=f"interrupted: {result.error}")
    if result.status != "completed":
        return Judgement(False, f"the run broke: {result.error}", broken=str(result.error))
    try:
        report = build_report(run_dir)
        (run_dir / "report.json").write_bytes(render_json(report))
        (run_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
        return judge(report, signature)
    except (ReportError, OSError) as exc:
        return Judgement(False, f"no report: {exc}", broken=f"no report: {exc}")


@dataclass(frozen=True)
class Trial:
    """One replay: its number among the runs spent, where it went, what it showed, how long it took."""

    number: int
    run_dir: Path
    judgement: Judgement
    seconds: float


@dataclass(frozen=True)
class Verdict:
    """``hits`` of the replays run reproduced the signature; ``n``/``k`` are the rule (``k`` of ``n``).

    ``broken``: a replay could not run (the outcome is not known)."""

    n: int
    k: int
    trials: tuple[Trial, ...]
    broken: str | None = None

    @property
    def hits(self) -> int:
        return sum(t.judgement.reproduced for t in self.trials)

    @property
    def reproduced(self) -> bool:
        return self.broken is None and self.hits >= self.k

    @property
    def failed_at_s(self) -> float | None:
        """The latest first-failure time of the replays that reproduced (what a shorter run must cover)."""
        times = [t.judgement.failed_at_s for t in self.trials
                 if t.judgement.reproduced and t.judgement.failed_at_s is not None]
        return max(times) if times else None

    def brief(self) -> str:
        """``reproduced 2/3 in 2 replays``."""
        head = f"{'reproduced' if self.reproduced else 'not reproduced'} {self.hits}/{self.n}"
        return f"{head} in {len(self.trials)} replay{'s' if len(self.trials) != 1 else ''}"

    def summary(self) -> str:
        """``reproduced 2/3`` or ``not reproduced 0/3``, and how many replays it took."""
        ran = len(self.trials)
        early = f"; stopped after {ran} of {self.n}, the outcome was decided" if ran < self.n else ""
        return f"{self.brief()} ({self.k} needed{early})"


def needed(n: int, k: int, hits: int, misses: int) -> int:
    """How many more replays could still be needed to decide k of n (0: decided)."""
    if hits >= k or misses > n - k:
        return 0
    return min(k - hits, n - k + 1 - misses)


OnTrial = Callable[[Trial, int, int], None]  # (trial, i, n): after each replay


@dataclass
class _Running:
    number: int
    label: str
    run_dir: Path
    proc: subprocess.Popen[bytes]
    started: float


class Replayer:
    """Runs replays of ``signature`` into ``out``, ``jobs`` at a time; counts every run (``runs``)."""

    def __init__(self, signature: Signature, out: Path, stops: StopSignals, *, jobs: int = JOBS) -> None:
        self.signature = signature
        self.out = out
        self.stops = stops
        self.jobs = max(1, jobs)
        self.runs = 0
        self.seconds = 0.0  # summed over replays (they may overlap)
        (out / "profiles").mkdir(parents=True, exist_ok=True)

    def _start(self, profile_path: Path, label: str) -> _Running:
        self.runs += 1
        run_dir = self.out / f"{self.runs:03d}-{re.sub(r'[^A-Za-z0-9._-]', '_', label)[:60]}"
        run_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "loadtests.reproduce.replay", str(profile_path), str(run_dir),
                self.signature.check] + ([self.signature.agent] if self.signature.agent else [])
        with open(run_dir / "replay.out", "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    preexec_fn=parent_death_hook())
        return _Running(self.runs, label, run_dir, proc, time.monotonic())

    def _finish(self, r: _Running) -> Trial:
        seconds = time.monotonic() - r.started
        self.seconds += seconds
        try:
            doc = orjson.loads((r.run_dir / "replay.json").read_bytes())
            judgement = Judgement(**doc)
        except (OSError, orjson.JSONDecodeError, TypeError):
            tail = (r.run_dir / "replay.out").read_bytes()[-400:].decode("utf-8", "replace").strip()
            why = f"the replay exited {r.proc.returncode} without a judgement ({tail or 'no output'})"
            judgement = Judgement(False, why, broken=why)
        trial = Trial(r.number, r.run_dir, judgement, seconds)
        with open(self.out / "trials.jsonl", "ab") as log:
            log.write(orjson.dumps({"run": trial.number, "label": r.label, "dir": r.run_dir.name,
                                    "reproduced": judgement.reproduced, "why": judgement.why,
                                    "broken": judgement.broken, "failed_at_s": judgement.failed_at_s,
                                    "seconds": round(seconds, 2)}) + b"\n")
        return trial

    def _signal_all(self, running: list[_Running], sig: signal.Signals) -> None:
        for r in running:
            if r.proc.poll() is None:
                try:
                    r.proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    def verdict(self, profile: Profile, label: str, n: int, k: int, on_trial: OnTrial | None = None) -> Verdict:
        """Replay ``profile`` until ``k`` replays reproduced, or more than ``n - k`` did not (at most ``n``)."""
        profile_path = self.out / "profiles" / f"{re.sub(r'[^A-Za-z0-9._-]', '_', label)[:60]}.yaml"
        profile_path.write_text(yaml.safe_dump(profile.to_dict(), sort_keys=False))
        trials: list[Trial] = []
        running: list[_Running] = []
        started = forwarded = 0
        broken: str | None = None
        deadline = time.monotonic() + _REPLAY_TIMEOUT_S * n
        while True:
            hits = sum(t.judgement.reproduced for t in trials)
            want = needed(n, k, hits, len(trials) - hits) - len(running)
            if broken is None and not self.stops.count:
                while want > 0 and len(running) < self.jobs and started < n:
                    started += 1
                    want -= 1
                    running.append(self._start(profile_path, f"{label}-{started}"))
            if not running:
                break
            if self.stops.count > forwarded:  # pass each stop signal on: the replays stop in order
                forwarded = self.stops.count
                self._signal_all(running, signal.SIGINT if forwarded == 1 else signal.SIGTERM)
            if time.monotonic() > deadline:
                self._signal_all(running, signal.SIGKILL)
            for r in list(running):
                if r.proc.poll() is not None:
                    running.remove(r)
                    trial = self._finish(r)
                    trials.append(trial)
                    if on_trial is not None:
                        on_trial(trial, len(trials), n)
                    if trial.judgement.broken is not None and broken is None:
                        broken = trial.judgement.broken
            time.sleep(_POLL_S)
        if broken is None and self.stops.count:
            broken = f"interrupted: {self.stops.reason()}"
        return Verdict(n, k, tuple(trials), broken=broken)
