"""``agentsoak report RUN_DIR`` and ``agentsoak compare RUN_A RUN_B`` (registered by loadtests.cli),
and, from ``reports.history.cli``, ``agentsoak history`` and ``agentsoak gate``; from
``reports.trace.cli``, ``agentsoak trace RUN AGENT``.

Exit codes: ``report`` 0 all checks pass, 1 a check failed, 2 the run broke (or is partial) or the
input is bad. ``compare`` 0 no check regressed from A to B and no metric worsened past its
``--threshold``, 1 otherwise, 2 bad input. Bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from reports import prune
from reports.compare import Threshold, compare, comparison_dict, render_comparison
from reports.errors import ReportError
from reports.history import cli as history_cli
from reports.render_terminal import headline, render_terminal
from reports.report import build_report, exit_code, write_report
from reports.trace import cli as trace_cli

__all__ = ["register_cli", "cmd_report", "cmd_compare"]


def register_cli(subparsers: Any) -> None:
    """Add the ``report`` and ``compare`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("report", help="verify a run directory and (re)write its reports",
                              description="Regenerate report.md/.html/.json and junit.xml from a run directory "
                                          "(also a partial one) and print the summary. Exit 0 pass, 1 fail, 2 broken.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the headline")
    p.add_argument("--no-write", action="store_true", help="print the summary without writing report files")
    p.add_argument("--ledger", dest="ledgers", action="append", default=[], metavar="PATH",
                   help="more of the run's ledger files kept elsewhere, read with RUN_DIR/ledger/: a file, a "
                        "folder of them, or a worker's run directory (a distributed run's workers; repeatable; "
                        "a file named like one already read is not read twice)")
    p.set_defaults(func=cmd_report)
    c = subparsers.add_parser("compare", help="compare two runs check by check and metric by metric",
                              description="Show the differences between two run directories. Exit 0 when no "
                                          "check regressed from RUN_A to RUN_B and no metric worsened past its "
                                          "--threshold, 1 otherwise.")
    c.add_argument("run_a", metavar="RUN_A")
    c.add_argument("run_b", metavar="RUN_B")
    c.add_argument("--threshold", action="append", default=[], metavar="METRIC=N[%]",
                   help="fail when METRIC is worse in RUN_B than in RUN_A by more than N%% of RUN_A's value "
                        "(or N in the metric's unit), e.g. ttft_p95_ms=10%% (repeatable)")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.set_defaults(func=cmd_compare)
    trace_cli.register_cli(subparsers)
    history_cli.register_cli(subparsers)
    prune.register_cli(subparsers)


def _fail(msg: str) -> int:
    print(f"agentsoak: error: {msg}", file=sys.stderr)
    return 2


def cmd_report(args: argparse.Namespace) -> int:
    try:
        report = build_report(args.run_dir, ledgers=getattr(args, "ledgers", []))
        paths = {} if getattr(args, "no_write", False) else write_report(report)
    except ReportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{args.run_dir}: {exc.strerror or exc}")
    if getattr(args, "quiet", False):
        print("\n".join(headline(report)))
    else:
        print(render_terminal(report), end="")
    for kind, path in paths.items():
        print(f"repro bundle: {path}" if kind.startswith("repro:") else f"{kind}: {path}")
    return exit_code(report)


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        thresholds = tuple(Threshold.parse(t) for t in getattr(args, "threshold", []))
        a = build_report(args.run_a)
        b = build_report(args.run_b)
    except ReportError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    comparison = compare(a, b, thresholds)
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(comparison_dict(comparison), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render_comparison(comparison), end="")
    return 1 if comparison.failed else 0
