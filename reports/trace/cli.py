"""``agentsoak trace RUN AGENT``: one agent's timeline (registered by ``reports.cli``).

Exit 0 when the trace was shown, 2 on bad input (not a run directory, no such agent): one line on
stderr, never a traceback. A partial run traces too (flagged at the top).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reports.errors import ReportError
from reports.report import build_report
from reports.trace.model import AgentTrace
from reports.trace.read import AgentSpec, read_trace
from reports.trace.render import render_json, render_text

__all__ = ["register_cli", "cmd_trace", "trace_of"]


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "trace", help="one agent's timeline from a run's ledger",
        description="Show one agent's connects (with every attempt), turns (outcome, TTFT, cache), disconnects "
                    "(close code, how they were detected, what followed), recoveries and the fault windows that "
                    "overlapped each, in seconds since the test start. Reads the run directory only; partial "
                    "runs and compressed ledgers too.")
    p.add_argument("run_dir", metavar="RUN", help="a run directory (runs/<UTC>-<profile>)")
    p.add_argument("agent", metavar="AGENT", help="the agent's id (agent-0007) or its index (7)")
    p.add_argument("--json", action="store_true", help="print the trace as JSON")
    p.add_argument("--since", type=float, metavar="S", help="show only events at or after S s since the test start")
    p.add_argument("--until", type=float, metavar="S", help="show only events at or before S s since the test start")
    p.set_defaults(func=cmd_trace)


def trace_of(run_dir: str, agent: str) -> AgentTrace:
    """The trace of ``agent`` in ``run_dir``: from the report's own pass when the agent is named in a failed
    check (its swimlane), else from one more pass over the ledger."""
    report = build_report(run_dir)
    spec = AgentSpec.parse(agent)
    for t in report.traces:
        if spec.matches(t.agent, t.index):
            return t
    return read_trace(run_dir, agent, report.summary, checks=report.checks, partial=report.partial_reasons)


def cmd_trace(args: argparse.Namespace) -> int:
    try:
        trace = trace_of(args.run_dir, args.agent)
    except ReportError as exc:
        print(f"agentsoak: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"agentsoak: error: {args.run_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if getattr(args, "json", False):
        sys.stdout.write(render_json(trace, since=since, until=until).decode())
    else:
        sys.stdout.write(render_text(trace, since=since, until=until))
    return 0
