"""``agentsoak serve``: flags mirror :class:`ServerConfig` (``--kebab-case``); bad input is an argparse error."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

from .config import LIMIT_MODES, ServerConfig
from .errors import ConfigError

__all__ = ["register_cli", "add_serve_arguments", "config_from_args", "build_parser", "main"]

_DEFAULTS = ServerConfig()


def _number(kind: type, *, minimum: float | None = None, strict: bool = False):  # noqa: ANN202
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(
                f"expected a value {'>' if strict else '>='} {minimum}, got {text!r}"
            )
        return value

    return parse


def _close_code(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if text not in ("1000", "1001", "1008"):
        raise argparse.ArgumentTypeError(f"expected 1001, 1000, 1008 or none, got {text!r}")
    return int(text)


def _optional_seconds(text: str) -> float | None:
    if text.lower() in ("none", "off", "0"):
        return None
    return _number(float, minimum=0, strict=True)(text)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Add every ``serve`` flag to ``p``."""
    d = _DEFAULTS
    net = p.add_argument_group("network")
    net.add_argument("--host", default=d.host, help="address to bind (default %(default)s)")
    net.add_argument(
        "--port",
        metavar="N",
        type=_number(int, minimum=0),
        default=d.port,
        help="port to bind; 0 picks a free one (default %(default)s)",
    )
    net.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted Bearer key (repeatable; also env AGENTSOAK_API_KEY, comma-separated); "
        "without any key, auth is off",
    )
    net.add_argument(
        "--ping-interval-s",
        type=_optional_seconds,
        default=d.ping_interval_s,
        metavar="S",
        help="send WebSocket pings every S seconds (default: none)",
    )
    net.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="refuse permessage-deflate (accepted when offered by default)",
    )
    cost = p.add_argument_group("cost model (deterministic under --seed)")
    cost.add_argument(
        "--seed", metavar="N", type=_number(int), default=None, help="RNG seed (default: random, logged)"
    )
    cost.add_argument(
        "--tokens-per-s",
        metavar="RATE",
        type=_number(float, minimum=0, strict=True),
        default=d.tokens_per_s,
        help="streaming speed in output tokens per second (default %(default)s)",
    )
    cost.add_argument(
        "--tokens-per-delta",
        metavar="N",
        type=_number(int, minimum=1),
        default=d.tokens_per_delta,
        help="tokens per delta event; 1 token = 4 characters (default %(default)s)",
    )
    cost.add_argument(
        "--ttft-base-ms",
        metavar="MS",
        type=_number(float, minimum=0),
        default=d.ttft_base_ms,
        help="time to first token, fixed part (default %(default)s)",
    )
    cost.add_argument(
        "--ttft-per-1k-uncached-ms",
        metavar="MS",
        type=_number(float, minimum=0),
        default=d.ttft_per_1k_uncached_ms,
        help="extra TTFT per 1000 uncached input tokens (default %(default)s)",
    )
    cost.add_argument(
        "--ttft-per-1k-cached-ms",
        metavar="MS",
        type=_number(float, minimum=0),
        default=d.ttft_per_1k_cached_ms,
        help="extra TTFT per 1000 input tokens served from the connection cache (default %(default)s)",
    )
    cost.add_argument(
        "--hydrate-delay-ms",
        metavar="MS",
        type=_number(float, minimum=0),
        default=d.hydrate_delay_ms,
        help="extra delay when a chain hydrates from the store (default %(default)s)",
    )
    cost.add_argument(
        "--output-tokens-min",
        metavar="N",
        type=_number(int, minimum=1),
        default=d.output_tokens_min,
        help="smallest drawn text output (default %(default)s)",
    )
    cost.add_argument(
        "--output-tokens-max",
        metavar="N",
        type=_number(int, minimum=1),
        default=d.output_tokens_max,
        help="largest drawn text output (default %(default)s)",
    )
    cost.add_argument(
        "--tool-call-probability",
        metavar="P",
        type=_number(float, minimum=0),
        default=d.tool_call_probability,
        help="chance of a function call when tools are given (0..1, default %(default)s)",
    )
    st = p.add_argument_group("state and lifetime")
    st.add_argument(
        "--store-capacity",
        metavar="N",
        type=_number(int, minimum=0),
        default=d.store_capacity,
        help="responses kept in the server-wide store, LRU (default %(default)s)",
    )
    st.add_argument(
        "--queue-limit",
        metavar="N",
        type=_number(int, minimum=1),
        default=d.queue_limit,
        help="creates that may wait behind the running one (default %(default)s)",
    )
    st.add_argument(
        "--connection-lifetime-s",
        metavar="S",
        type=_number(float, minimum=0, strict=True),
        default=d.connection_lifetime_s,
        help="connection lifetime (default %(default)s)",
    )
    st.add_argument(
        "--limit-mode",
        choices=LIMIT_MODES,
        default=d.limit_mode,
        help="how the lifetime limit is delivered (default %(default)s)",
    )
    st.add_argument(
        "--limit-close-code",
        type=_close_code,
        default=d.limit_close_code,
        metavar="{1001,1000,1008,none}",
        help="Close code after the limit error (default %(default)s)",
    )
    st.add_argument(
        "--limit-close-delay-s",
        metavar="S",
        type=_number(float, minimum=0),
        default=d.limit_close_delay_s,
        help="delay between the limit error and the Close (default %(default)s)",
    )
    compat = p.add_argument_group("compatibility")
    compat.add_argument(
        "--response-done-compat",
        action="store_true",
        help="send response.done instead of response.completed/incomplete",
    )
    compat.add_argument(
        "--legacy-error-compat", action="store_true", help="send errors in the legacy flat form"
    )
    compat.add_argument(
        "--warmup-completed-only",
        action="store_true",
        help="answer generate:false with response.completed alone",
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level on stderr (default %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the config. Raises ConfigError for inconsistent values."""
    keys = list(args.api_keys or [])
    keys += [k.strip() for k in os.environ.get("AGENTSOAK_API_KEY", "").split(",") if k.strip()]
    values = {name: getattr(args, name) for name in ServerConfig.field_names() if hasattr(args, name)}
    values["api_keys"] = tuple(dict.fromkeys(keys))
    return ServerConfig(**values)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .app import serve  # aiohttp only when the command runs

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(url: str) -> None:
        print(f"listening on {url}", flush=True)

    try:
        asyncio.run(serve(config, ready=ready))
    except OSError as exc:  # e.g. the port is taken
        print(f"agentsoak serve: {exc}", file=sys.stderr)
        return 1
    return 0


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p = subparsers.add_parser(
        "serve",
        help="run the reference Responses API WebSocket server",
        description="Reference server for Responses API WebSocket mode (GET /v1/responses) with a seeded "
        "cost model and the admin fault API under /admin/ (loopback only).",
    )
    add_serve_arguments(p)
    p.set_defaults(func=lambda args: _run(p, args))
    return p


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser for ``python -m loadtests.server``."""
    p = argparse.ArgumentParser(
        prog="python -m loadtests.server", description="Reference server for Responses API WebSocket mode."
    )
    add_serve_arguments(p)
    p.set_defaults(func=lambda args: _run(p, args))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
