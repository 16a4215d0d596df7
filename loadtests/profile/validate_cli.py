"""``agentsoak validate PROFILE``: check a profile without running it.

Prints a short summary and the planned fault windows and exits 0, or prints the error to stderr
and exits 2. It never prints a traceback. Warnings (faults that start after the test ends) go to
stderr and do not change the exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from tabulate import tabulate

from faults.schedule import FaultWindow
from loadtests.catalog import resolve_profile
from loadtests.layout import Layout, Machine, resolve_layout
from loadtests.profile import Profile, ProfileError, load_profile
from loadtests.profile.fields import format_duration
from loadtests.profile.late_faults import late_fault_warnings

__all__ = ["add_profile_arguments", "register_cli", "run_validate", "summary"]


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every profile-taking command shares: PROFILE, --set, --allow-remote."""
    parser.add_argument("profile", metavar="PROFILE", help="a YAML profile, e.g. profiles/smoke.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one field (YAML value), e.g. --set load.users=50 --set faults=[]; repeatable",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a target or proxy outside 127.0.0.0/8 and ::1",
    )


def register_cli(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser("validate", help="check a profile without running it")
    add_profile_arguments(parser)
    parser.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        path = resolve_profile(args.profile)
        profile = load_profile(path, args.overrides, allow_remote=args.allow_remote)
        profile, layout = resolve_layout(profile, Machine.detect(), source=str(path))
    except ProfileError as exc:  # a LayoutError too: what cannot fit this machine is refused here
        print(f"error: {exc}", file=err)
        return 2
    except Exception as exc:  # no traceback ever; a bug here is still reported as one line
        print(
            f"error: {args.profile}: internal error while validating: {type(exc).__name__}: {exc}", file=err
        )
        return 2
    for warning in late_fault_warnings(profile):
        print(warning, file=err)
    print(summary(profile, layout), file=out)
    return 0


def _target(p: Profile) -> str:
    if p.target.kind == "external":
        key = f", key from ${p.target.api_key_env}" if p.target.api_key_env else ""
        return f"external {p.target.url}{key}"
    return "embedded reference server"


def _details(w: FaultWindow) -> str:
    attrs = w.spec.ledger_attributes()
    return " ".join(f"{k}={v}" for k, v in attrs.items() if v is not None)


def summary(p: Profile, layout: Layout | None = None) -> str:
    """The human summary ``validate`` prints (with the process layout planned for this machine)."""
    load = p.load
    lines = [
        f"profile   {p.name} (seed {p.seed}, output {p.output_dir}/)",
        f"target    {_target(p)}",
        f"proxy     {p.proxy.kind}{' ' + p.proxy.url if p.proxy.url else ''}",
        f"load      {load.users} users, spawn {load.spawn_rate:g}/s, {format_duration(load.duration_s)}, "
        f"processes {load.processes}",
        *([f"layout    {layout.summary().removeprefix('layout ')}"] if layout is not None else []),
        f"agent     store={str(p.agent.store).lower()}, {p.agent.turns_per_session} turns/session, "
        f"full_resend={str(p.agent.recovery.full_resend).lower()}",
    ]
    windows = p.plan()
    if not windows:
        lines.append("faults    none")
    else:
        rows = [
            [
                w.fault,
                w.spec.ledger_type,
                format_duration(w.start_s),
                "-" if w.end_s is None else format_duration(w.end_s),
                f"{w.spec.share:g}",
                _details(w),
            ]
            for w in windows
        ]
        lines.append(f"faults    {len(windows)} planned")
        lines.append(tabulate(rows, headers=["fault", "type", "start", "end", "share", "details"]))
    if p.checks:
        lines.append("checks    " + ", ".join(f"{k}={v}" for k, v in p.checks.items()))
    lines.append("ok")
    return "\n".join(lines)
