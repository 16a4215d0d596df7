"""Every knob of the reference server, in one frozen dataclass (defaults follow the spec's choices).

This is the one definition of each setting. A field's :class:`Knob` (its ``metadata["knob"]``) says
its kind, bounds, choices, unit and help, its ``agentsoak serve`` flag group, and the key a profile
sets it with under ``target.server`` (``profile=None``: not settable from a profile). The serve
flags (``cli.py``), the arguments the orchestrator passes (``cli.config_to_args``) and the profile
section (``loadtests/profile/target_server.py``, with its docs table) are all derived from it, so a
new field needs one edit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

__all__ = [
    "DURATION_MAX_S",
    "LIMIT_CLOSE_CODES",
    "LIMIT_MODES",
    "Knob",
    "ServerConfig",
    "knobs",
    "profile_knobs",
]

LIMIT_MODES = ("unsolicited", "on_next_create", "hard")
LIMIT_CLOSE_CODES = (1001, 1000, 1008, None)
#: Longest accepted duration (30 days): bounds timers and catches unit slips.
DURATION_MAX_S = 30 * 86400.0
_MS_MAX = 3.6e6  # one hour, for the cost model's millisecond knobs

KINDS = ("text", "int", "number", "duration", "choice", "flag", "keys")


@dataclass(frozen=True, slots=True)
class Knob:
    """How one :class:`ServerConfig` field is read, checked and shown.

    ``kind`` is ``int``, ``number``, ``duration`` (float seconds), ``choice``, ``flag`` (bool),
    ``text`` or ``keys`` (the API keys: repeatable flag and environment, never in a profile).
    ``lo``/``hi`` bound numbers (``lo_open``: ``> lo``); ``nullable`` allows None (``none_means`` says
    what None does). ``profile`` is the key under ``target.server``; ``name.min``/``name.max`` make
    two fields one ``{min, max}`` range there.
    """

    help: str
    kind: str = "number"
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    none_means: str = "none"
    group: str = "cost"  # network | cost | state | compat
    metavar: str | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this knob, or None."""
        if value is None:
            return None if self.nullable or None in self.choices else "must not be None"
        if self.kind == "choice":
            ok = any(type(value) is type(c) and value == c for c in self.choices)
            return None if ok else f"must be one of {', '.join(map(str, self.choices))}"
        if self.kind in ("int", "number", "duration"):
            number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number_ok or (self.kind == "int" and not isinstance(value, int)) or not math.isfinite(value):
                return f"must be {'an integer' if self.kind == 'int' else 'a finite number'}"
            low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
            if low_bad or (self.hi is not None and value > self.hi):
                return f"must be {self.bounds()}"
        return None

    def bounds(self) -> str:
        """``> 0 and <= 10000000``, ``>= 1``, ``0..1``: the numeric range in words ("" if none)."""
        lo, hi = _fmt(self.lo), _fmt(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"> {lo} and <= {hi}" if self.lo_open else f"{lo}..{hi}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        return f"<= {hi}" if self.hi is not None else ""


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _knob(default: Any, **spec: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(**spec)})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Configuration of one ``agentsoak serve`` process; times in the unit their name says."""

    host: str = _knob("127.0.0.1", kind="text", group="network", help="address to bind")
    port: int = _knob(
        8765, kind="int", lo=0, hi=65535, group="network", metavar="N", help="port to bind; 0 picks a free one"
    )
    # spec §1: empty means no auth check
    api_keys: tuple[str, ...] = _knob((), kind="keys", group="network", help="accepted Bearer keys")
    ping_interval_s: float | None = _knob(
        None, kind="duration", unit="s", lo=0, hi=DURATION_MAX_S, lo_open=True, nullable=True,
        group="network", profile="ping_interval_s", help="send WebSocket pings every S seconds",
    )  # fmt: skip
    compression: bool = _knob(
        True, kind="flag", group="network", help="refuse permessage-deflate (accepted when offered by default)"
    )
    workers: int = _knob(
        1, kind="int", lo=1, hi=64, group="network", metavar="N", profile="workers",
        help="server processes on the one port (SO_REUSEPORT), sharing one store; 1: a single process",
    )  # fmt: skip
    # -- cost model (spec §9, §10) --
    seed: int | None = _knob(
        None, kind="int", nullable=True, none_means="random, logged", metavar="N", help="RNG seed"
    )
    tokens_per_s: float = _knob(
        1000.0, lo=0, hi=1e9, lo_open=True, unit="output tokens/s", metavar="RATE", profile="tokens_per_s",
        help="streaming speed",
    )  # fmt: skip
    tokens_per_delta: int = _knob(
        1, kind="int", lo=1, hi=100_000, metavar="N", profile="tokens_per_delta",
        help="tokens per delta event; 1 token = 4 characters",
    )  # fmt: skip
    ttft_base_ms: float = _knob(
        40.0, lo=0, hi=_MS_MAX, unit="ms", profile="ttft_base_ms", help="time to first token, fixed part"
    )
    ttft_per_1k_uncached_ms: float = _knob(
        30.0, lo=0, hi=_MS_MAX, unit="ms", profile="ttft_per_1k_uncached_ms",
        help="extra TTFT per 1000 uncached input tokens",
    )  # fmt: skip
    ttft_per_1k_cached_ms: float = _knob(
        2.0, lo=0, hi=_MS_MAX, unit="ms", profile="ttft_per_1k_cached_ms",
        help="extra TTFT per 1000 input tokens served from the connection cache",
    )  # fmt: skip
    hydrate_delay_ms: float = _knob(
        150.0, lo=0, hi=_MS_MAX, unit="ms", profile="hydrate_delay_ms",
        help="extra delay when a chain hydrates from the store",
    )  # fmt: skip
    # per-turn transport costs (docs/ab.md explains each default and the figure it comes from)
    ws_turn_overhead_ms: float = _knob(
        4.0, lo=0, hi=_MS_MAX, unit="ms", profile="ws_turn_overhead_ms",
        help="fixed server overhead of one WebSocket turn (parse, route, the connection's rendered state)",
    )  # fmt: skip
    http_turn_overhead_ms: float = _knob(
        20.0, lo=0, hi=_MS_MAX, unit="ms", profile="http_turn_overhead_ms",
        help="fixed server overhead of one HTTP turn (new request: auth, routing, state load)",
    )  # fmt: skip
    upload_per_kib_ms: float = _knob(
        0.16, lo=0, hi=_MS_MAX, unit="ms", profile="upload_per_kib_ms",
        help="time per KiB of request body received (50 Mbit/s uplink), both transports",
    )  # fmt: skip
    http_handshake_ms: float = _knob(
        40.0, lo=0, hi=_MS_MAX, unit="ms", profile="http_handshake_ms",
        help="TCP + TLS 1.3 set-up charged to the first HTTP request of a connection (none on keep-alive)",
    )  # fmt: skip
    output_tokens_min: int = _knob(
        20, kind="int", lo=1, hi=10_000_000, metavar="N", profile="output_tokens.min",
        help="smallest drawn text output",
    )  # fmt: skip
    output_tokens_max: int = _knob(
        120, kind="int", lo=1, hi=10_000_000, metavar="N", profile="output_tokens.max",
        help="largest drawn text output",
    )  # fmt: skip
    tool_call_probability: float = _knob(
        0.5, lo=0, hi=1, metavar="P", profile="tool_call_probability",
        help="chance of a function call when tools are given",
    )  # fmt: skip
    # -- state (spec §5, §6) --
    store_capacity: int = _knob(
        10000, kind="int", lo=0, hi=10**9, group="state", metavar="N", profile="store_capacity",
        help="responses kept in the server-wide store, LRU",
    )  # fmt: skip
    queue_limit: int = _knob(
        32, kind="int", lo=1, group="state", metavar="N", help="creates that may wait behind the running one"
    )
    connection_lifetime_s: float = _knob(
        3600.0, kind="duration", unit="s", lo=0, hi=DURATION_MAX_S, lo_open=True, group="state",
        profile="connection_lifetime_s", help="connection lifetime before the limit error",
    )  # fmt: skip
    limit_mode: str = _knob(
        "unsolicited", kind="choice", choices=LIMIT_MODES, group="state", profile="limit_mode",
        help="how the lifetime limit is delivered",
    )  # fmt: skip
    limit_close_code: int | None = _knob(
        1001, kind="choice", choices=LIMIT_CLOSE_CODES, group="state", profile="limit_close_code",
        help="Close code after the limit error, or none (null in a profile): no Close",
    )  # fmt: skip
    limit_close_delay_s: float = _knob(
        1.0, kind="duration", unit="s", lo=0, hi=DURATION_MAX_S, group="state", profile="limit_close_delay_s",
        help="delay between the limit error and the Close",
    )  # fmt: skip
    # -- compatibility flags (spec §3.5, §3.6, §4) --
    response_done_compat: bool = _knob(
        False, kind="flag", group="compat", help="send response.done instead of response.completed/incomplete"
    )
    legacy_error_compat: bool = _knob(
        False, kind="flag", group="compat", help="send errors in the legacy flat form"
    )
    warmup_completed_only: bool = _knob(
        False, kind="flag", group="compat", help="answer generate:false with response.completed alone"
    )

    def __post_init__(self) -> None:
        problems = []
        for name, knob in knobs().items():
            value = getattr(self, name)
            why = knob.problem(value)
            if why is not None:
                problems.append(f"{name} {why}, got {value!r}")
        if not problems and self.output_tokens_min > self.output_tokens_max:
            problems.append(
                "need output_tokens_min <= output_tokens_max, got "
                f"{self.output_tokens_min}..{self.output_tokens_max}"
            )
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def knobs() -> dict[str, Knob]:
    """Every field's :class:`Knob`, in field order."""
    return _KNOBS


def profile_knobs() -> dict[str, Knob]:
    """The fields a profile may set under ``target.server``, in field order."""
    return {name: k for name, k in _KNOBS.items() if k.profile is not None}


_KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in fields(ServerConfig)}
