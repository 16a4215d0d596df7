"""A run directory in, a ``Report`` (``reports.model``) out; and the files a report is written to.

``build_report`` reads only the run directory: ``profile.resolved.yaml`` (its ``checks:`` are the
threshold overrides), ``ledger/*.jsonl`` and ``run.json``. A run is *partial* when ``run.json`` is
missing, the ledger has no ``run_stop``, or a ledger file ends in a cut line; a partial run still
gets a full report, flagged at the top of every rendering.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from reports.errors import RunDirError
from reports.ledger import LedgerReadStats, iter_ledger
from reports.model import EXIT_BROKEN, EXIT_FAIL, EXIT_PASS, Report, exit_code
from reports.recovery import fault_recoveries
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_junit import render_junit
from reports.render_markdown import render_markdown
from reports.render_terminal import render_terminal
from reports.repro import write_bundles
from reports.summary import summarize
from reports.thresholds import Thresholds
from reports.trace.model import AgentTrace, build_trace
from reports.trace.read import AgentTap
from reports.trail import Trail, trails
from reports.verify import FAIL, digests_available, verify

__all__ = ["Report", "build_report", "write_report", "exit_code", "render_terminal", "EXIT_PASS", "EXIT_FAIL",
           "EXIT_BROKEN", "SWIMLANES"]

#: agents named in failed checks whose whole timeline the report keeps (report.html draws a swimlane each)
SWIMLANES = 20

def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(f"{path}: unreadable profile: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: the resolved profile is not a mapping")
    return data


def build_report(run_dir: str | os.PathLike[str], *, run_status: dict[str, Any] | None = None,
                 ledgers: Sequence[str | os.PathLike[str]] = ()) -> Report:
    """Read a run directory and verify it. Raises ``RunDirError``/``ThresholdError`` on bad input.

    ``ledgers``: more of the run's ledger files kept elsewhere (a distributed run's workers: files,
    folders or worker run directories; ``reports.ledger.ledger_files``), read with the run's own.

    ``run_status`` stands in for ``run.json`` when the caller has not written it yet (``agentsoak
    run`` building the report in-process).
    """
    rd = Path(run_dir)
    if not rd.is_dir():
        raise RunDirError(f"{rd}: no such run directory")
    profile_path = rd / "profile.resolved.yaml"
    if not (rd / "ledger").is_dir():
        raise RunDirError(f"{rd}: not a run directory (no ledger/ inside)")
    notes: list[str] = []
    partial: list[str] = []
    if profile_path.is_file():
        profile = _read_yaml(profile_path)
    else:
        profile = {}
        notes.append("profile.resolved.yaml is missing: default thresholds used")
    thresholds = Thresholds.from_mapping(profile.get("checks"))

    status: dict[str, Any] | None = run_status
    if status is None and (rd / "run.json").is_file():
        try:
            loaded = orjson.loads((rd / "run.json").read_bytes())
            status = loaded if isinstance(loaded, dict) else None
        except (OSError, orjson.JSONDecodeError):
            status = None
        if status is None:
            partial.append("run.json is unreadable")
    elif status is None:
        partial.append("run.json is missing (the run did not finish)")

    stats = LedgerReadStats()
    extra = tuple(Path(p) for p in ledgers)
    for path in extra:
        if not path.exists():
            raise RunDirError(f"{path}: no such ledger file or directory")
    summary = summarize(iter_ledger(rd, stats, extra))
    if stats.files == 0:
        partial.append("the ledger is empty (no ledger/*.jsonl)")
    if not summary.run.stopped:
        partial.append("the ledger has no run_stop event")
    if stats.cut_files:
        partial.append("ledger file(s) end in a cut line: " + ", ".join(stats.cut_files))
    if stats.bad_lines:
        notes.append(f"{stats.bad_lines} ledger line(s) could not be parsed and were skipped "
                     f"(e.g. {', '.join(stats.bad_examples)})")
    if stats.newer_version_lines:
        notes.append(f"{stats.newer_version_lines} ledger line(s) have a newer schema version than this reader")
    if not digests_available(summary) and summary.turns:
        notes.append("The target sends no context digests: conversation integrity is judged from protocol-level "
                     "evidence only (previous_response_not_found followed by a full resend; response ids chaining).")
    if partial:
        notes.append("Partial run: turns in flight when it stopped count as lost; events after the crash are missing.")

    recoveries = fault_recoveries(summary, thresholds)
    checks = tuple(verify(summary, thresholds, recoveries))
    focus = [(c.name, f) for c in checks for f in c.focus]
    named = list(dict.fromkeys(a for c in checks if c.verdict == FAIL for a in c.agents))
    lanes = named[:SWIMLANES]
    agent_trails: tuple[Trail, ...] = ()
    traces: tuple[AgentTrace, ...] = ()
    if focus or lanes:
        # a second streaming pass, only for the few agents named in failed checks: their last events
        # (trails) and, for the first SWIMLANES of them, their whole timeline
        tap = AgentTap(lanes)
        stream = tap.tap(iter_ledger(rd, extra=extra))
        agent_trails = trails(stream, focus, summary.t0_mono) if focus else ()
        tap.drain(stream)
        traces = tuple(build_trace(tap.events[a], a, summary, checks=checks, partial=partial) for a in lanes)
    if summary.run.stop_reason == "interrupted" or (status or {}).get("status") == "interrupted":
        notes.append("Interrupted run: the checks are from a partial run (stopped before its planned end).")
    return Report(
        run_dir=rd,
        name=str(profile.get("name") or summary.run.profile or rd.name),
        seed=profile.get("seed", summary.run.seed),
        thresholds=thresholds,
        checks=checks,
        summary=summary,
        recoveries=recoveries,
        partial=bool(partial),
        partial_reasons=tuple(partial),
        run_status=str(status.get("status")) if status and status.get("status") is not None else None,
        exit_reason=str(status.get("exit_reason")) if status and status.get("exit_reason") is not None else None,
        notes=tuple(notes),
        ledger_files=stats.files,
        ledger_lines=stats.lines,
        bad_lines=stats.bad_lines,
        generated_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        trails=agent_trails,
        traces=traces,
        traces_left_out=len(named) - len(lanes),
        extra_ledgers=extra,
    )


def write_report(report: Report, run_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Write report.md, report.html, report.json and junit.xml into ``run_dir``, and a repro bundle
    ``repro/<check>/`` for every failed check (``reports.repro``); returns their paths (a bundle's
    key is ``repro:<check>``)."""
    out = Path(run_dir) if run_dir is not None else report.run_dir
    paths = {
        "md": out / "report.md",
        "html": out / "report.html",
        "json": out / "report.json",
        "junit": out / "junit.xml",
    }
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    paths["json"].write_bytes(render_json(report))
    paths["junit"].write_bytes(render_junit(report))
    paths["html"].write_text(render_html(report), encoding="utf-8")
    for bundle in write_bundles(report, out):
        paths[f"repro:{bundle.name}"] = bundle
    return paths
