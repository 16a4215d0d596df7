"""``agentsoak history`` (trend table; ``history record RUN_DIR``) and ``agentsoak gate RUN_DIR``.

Exit codes: ``history`` 0, or 2 on bad input or an unreachable database. ``gate``: 0 PASS,
1 REGRESSION, 2 BROKEN run or bad input, 3 UNKNOWN (insufficient history: never a pass). Errors
are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import orjson

from reports.errors import ReportError
from reports.history.gate import DEFAULT_LAST, DEFAULT_MIN_HISTORY

if TYPE_CHECKING:
    from reports.history.gate import GateResult

__all__ = ["register_cli", "add_history_option", "add_gate_options", "positive_int", "record_run_dir", "gate_run_dir", "print_gate"]

_HISTORY_HELP = ("the history: a SQLite file path or sqlite:///PATH, or postgresql://USER@HOST[:PORT]/DB "
                 "(default: $AGENTSOAK_HISTORY, else runs/history.sqlite)")


def add_history_option(parser: argparse.ArgumentParser, help_text: str = _HISTORY_HELP, *,
                       default: Any = None) -> None:
    """``--history PATH_OR_URL`` (``default=argparse.SUPPRESS`` on a subcommand keeps its parent's value)."""
    parser.add_argument("--history", metavar="PATH_OR_URL", default=default, help=help_text)


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def register_cli(subparsers: Any) -> None:
    """Add ``history`` (with ``history record``) and ``gate``."""
    h = subparsers.add_parser(
        "history", help="the trend of recorded runs; `history record RUN_DIR` adds one",
        description="Print the gated metrics of the recorded runs, oldest first. "
                    "`agentsoak history record RUN_DIR` records an existing run directory.")
    add_history_option(h)
    h.add_argument("--profile", default=None, help="only runs of this profile")
    h.add_argument("--last", type=positive_int, default=20, metavar="N", help="the N most recent runs (default 20)")
    h.add_argument("--json", action="store_true", help="print the runs as JSON")
    h.set_defaults(func=cmd_history)
    sub = h.add_subparsers(dest="history_command", metavar="SUBCOMMAND")
    r = sub.add_parser("record", help="record a finished run directory in the history",
                       description="Record RUN_DIR (its report.json; rebuilt from the ledger when missing or "
                                   "older) in the history. Recording a run again replaces it.")
    r.add_argument("run_dir", metavar="RUN_DIR")
    add_history_option(r, default=argparse.SUPPRESS)
    r.add_argument("--target-revision", default=None, metavar="REV",
                   help="the target's revision, when the run did not record one "
                        "(default: $AGENTSOAK_TARGET_REVISION)")
    r.set_defaults(func=cmd_record)

    g = subparsers.add_parser(
        "gate", help="judge a run against its profile's history (median and MAD of the last N runs)",
        description="Compare RUN_DIR's metrics with the last N recorded runs of the same profile. "
                    "Exit 0 PASS, 1 REGRESSION (names metric, baseline and change), 2 the run broke or bad "
                    "input, 3 UNKNOWN: insufficient history (never a pass).")
    g.add_argument("run_dir", metavar="RUN_DIR")
    add_history_option(g)
    add_gate_options(g)
    g.add_argument("--json", action="store_true", help="print the verdict as JSON")
    g.set_defaults(func=cmd_gate)


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    """``--last N`` and ``--min-history N`` (``gate``, and ``soak``, which gates the run it made)."""
    parser.add_argument("--last", type=positive_int, default=DEFAULT_LAST, metavar="N",
                        help=f"baseline: the N most recent earlier runs (default {DEFAULT_LAST})")
    parser.add_argument("--min-history", type=positive_int, default=DEFAULT_MIN_HISTORY, metavar="N",
                        help=f"fewer baseline runs than this is UNKNOWN, exit 3 (default {DEFAULT_MIN_HISTORY})")


def _fail(msg: str) -> int:
    print(f"agentsoak: error: {msg}", file=sys.stderr)
    return 2


def record_run_dir(run_dir: str, history: str | None, revision: str | None = None) -> str:
    """Record one run directory; returns the line to print. Raises ``ReportError``/``OSError``."""
    from reports.history.record import load_run
    from reports.history.store import HistoryStore

    rec = load_run(run_dir, revision=revision)
    with HistoryStore(history) as store:
        replaced = store.record(rec)
        name = store.name
    return (f"{'replaced' if replaced else 'recorded'} {rec.run_key} (profile {rec.profile}, {rec.verdict}) "
            f"in history {name}")


def cmd_record(args: argparse.Namespace) -> int:
    try:
        print(record_run_dir(args.run_dir, args.history, args.target_revision))
    except ReportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or args.run_dir}: {exc.strerror or exc}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from reports.history.store import HistoryStore
    from reports.history.trend import render_trend, trend_dict

    try:
        with HistoryStore(args.history, create=False) as store:
            runs = store.runs(args.profile, args.last)
            name = store.name
    except ReportError as exc:
        return _fail(str(exc))
    if args.json:
        sys.stdout.write(orjson.dumps({"history": name, "runs": trend_dict(runs)},
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    which = f" of profile {args.profile}" if args.profile else ""
    if not runs:
        print(f"no runs{which} recorded in history {name}")
        return 0
    print(f"history {name}: the last {len(runs)} run(s){which}, oldest first")
    print(render_trend(runs), end="")
    return 0


def gate_run_dir(run_dir: str, history: str | None, *, last: int = DEFAULT_LAST,
                 min_history: int = DEFAULT_MIN_HISTORY) -> tuple[GateResult, str]:
    """Judge one run directory against its profile's history; returns the verdict and the history's
    name (password hidden). Raises ``ReportError``/``OSError`` for bad input or an unreachable history."""
    from reports.history.gate import gate
    from reports.history.record import load_run
    from reports.history.store import HistoryStore

    if min_history > last:
        raise ReportError(f"--min-history {min_history} is more than --last {last}")
    current = load_run(run_dir)
    with HistoryStore(history, create=False) as store:
        runs = store.runs(current.profile)
        name = store.name
    return gate(current, runs, last=last, min_history=min_history), name


def print_gate(result: GateResult, history_name: str) -> None:
    """The gate's verdict as ``agentsoak gate`` prints it: the headline, then one line per metric."""
    print(result.headline)
    for g in result.metrics:
        print(f"  {g.status.upper():12} {g.describe()}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  baseline: {len(result.baseline)} run(s) of profile {result.profile} in history {history_name}")


def cmd_gate(args: argparse.Namespace) -> int:
    try:
        result, name = gate_run_dir(args.run_dir, args.history, last=args.last, min_history=args.min_history)
    except ReportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or args.run_dir}: {exc.strerror or exc}")
    if args.json:
        doc = {"history": name, **result.to_dict()}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return result.exit_code
    print_gate(result, name)
    return result.exit_code
