"""``agentsoak proxy``: the embedded Toxiproxy-compatible server (flags named like toxiproxy-server's)."""

from __future__ import annotations

import argparse
from typing import Any

from .api import VERSION

__all__ = ["register_cli", "add_arguments"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="API address to listen on (default 127.0.0.1; toxiproxy-server defaults to localhost)")
    p.add_argument("--port", type=int, default=8474, help="API port (default 8474; 0 picks a free one)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="JSON file of proxies to populate at startup (toxics in it are ignored, as in Toxiproxy)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for toxicity draws, jitter and slicer sizes (reproducible runs)")
    p.add_argument("--workers", type=int, default=1,
                   help="data-plane processes; >1 shards connections over SO_REUSEPORT listeners (default 1)")
    p.add_argument("--version-string", default=VERSION,
                   help=f"version reported by GET /version (default {VERSION})")


def _run(args: Any) -> int:
    from .server import main

    return main(args)


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "proxy", help="run the embedded Toxiproxy-compatible fault proxy",
        description="Serve the Toxiproxy 2.12.0 HTTP API and its toxics (see docs/faults.md). "
                    "Any Toxiproxy client (curl, toxiproxy-python, toxiproxy-cli) can drive it.")
    add_arguments(p)
    p.set_defaults(func=_run)
