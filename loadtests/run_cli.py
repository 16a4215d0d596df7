"""``agentsoak run PROFILE``, ``agentsoak demo`` and ``agentsoak profiles``: scenarios in one command."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from .catalog import load_profile_arg, shipped_profiles
from .distributed import add_master_options, master_options
from .profile.fields import DURATION_HELP, parse_duration_text
from .progress import DEFAULT_PROGRESS_EVERY_S

if TYPE_CHECKING:
    from .stop_signals import StopSignals

__all__ = ["register_cli", "add_run_options", "RunOutcome", "run_and_report", "record_in_history", "NOT_RUN"]


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run a scenario profile end to end and report on it",
        description="Start what PROFILE names (reference server or external target, Toxiproxy), run Locust "
        "headless, play the fault timeline, write runs/<UTC>-<name>/ and print the report. "
        "Exit 0 when every check passes, 1 when a check fails, 2 when the run itself broke or was stopped "
        "(SIGINT or SIGTERM: Ctrl-C, timeout -s INT, a CI cancel; a second one stops at once).",
    )
    run.add_argument("profile", help="a YAML profile file, or a shipped profile's name (see `agentsoak profiles`)")
    add_run_options(run)
    add_master_options(run)
    run.set_defaults(func=_cmd_run)

    demo = subparsers.add_parser(
        "demo", help="run the shipped smoke profile against the embedded defaults",
        description="Runs the shipped smoke profile: the reference server and the embedded Toxiproxy on 127.0.0.1, "
        "200 agents for about 60 s with a latency window and a mass drop, then prints the report.",
    )
    add_run_options(demo)
    demo.set_defaults(func=_cmd_demo)

    listing = subparsers.add_parser(
        "profiles", help="list the shipped profiles",
        description="The profiles shipped with agentsoak, each with the first line of its header comment. "
        "`agentsoak run NAME` and `agentsoak validate NAME` take these names.",
    )
    listing.set_defaults(func=_cmd_profiles)


def add_run_options(parser: argparse.ArgumentParser, *, history: bool = True) -> None:
    """The options of ``run`` (``history=False``: all but ``--history``, for a command that has its own)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a profile field, e.g. --set load.users=50 (repeatable)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a target or proxy outside 127.0.0.0/8 and ::1 (off by default)")
    parser.add_argument("--output-dir", default=None, help="where run directories go (default: the profile's)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines while the run goes")
    parser.add_argument("--progress-every", type=_interval, default=DEFAULT_PROGRESS_EVERY_S, metavar="DURATION",
                        help="when stderr is not a terminal, one progress line per DURATION (default "
                             f"{DEFAULT_PROGRESS_EVERY_S:g}s; e.g. 10s, 5m); a terminal gets one line redrawn "
                             "in place, and a line per fault as it fires")
    parser.add_argument("--target-revision", default=None, metavar="REV",
                        help="the target's revision, kept in the run's metadata and history "
                             "(default: $AGENTSOAK_TARGET_REVISION)")
    if not history:
        return
    parser.add_argument("--history", default=None, metavar="PATH_OR_URL",
                        help="record the finished run in this history: a SQLite file path, or "
                             "postgresql://USER@HOST/DB (see `agentsoak history`)")


def _interval(text: str) -> float:
    seconds = parse_duration_text(text)
    if seconds is None or not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected {DURATION_HELP}, above 0")
    return seconds


def _cmd_demo(args: argparse.Namespace) -> int:
    args.profile = "smoke"
    return _cmd_run(args)


def _cmd_profiles(_args: argparse.Namespace) -> int:
    print(tabulate([(p.name, p.summary) for p in shipped_profiles()], tablefmt="plain"))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .stop_signals import StopSignals

    with StopSignals() as stops:  # from here on SIGINT/SIGTERM never raise: the run stops in order
        outcome = run_and_report(args, stops)
        if args.history is not None and outcome.run_dir is not None:
            return _record(outcome.run_dir, args.history, outcome.code)
        return outcome.code


@dataclass(frozen=True)
class RunOutcome:
    """How ``agentsoak run`` ended: its exit code, its verdict (PASS, FAIL, BROKEN, INTERRUPTED, or
    NOT RUN when no run directory was made), the profile's name (as given, when it did not load), the run
    directory, and one line saying why."""

    code: int
    verdict: str
    profile: str
    run_dir: Path | None
    reason: str


