"""The ``agentsoak`` command line: one subcommand per job, each owned by the module that does it."""

from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand module, registering function). Each registers its own subparser with ``func`` set, so
# importing a module that pulls in locust (gevent patching) happens only when that subcommand runs.
_COMMANDS: list[tuple[str, str]] = [
    ("loadtests.server.cli", "register_cli"),  # serve
    ("faults.cli", "register_cli"),  # proxy
    ("loadtests.run_cli", "register_cli"),  # run, demo
    ("loadtests.distributed", "register_cli"),  # worker
    ("loadtests.ab_cli", "register_cli"),  # ab
    ("loadtests.soak_cli", "register_cli"),  # soak
    ("loadtests.ui.cli", "register_cli"),  # ui
    ("loadtests.profile.validate_cli", "register_cli"),  # validate
    ("reports.cli", "register_cli"),  # report, compare, trace, history, gate, prune
    ("loadtests.reproduce.cli", "register_cli"),  # reproduce
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentsoak",
        description="Load-test and fault-inject persistent agent WebSocket connections "
        "(Responses API WebSocket mode).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, func_name in _COMMANDS:
        module = importlib.import_module(module_name)
        getattr(module, func_name)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
