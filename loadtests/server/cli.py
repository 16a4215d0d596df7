"""``agentsoak serve``: flags mirror :class:`ServerConfig` (``--kebab-case``); bad input is an argparse error."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from .config import LIMIT_CLOSE_CODES, LIMIT_MODES, ServerConfig
from .errors import ConfigError

__all__ = ["register_cli", "add_serve_arguments", "config_from_args", "build_parser", "main"]

_DEFAULTS = ServerConfig()


def _number(kind: type, *, minimum: float | None = None, strict: bool = False) -> Callable[[str], Any]:
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


_POSITIVE = _number(float, minimum=0, strict=True)
_NON_NEGATIVE = _number(float, minimum=0)
_COUNT = _number(int, minimum=1)
_CLOSE_CODES = [str(code) for code in LIMIT_CLOSE_CODES if code is not None]


def _close_code(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if text not in _CLOSE_CODES:
        raise argparse.ArgumentTypeError(f"expected {', '.join(_CLOSE_CODES)} or none, got {text!r}")
    return int(text)


def _optional_seconds(text: str) -> float | None:
    if text.lower() in ("none", "off", "0"):
        return None
    return _POSITIVE(text)


# Plain options, one per ServerConfig field: (field, metavar, parser, help) becomes ``--field-name``
# with the field's default.
_NETWORK = [
    ("port", "N", _number(int, minimum=0), "port to bind; 0 picks a free one (default %(default)s)"),
    ("ping_interval_s", "S", _optional_seconds, "send WebSocket pings every S seconds (default: none)"),
]
_COST_MODEL = [
    ("seed", "N", _number(int), "RNG seed (default: random, logged)"),
    ("tokens_per_s", "RATE", _POSITIVE, "streaming speed in output tokens per second (default %(default)s)"),
    ("tokens_per_delta", "N", _COUNT, "tokens per delta event; 1 token = 4 characters (default %(default)s)"),
    ("ttft_base_ms", "MS", _NON_NEGATIVE, "time to first token, fixed part (default %(default)s)"),
    (
        "ttft_per_1k_uncached_ms",
        "MS",
        _NON_NEGATIVE,
        "extra TTFT per 1000 uncached input tokens (default %(default)s)",
    ),
    (
        "ttft_per_1k_cached_ms",
        "MS",
        _NON_NEGATIVE,
        "extra TTFT per 1000 input tokens served from the connection cache (default %(default)s)",
    ),
    (
        "hydrate_delay_ms",
        "MS",
        _NON_NEGATIVE,
        "extra delay when a chain hydrates from the store (default %(default)s)",
    ),
    ("output_tokens_min", "N", _COUNT, "smallest drawn text output (default %(default)s)"),
    ("output_tokens_max", "N", _COUNT, "largest drawn text output (default %(default)s)"),
    (
        "tool_call_probability",
        "P",
        _NON_NEGATIVE,
        "chance of a function call when tools are given (0..1, default %(default)s)",
    ),
]
_STATE = [
    (
        "store_capacity",
        "N",
        _number(int, minimum=0),
        "responses kept in the server-wide store, LRU (default %(default)s)",
    ),
    ("queue_limit", "N", _COUNT, "creates that may wait behind the running one (default %(default)s)"),
    ("connection_lifetime_s", "S", _POSITIVE, "connection lifetime (default %(default)s)"),
    (
        "limit_close_delay_s",
        "S",
        _NON_NEGATIVE,
        "delay between the limit error and the Close (default %(default)s)",
    ),
]


def _add_options(group: Any, options: list[tuple[str, str, Callable[[str], Any], str]]) -> None:
    for field, metavar, parse, help_text in options:
        flag = "--" + field.replace("_", "-")
        group.add_argument(
            flag, metavar=metavar, type=parse, default=getattr(_DEFAULTS, field), help=help_text
        )


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Add every ``serve`` flag to ``p``."""
    d = _DEFAULTS
    net = p.add_argument_group("network")
    net.add_argument("--host", default=d.host, help="address to bind (default %(default)s)")
    _add_options(net, _NETWORK)
    net.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted Bearer key (repeatable; also env AGENTSOAK_API_KEY, comma-separated); "
        "without any key, auth is off",
    )
    net.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="refuse permessage-deflate (accepted when offered by default)",
    )
    _add_options(p.add_argument_group("cost model (deterministic under --seed)"), _COST_MODEL)
    st = p.add_argument_group("state and lifetime")
    _add_options(st, _STATE)
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
        metavar="{" + ",".join([*_CLOSE_CODES, "none"]) + "}",
        help="Close code after the limit error (default %(default)s)",
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