def run_and_report(args: argparse.Namespace, stops: StopSignals) -> RunOutcome:
    """``agentsoak run`` without the history: load the profile, run it, write and print the report."""
    from reports.history.meta import RunMeta, target_revision, write_meta
    from reports.report import build_report, exit_code, render_terminal, write_report

    from .profile.late_faults import late_fault_warnings
    from .run import make_run_dir, run_profile

    master = master_options(args) if hasattr(args, "master") else None
    if isinstance(master, str):
        print(f"agentsoak: error: {master}", file=sys.stderr)
        return RunOutcome(2, NOT_RUN, args.profile, None, master)
    profile = load_profile_arg(args.profile, args.overrides, allow_remote=args.allow_remote)
    if isinstance(profile, str):
        return RunOutcome(2, NOT_RUN, args.profile, None, profile)
    if master is not None and profile.load.processes != 1:
        reason = "--master runs no users itself: set load.processes to 1 (workers take --processes)"
        print(f"agentsoak: error: {reason}", file=sys.stderr)
        return RunOutcome(2, NOT_RUN, profile.name, None, reason)
    from .layout import LayoutError, Machine, raise_fd_limit, resolve_layout

    raise_fd_limit()  # for this process and every component it starts; the layout counts on it
    try:
        profile, layout = resolve_layout(profile, Machine.detect(), locust_here=master is None,
                                         source=args.profile)
    except LayoutError as exc:
        print(f"agentsoak: error: {exc}", file=sys.stderr)
        return RunOutcome(2, NOT_RUN, profile.name, None, str(exc))
    for warning in late_fault_warnings(profile):
        print(f"agentsoak: {warning}", file=sys.stderr)
    run_dir = make_run_dir(profile, args.output_dir)
    load = profile.load
    agents = f"{load.users} agents" if load.agents is None else \
        f"{load.running} of {load.users} agents: {', '.join(map(str, load.agents))}"
    print(f"agentsoak: running {profile.name} ({agents}, {profile.load.duration_s:.0f}s, "
          f"{len(profile.faults)} fault entries) -> {run_dir}", file=sys.stderr)
    print(f"agentsoak: {layout.summary()}", file=sys.stderr)
    if master is not None:
        print(f"agentsoak: Locust master on {master.bind_host}:{master.port}, waiting for "
              f"{master.expect_workers} worker(s) (agentsoak worker --master-host HOST --master-port "
              f"{master.port})", file=sys.stderr)
    meta = RunMeta.starting_now(target_revision(args.target_revision))
    write_meta(run_dir, meta)  # now, so that a run killed half-way still says what and where it was
    result = run_profile(profile, run_dir=run_dir, progress=None if args.quiet else sys.stderr, stops=stops,
                         progress_every_s=args.progress_every, master=master)
    write_meta(result.run_dir, meta.ended_now())
    report = build_report(result.run_dir)
    paths = write_report(report, result.run_dir)
    print(render_terminal(report))
    print(f"\nrun directory: {result.run_dir}")
    for kind, path in paths.items():
        if kind.startswith("repro:"):
            print(f"repro bundle: {path}  (agentsoak reproduce {path})")
    code, verdict = exit_code(report), report.verdict
    if report.failed:
        reason = "checks failed: " + ", ".join(c.name for c in report.failed)
    else:
        reason = report.broken or f"{len(report.checks)} checks passed or skipped"
    if result.status == "interrupted":
        # whatever the checks say: an interrupted run proves nothing (docs/reports.md, exit 2)
        print(f"agentsoak: INTERRUPTED: the run was interrupted ({result.error}); its report covers it up to "
              "the stop", file=sys.stderr)
        code, verdict, reason = 2, "INTERRUPTED", f"interrupted ({result.error})"
    elif result.status != "completed":
        print(f"agentsoak: run {result.status}: {result.error}", file=sys.stderr)
        code, verdict, reason = 2, "BROKEN", f"run {result.status}: {result.error}"
    return RunOutcome(code, verdict, profile.name, result.run_dir, reason)


NOT_RUN = "NOT RUN"


def _record(run_dir: Path, history: str, code: int) -> int:
    """Record the finished run in the history; a history that cannot be written makes a passing run exit 2."""
    return code if record_in_history(run_dir, history) is None else code or 2


def record_in_history(run_dir: Path, history: str | None) -> str | None:
    """Record the finished run in the history (None: the default one); returns the error, or None."""
    from reports.errors import ReportError
    from reports.history.cli import record_run_dir

    try:
        print(f"agentsoak: {record_run_dir(str(run_dir), history)}", file=sys.stderr)
    except (ReportError, OSError) as exc:
        print(f"agentsoak: error: the run was not recorded: {exc}", file=sys.stderr)
        return str(exc)
    return None
