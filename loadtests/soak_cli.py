"""``agentsoak soak PROFILE``: the nightly job in one command: run, record in the history, gate, prune.

Each step is the command of the same name, called as a function: ``agentsoak run`` (its report,
its exit code), ``agentsoak history record`` (what ``run --history`` does), ``agentsoak gate`` and
``agentsoak prune`` (of the folder the run directory is in). The last line on stdout is the one-line
reason, fit for a morning email's subject::

    agentsoak soak soak-nightly: REGRESSION (exit 1): run PASS: 14 checks passed or skipped; gate REGRESSION: ...

Exit codes (docs/nightly.md), the first that applies:

- **2** could not run or judge: a bad profile or option, the run broke or was interrupted, the
  history could not be written or read (or, on a run that otherwise passed, prune failed);
- **1** the run FAILed a check, or the gate found a REGRESSION (the reason names both);
- **3** UNKNOWN: too little history to judge (or a metric the baseline has and this run lacks): never
  a pass, but not a failure either. A new profile's first nights end here, and the line says
  ``insufficient history: 2 of 5 runs``;
- **0** the run passed and the gate passed.

The history is ``--history``, else ``$AGENTSOAK_HISTORY``, else ``runs/history.sqlite``, as for
``agentsoak gate`` and ``agentsoak history``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reports.errors import ReportError
from reports.history.cli import add_gate_options, add_history_option, gate_run_dir, print_gate
from reports.history.gate import BROKEN, PASS, REGRESSION, UNKNOWN
from reports.prune import PruneError, parse_age, prune_runs

from .run_cli import NOT_RUN, RunOutcome, add_run_options, record_in_history, run_and_report

__all__ = ["register_cli", "cmd_soak", "soak_verdict", "DEFAULT_KEEP", "DEFAULT_OLDER_THAN", "EXIT_CODES"]

#: prune's defaults for a nightly job: a run directory goes once 14 newer ones exist AND it is 30 days old
DEFAULT_KEEP = 14
DEFAULT_OLDER_THAN = "30d"
#: the soak's verdicts and exit codes (the worst applies: BROKEN, then FAIL/REGRESSION, then UNKNOWN)
EXIT_CODES = {"PASS": 0, "FAIL": 1, REGRESSION: 1, "BROKEN": 2, UNKNOWN: 3}

_HISTORY_HELP = ("record the run in this history and judge it against it: a SQLite file path or sqlite:///PATH, "
                 "or postgresql://USER@HOST[:PORT]/DB (default: $AGENTSOAK_HISTORY, else runs/history.sqlite)")


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "soak", help="the nightly job: run a profile, record it in the history, gate it, prune old runs",
        description="Run PROFILE as `agentsoak run` does, record it in the history, judge it with `agentsoak "
                    "gate` against the last runs of the same profile, then `agentsoak prune` the folder of run "
                    "directories. The last stdout line is a one-line reason. Exit 0 run and gate PASS; 1 a "
                    "check FAILed or the gate found a REGRESSION; 2 could not run or judge (bad input, the run "
                    "broke or was interrupted, history unreachable); 3 UNKNOWN: too little history (never a "
                    "pass).")
    p.add_argument("profile", help="a YAML profile file, or a shipped profile's name (see `agentsoak profiles`)")
    add_run_options(p, history=False)
    add_history_option(p, _HISTORY_HELP)
    add_gate_options(p)
    p.add_argument("--keep", type=int, default=DEFAULT_KEEP, metavar="N",
                   help=f"prune: always keep the newest N run directories (default {DEFAULT_KEEP})")
    p.add_argument("--older-than", default=DEFAULT_OLDER_THAN, metavar="AGE",
                   help=f"prune: remove only runs started longer ago (default {DEFAULT_OLDER_THAN})")
    p.add_argument("--no-prune", action="store_true", help="leave the old run directories alone")
    p.set_defaults(func=cmd_soak)


def soak_verdict(run: RunOutcome, *, recorded: str | None = None, gate: str | None = None,
                 gate_headline: str = "", gate_error: str | None = None,
                 prune_failed: bool = False) -> tuple[str, int, str]:
    """The soak's (verdict, exit code, reason) from what each step said (pure).

    ``recorded``: the error of recording, None when it was recorded; ``gate``: the gate's verdict
    (None: it did not run); ``gate_error``: why it could not judge.
    """
    parts = [f"run {run.verdict}: {run.reason}"]
    if recorded is not None:
        parts.append(f"not recorded in the history: {recorded}")
    if gate is not None:
        parts.append(gate_headline)
    elif gate_error is not None:
        parts.append(f"gate could not judge: {gate_error}")
    if prune_failed:
        parts.append("prune could not remove every old run (see above)")
    could_not = run.verdict in (NOT_RUN, "BROKEN", "INTERRUPTED") or gate == BROKEN or gate_error is not None
    if could_not or (recorded is not None and run.verdict == PASS):
        verdict = "BROKEN"
    elif run.verdict == "FAIL":  # the reason names a regression too
        verdict = "FAIL"
    elif gate == REGRESSION:
        verdict = REGRESSION
    elif gate == UNKNOWN:
        verdict = UNKNOWN
    else:
        verdict = PASS
    code = EXIT_CODES[verdict]
    if prune_failed and code == 0:
        verdict, code = "BROKEN", 2  # as a history that cannot be written: housekeeping that fails is not a pass
    return verdict, code, "; ".join(p for p in parts if p)


def cmd_soak(args: argparse.Namespace) -> int:
    from .stop_signals import StopSignals

    try:  # bad options fail now, not after a 2-hour run
        if args.min_history > args.last:
            raise ReportError(f"--min-history {args.min_history} is more than --last {args.last}")
        if args.keep < 0:
            raise PruneError(f"--keep: {args.keep} is negative")
        older_than_s = parse_age(args.older_than)
    except (ReportError, PruneError) as exc:
        return _finish(args.profile, "BROKEN", 2, f"bad option: {exc}")
    with StopSignals() as stops:  # SIGINT/SIGTERM stop the run in order; the soak still reports it
        run = run_and_report(args, stops)
        if run.run_dir is None:
            return _finish(run.profile, *soak_verdict(run))
        recorded = record_in_history(run.run_dir, args.history)
        gate, headline, gate_error = None, "", None
        print()
        try:
            result, history_name = gate_run_dir(str(run.run_dir), args.history, last=args.last,
                                                min_history=args.min_history)
        except ReportError as exc:
            gate_error = str(exc)
            print(f"agentsoak: error: {exc}", file=sys.stderr)
        except OSError as exc:
            gate_error = f"{exc.filename or run.run_dir}: {exc.strerror or exc}"
            print(f"agentsoak: error: {gate_error}", file=sys.stderr)
        else:
            print_gate(result, history_name)
            gate, headline = result.verdict, result.headline
        prune_failed = False
        if not args.no_prune:
            print()
            try:
                prune_failed = prune_runs(run.run_dir.parent, args.keep, older_than_s) != 0
            except (PruneError, OSError) as exc:
                print(f"agentsoak: error: prune: {exc}", file=sys.stderr)
                prune_failed = True
        verdict, code, reason = soak_verdict(run, recorded=recorded, gate=gate, gate_headline=headline,
                                             gate_error=gate_error, prune_failed=prune_failed)
        return _finish(run.profile, verdict, code, f"{reason}; run directory {run.run_dir}")


def _finish(profile: str, verdict: str, code: int, reason: str) -> int:
    """The last line on stdout, after everything else the soak printed."""
    sys.stderr.flush()
    print(f"\nagentsoak soak {profile}: {verdict} (exit {code}): {reason}", flush=True)
    return code
