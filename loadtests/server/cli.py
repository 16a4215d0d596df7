"""``agentsoak serve``: flags mirror :class:`ServerConfig` (``--kebab-case``); bad input is an argparse error."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .config import Knob, ServerConfig, knobs
from .errors import ConfigError

__all__ = ["register_cli", "add_serve_arguments", "config_from_args", "config_to_args", "build_parser", "main"]

_DEFAULTS = ServerConfig()
_GROUPS = {
    "network": "network",
    "cost": "cost model (deterministic under --seed)",
    "state": "state and lifetime",
    "compat": "compatibility",
}
_NONE_WORDS = ("none", "off")


def flag_name(field: str) -> str:
    """``tokens_per_s`` -> ``--tokens-per-s``."""
    return "--" + field.replace("_", "-")


def _number_parser(knob: Knob) -> Callable[[str], Any]:
    kind = int if knob.kind == "int" else float

    def parse(text: str) -> Any:
        if knob.nullable and (text.lower() in _NONE_WORDS or (knob.lo_open and knob.lo == 0 and text == "0")):
            return None
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if knob.problem(value) is not None:
            raise argparse.ArgumentTypeError(f"expected a value {knob.bounds()}, got {text!r}")
        return value

    return parse


def _choice_text(option: Any) -> str:
    return "none" if option is None else str(option)


def _choice_parser(knob: Knob) -> Callable[[str], Any]:
    shown = [_choice_text(c) for c in knob.choices]

    def parse(text: str) -> Any:
        for option, label in zip(knob.choices, shown, strict=True):
            if text == label or (option is None and text.lower() == "none"):
                return option
        listed = ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]
        raise argparse.ArgumentTypeError(f"expected {listed}, got {text!r}")

    return parse


def _help(knob: Knob, default: Any) -> str:
    unit = f"{knob.unit}, " if knob.unit and knob.kind != "duration" else ""
    if default is None:
        return f"{knob.help} ({unit}default: {knob.none_means})"
    return f"{knob.help} ({unit}default %(default)s)"


def _add_knob(group: Any, name: str, knob: Knob) -> None:
    default = getattr(_DEFAULTS, name)
    if knob.kind == "keys":
        group.add_argument(
            "--api-key", action="append", dest=name, metavar="KEY",
            help="accepted Bearer key (repeatable; also env AGENTSOAK_API_KEY, comma-separated); "
            "without any key, auth is off",
        )  # fmt: skip
    elif knob.kind == "flag":
        flag = flag_name(name) if default is False else "--no-" + name.replace("_", "-")
        action = "store_true" if default is False else "store_false"
        group.add_argument(flag, dest=name, action=action, help=knob.help)
    elif knob.kind == "text":
        group.add_argument(flag_name(name), default=default, help=f"{knob.help} (default %(default)s)")
    elif knob.kind == "choice" and all(isinstance(c, str) for c in knob.choices):
        group.add_argument(flag_name(name), choices=knob.choices, default=default, help=_help(knob, default))
    elif knob.kind == "choice":
        metavar = "{" + ",".join(_choice_text(c) for c in knob.choices) + "}"
        group.add_argument(
            flag_name(name), type=_choice_parser(knob), default=default, metavar=metavar,
            help=_help(knob, default),
        )  # fmt: skip
    else:
        metavar = knob.metavar or ("S" if knob.kind == "duration" else "MS" if knob.unit == "ms" else "X")
        group.add_argument(
            flag_name(name), type=_number_parser(knob), default=default, metavar=metavar,
            help=_help(knob, default),
        )  # fmt: skip


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Add every ``serve`` flag to ``p``: one per :class:`ServerConfig` field, grouped by its knob."""
    groups = {key: p.add_argument_group(title) for key, title in _GROUPS.items()}
    for name, knob in knobs().items():
        _add_knob(groups[knob.group], name, knob)
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level on stderr (default %(default)s)",
    )


def config_to_args(config: ServerConfig, names: Iterable[str]) -> list[str]:
    """The ``serve`` flags that set the fields ``names`` of ``config`` (the inverse of the parser).

    Flags (bools) appear only when they differ from the default; API keys are never passed on a
    command line (use the environment).
    """
    args: list[str] = []
    table = knobs()
    for name in names:
        knob, value = table[name], getattr(config, name)
        if knob.kind == "keys":
            raise ValueError("API keys go in the environment (AGENTSOAK_API_KEY), not on a command line")
        if knob.kind == "flag":
            if value != getattr(_DEFAULTS, name):
                args.append(flag_name(name) if value else "--no-" + name.replace("_", "-"))
            continue
        args += [flag_name(name), "none" if value is None else repr(value) if isinstance(value, float) else str(value)]
    return args


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the config. Raises ConfigError for inconsistent values."""
    keys = list(args.api_keys or [])
    keys += [k.strip() for k in os.environ.get("AGENTSOAK_API_KEY", "").split(",") if k.strip()]
    values = {name: getattr(args, name) for name in ServerConfig.field_names() if hasattr(args, name)}
    values["api_keys"] = tuple(dict.fromkeys(keys))
    return ServerConfig(**values)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from faults.gc_tuning import tune_gc

    from .app import serve  # aiohttp only when the command runs

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tune_gc()  # before the workers fork: they inherit it

    def ready(url: str) -> None:
        print(f"listening on {url}", flush=True)

    try:
        if config.workers > 1:
            from .workers import run_workers

            return run_workers(config, config.workers, ready=ready)
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
