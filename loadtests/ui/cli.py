"""``agentsoak ui PROFILE``: what the profile names, then Locust's web UI with the Agents and Faults tabs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faults.loopback import is_loopback

from ..catalog import load_profile_arg

__all__ = ["STATIC_DIR", "register_cli"]

#: the built web UI (Locust's locust-ui with our tabs; sources in ``frontend/``), Locust's ``--build-path``
STATIC_DIR = Path(__file__).with_name("static")


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ui", help="open Locust's web UI on a profile, with live agent gauges and fault controls",
        description="Start what PROFILE names (reference server or external target, Toxiproxy, the route) as "
        "`agentsoak run` does, then Locust's web UI (default http://127.0.0.1:8089) with an Agents tab "
        "(live gauges) and a Faults tab (toxics, drops, outages, the fault timeline). Every swarm started "
        "from the page is a run of its own: recorded from its start, verified at Stop (its verdict and "
        "report.html are on the page). Ctrl-C (or SIGTERM) stops the swarm, verifies it and exits.",
    )
    p.add_argument("profile", help="a YAML profile file, or a shipped profile's name (see `agentsoak profiles`)")
    p.add_argument("--web-host", default="127.0.0.1",
                   help="interface of the web UI (default 127.0.0.1; another than loopback needs --allow-remote)")
    p.add_argument("--web-port", type=int, default=8089, help="port of the web UI (default 8089)")
    p.add_argument("-u", "--users", type=int, default=None, help="the form's number of agents (default: the profile's)")
    p.add_argument("-r", "--spawn-rate", type=float, default=None,
                   help="the form's agents started per second (default: the profile's)")
    p.add_argument("-t", "--run-time", default=None, metavar="DURATION",
                   help="the form's run time, e.g. 60s, 5m (default: the profile's load.duration)")
    p.add_argument("--processes", type=int, default=None,
                   help="Locust worker processes (default: the profile's load.processes; -1: one per core)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a profile field, e.g. --set load.users=50 (repeatable)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a target, proxy or web UI outside 127.0.0.0/8 and ::1 (off by default)")
    p.add_argument("--output-dir", default=None, help="where run directories go (default: the profile's)")
    p.set_defaults(func=_cmd_ui)


def _overrides(args: argparse.Namespace) -> list[str]:
    """Locust's -u/-r/-t/--processes as profile overrides: one source for the form and the run's record."""
    out = list(args.overrides)
    for key, value in (("load.users", args.users), ("load.spawn_rate", args.spawn_rate),
                       ("load.duration", args.run_time), ("load.processes", args.processes)):
        if value is not None:
            out.append(f"{key}={value}")
    return out


def _cmd_ui(args: argparse.Namespace) -> int:
    from ..run import WebOptions, make_run_dir, run_profile
    from ..stop_signals import StopSignals

    if not args.allow_remote and not is_loopback(args.web_host):
        print(f"agentsoak: --web-host {args.web_host} is not a loopback address; the web UI controls faults "
              "and load, so it stays on 127.0.0.1 or ::1 unless --allow-remote is given", file=sys.stderr)
        return 2
    if not 0 < args.web_port <= 65535:
        print(f"agentsoak: --web-port {args.web_port}: expected a port 1..65535", file=sys.stderr)
        return 2
    profile = load_profile_arg(args.profile, _overrides(args), allow_remote=args.allow_remote)
    if isinstance(profile, str):
        return 2
    build = STATIC_DIR if (STATIC_DIR / "index.html").is_file() else None
    if build is None:
        print("agentsoak: the built web UI is missing (loadtests/ui/static); Locust's own page is served, "
              "the Agents and Faults data stay at /agentsoak/*", file=sys.stderr)
    web = WebOptions(host=args.web_host, port=args.web_port, build_path=str(build.resolve()) if build else None)
    run_dir = make_run_dir(profile, args.output_dir)
    print(f"agentsoak: {profile.name} on http://{_url_host(args.web_host)}:{args.web_port} "
          f"({profile.load.users} agents by default); runs go to {run_dir.parent}", file=sys.stderr)
    with StopSignals() as stops:
        result = run_profile(profile, run_dir=run_dir, progress=None, stops=stops, web=web)
    runs = sorted(p for p in run_dir.parent.iterdir()
                  if p.is_dir() and p.name >= run_dir.name and (p / "run.json").exists())
    for r in runs:
        print(f"run directory: {r}", file=sys.stderr)
    if result.status == "error":
        print(f"agentsoak: ui {result.status}: {result.error}", file=sys.stderr)
        return 2
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
