"""``agentsoak ab PROFILE``: run a profile once per transport (same seed, agents, conversations), compare.

Each arm is an ordinary ``agentsoak run`` of PROFILE with ``agent.transport`` set to the arm's transport
(websocket first, then http), so each arm has its own run directory, report and checks. The side-by-side
table (``reports.ab``) goes to stdout and to ``<output dir>/<UTC>-<profile>-ab.md``. Exit 0 when both arms
passed their checks, else the worse arm's code.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["register_cli"]

ARMS = ("websocket", "http")


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    from .run_cli import add_run_options

    ab = subparsers.add_parser(
        "ab", help="run a profile over WebSocket and over HTTP/SSE and compare the arms",
        description="Run PROFILE twice, with agent.transport websocket then http (same seed, agents and "
        "conversations), and print both arms side by side: session time, TTFT, bytes sent per turn, time "
        "per stage and the session-time ratio with its spread. Exit 0 when both arms pass their checks.",
    )
    ab.add_argument("profile", help="a YAML profile file, or a shipped profile's name")
    add_run_options(ab, history=False)
    ab.set_defaults(func=_cmd_ab)


def _cmd_ab(args: argparse.Namespace) -> int:
    from reports.ab import compare, read_arm, render

    from .run_cli import run_and_report
    from .stop_signals import StopSignals

    dirs: dict[str, Path] = {}
    codes: list[int] = []
    with StopSignals() as stops:
        for arm in ARMS:
            arm_args = argparse.Namespace(**vars(args))
            arm_args.overrides = [*args.overrides, f"agent.transport={arm}"]
            arm_args.target_revision = getattr(args, "target_revision", None)
            outcome = run_and_report(arm_args, stops)
            codes.append(outcome.code)
            if outcome.run_dir is None or outcome.code == 2:
                print(f"agentsoak ab: the {arm} arm did not run ({outcome.reason})", file=sys.stderr)
                return 2
            dirs[arm] = outcome.run_dir
    table = render(compare(read_arm("websocket", dirs["websocket"]), read_arm("http", dirs["http"])))
    table += "\n" + "".join(f"- {arm} arm: `{d}`\n" for arm, d in dirs.items())
    out = dirs["http"].parent / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{dirs['http'].name.split('-', 1)[1]}-ab.md"
    out.write_text(table)
    print(table)
    print(f"A/B table: {out}")
    return max(codes)
