"""Scenario profiles: YAML in ``profiles/`` -> validated, frozen ``Profile``.

This is the only reader of ``profiles/``. Text is parsed with ``yaml.safe_load`` semantics (a
``SafeLoader`` subclass that records line numbers), ``--set key.path=value`` overrides are applied
to the raw mapping, and everything is validated up front. Every problem raises ``ProfileError``
naming the file, line and key path, what was expected and, for a typo, the nearest valid key.
Durations are float seconds. ``Profile.to_dict()`` is the resolved profile, loadable again.

Safety: a target or proxy URL outside 127.0.0.0/8 and ::1 (or ``localhost``) is refused unless
``allow_remote``; API keys are never read from a profile, only the *name* of the environment
variable holding one, and no error message echoes a key-like value.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faults.schedule import FaultSpec, FaultWindow, plan
from faults.server_admin import is_loopback_host
from loadtests.profile_faults import fault_to_dict, read_faults
from loadtests.profile_fields import (
    At,
    Origin,
    ProfileError,
    Section,
    as_float,
    boolean,
    choice,
    duration,
    integer,
    number,
    optional,
    text,
)
from loadtests.profile_yaml import LineMap, YamlSyntaxError, format_path, load_yaml, parse_override, set_path

__all__ = [
    "CHECKS_VALIDATOR",
    "AgentConfig",
    "FaultEntry",
    "FaultSpec",
    "IntRange",
    "Keepalive",
    "LoadConfig",
    "Profile",
    "ProfileError",
    "ProxyConfig",
    "Reconnect",
    "Recovery",
    "ServerConfig",
    "TargetConfig",
    "ThinkTime",
    "load_profile",
    "parse_profile",
]

#: Validates the ``checks`` mapping; the lead points this at ``reports.verify.Thresholds.from_mapping``.
#: Any exception it raises becomes a ``ProfileError`` at ``checks``.
CHECKS_VALIDATOR: Callable[[dict], None] | None = None

FaultEntry = FaultSpec  # the timeline entry type lives in faults/ (faults must not import loadtests)

DEFAULT_PROXY_API = "http://127.0.0.1:8474"
RESPONSES_PATH = "/v1/responses"
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
_PROFILE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, drawn uniformly (token counts)."""

    min: int
    max: int


@dataclass(frozen=True)
class ServerConfig:
    """The embedded reference server's cost model and limits (its command-line flags)."""

    tokens_per_s: float = 1000.0
    tokens_per_delta: int = 1
    ttft_base_ms: float = 40.0
    ttft_per_1k_uncached_ms: float = 30.0
    ttft_per_1k_cached_ms: float = 2.0
    hydrate_delay_ms: float = 150.0
    output_tokens: IntRange = IntRange(20, 120)
    tool_call_probability: float = 0.5
    store_capacity: int = 10000
    connection_lifetime_s: float = 3600.0
    limit_mode: str = "unsolicited"
    limit_close_code: int | None = 1001
    limit_close_delay_s: float = 1.0
    ping_interval_s: float | None = None


@dataclass(frozen=True)
class TargetConfig:
    """Where agents connect: the embedded reference server, or an external ``ws(s)://`` URL."""

    kind: str = "embedded"
    url: str | None = None
    api_key_env: str | None = None
    server: ServerConfig | None = field(default_factory=ServerConfig)

    def api_key(self, environ: Mapping[str, str]) -> str | None:
        """The API key from ``environ`` (never stored in the profile, never logged)."""
        return environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True)
class ProxyConfig:
    """The Toxiproxy in front of the target: embedded, a real binary, an API URL, or none."""

    kind: str = "embedded"
    url: str | None = None
    workers: int = 1


@dataclass(frozen=True)
class LoadConfig:
    users: int = 200
    spawn_rate: float = 50.0
    duration_s: float = 60.0
    processes: int = 1


@dataclass(frozen=True)
class ThinkTime:
    """Pause between turns: ``constant`` (value), ``uniform`` (min, max) or ``exponential`` (mean)."""

    distribution: str = "uniform"
    value: float | None = None
    min: float | None = 0.5
    max: float | None = 2.0
    mean: float | None = None


@dataclass(frozen=True)
class Keepalive:
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float = 20.0


@dataclass(frozen=True)
class Reconnect:
    """SDK-style backoff: ``min(base·2^(n-1), max) × U(jitter_min, jitter_max)``."""

    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter_min: float = 0.75
    jitter_max: float = 1.0


@dataclass(frozen=True)
class Recovery:
    full_resend: bool = True
    retry_in_flight: bool = True


@dataclass(frozen=True)
class AgentConfig:
    turns_per_session: int = 8
    tool_call_ratio: float = 0.5
    think_time: ThinkTime = ThinkTime()
    input_tokens: IntRange = IntRange(20, 200)
    output_tokens: IntRange = IntRange(20, 120)
    store: bool = True
    model: str = "gpt-5.2"
    keepalive: Keepalive = Keepalive()
    idle_timeout_s: float | None = 300.0
    rotate_after_s: float | None = 3300.0
    reconnect: Reconnect = Reconnect()
    recovery: Recovery = Recovery()


@dataclass(frozen=True)
class Profile:
    """A validated scenario. ``checks`` is a plain dict of report threshold overrides."""

    name: str
    seed: int = 42
    output_dir: str = "runs"
    target: TargetConfig = TargetConfig()
    proxy: ProxyConfig = ProxyConfig()
    load: LoadConfig = LoadConfig()
    agent: AgentConfig = AgentConfig()
    faults: tuple[FaultSpec, ...] = ()
    checks: dict[str, Any] = field(default_factory=dict)

    def plan(self) -> list[FaultWindow]:
        """The fault windows of this profile, over ``load.duration_s``."""
        return plan(self.faults, self.load.duration_s)

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as plain data (for ``profile.resolved.yaml``); no secrets."""
        target: dict[str, Any] = {"kind": self.target.kind}
        if self.target.kind == "external":
            target.update(url=self.target.url, api_key_env=self.target.api_key_env)
        else:
            assert self.target.server is not None
            target["server"] = asdict(self.target.server)
        proxy: dict[str, Any] = {"kind": self.proxy.kind, "workers": self.proxy.workers}
        if self.proxy.url is not None:
            proxy["url"] = self.proxy.url
        a = self.agent
        think = {"distribution": a.think_time.distribution}
        for key in _THINK_KEYS[a.think_time.distribution]:
            think[key] = getattr(a.think_time, key)
        return {
            "name": self.name,
            "seed": self.seed,
            "output_dir": self.output_dir,
            "target": target,
            "proxy": proxy,
            "load": {
                "users": self.load.users,
                "spawn_rate": self.load.spawn_rate,
                "duration": self.load.duration_s,
                "processes": self.load.processes,
            },
            "agent": {
                "turns_per_session": a.turns_per_session,
                "tool_call_ratio": a.tool_call_ratio,
                "think_time": think,
                "input_tokens": asdict(a.input_tokens),
                "output_tokens": asdict(a.output_tokens),
                "store": a.store,
                "model": a.model,
                "keepalive": {
                    "ping_interval": a.keepalive.ping_interval_s,
                    "ping_timeout": a.keepalive.ping_timeout_s,
                },
                "idle_timeout": a.idle_timeout_s,
                "rotate_after": a.rotate_after_s,
                "reconnect": {
                    "max_retries": a.reconnect.max_retries,
                    "base_delay": a.reconnect.base_delay_s,
                    "max_delay": a.reconnect.max_delay_s,
                    "jitter_min": a.reconnect.jitter_min,
                    "jitter_max": a.reconnect.jitter_max,
                },
                "recovery": asdict(a.recovery),
            },
            "faults": [fault_to_dict(f) for f in self.faults],
            "checks": dict(self.checks),
        }


_THINK_KEYS = {"constant": ("value",), "uniform": ("min", "max"), "exponential": ("mean",)}


# -- entry points ----------------------------------------------------------------------------------


def load_profile(path: str | Path, overrides: Sequence[str] = (), *, allow_remote: bool = False) -> Profile:
    """Read and validate the profile at ``path``, with ``--set`` style ``overrides``.

    Raises:
        ProfileError: the file cannot be read, or the profile is invalid.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read the profile: {exc.strerror or exc}", file=source) from None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=source) from None
    return parse_profile(content, source=source, overrides=overrides, allow_remote=allow_remote)


def parse_profile(
    text: str, *, source: str = "<string>", overrides: Sequence[str] = (), allow_remote: bool = False
) -> Profile:
    """Validate profile ``text``; ``source`` names it in errors and gives the default name."""
    try:
        raw = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ProfileError(exc.message, file=source, line=exc.line) from None
    if raw is None:
        raw = LineMap()
        raw.line = 1
    if not isinstance(raw, dict):
        raise ProfileError(
            "a profile must be a mapping of sections", file=source, line=1, expected="keys " + ", ".join(_TOP)
        )
    origin = Origin(source, {})
    for item in overrides:
        _apply_override(raw, item, origin)
    return _read_profile(raw, At(origin, (), getattr(raw, "line", 1)), source, allow_remote)


def _apply_override(raw: dict, item: str, origin: Origin) -> None:
    label = "--set " + item.partition("=")[0].strip()
    try:
        path, value_text = parse_override(item)
    except ValueError as exc:
        raise ProfileError(str(exc), file=label) from None
    label = "--set " + format_path(path)
    try:
        value = load_yaml(value_text) if value_text.strip() else None
    except YamlSyntaxError as exc:
        raise ProfileError(exc.message, file=label, path=format_path(path)) from None
    try:
        set_path(raw, path, value)
    except ValueError as exc:
        raise ProfileError(f"cannot set: {exc}", file=label, path=format_path(path)) from None
    origin.overrides[path] = label


_TOP = ("name", "seed", "output_dir", "target", "proxy", "load", "agent", "faults", "checks")


def _read_profile(raw: dict, at: At, source: str, allow_remote: bool) -> Profile:
    sec = Section(raw, at, _TOP)
    stem = Path(source).stem if not source.startswith("<") else "profile"
    default_name = stem if re.fullmatch(_PROFILE_NAME, stem) else "profile"
    name = sec.get(
        "name", text(_PROFILE_NAME, "a name of letters, digits, '.', '_', '-' (at most 64)"), default_name
    )
    seed = sec.get("seed", integer(0, 2**63 - 1), 42)
    output_dir = sec.get("output_dir", text(r"[^\x00-\x1f]{1,4096}", "a directory path"), "runs")
    target = _read_target(sec.value.get("target"), sec.at_key("target"), allow_remote)
    proxy = _read_proxy(sec.value.get("proxy"), sec.at_key("proxy"), allow_remote)
    load = _read_load(sec.value.get("load"), sec.at_key("load"))
    agent = _read_agent(sec.value.get("agent"), sec.at_key("agent"))
    faults = read_faults(
        sec.value.get("faults"),
        sec.at_key("faults"),
        duration_s=load.duration_s,
        proxy_kind=proxy.kind,
        target_kind=target.kind,
    )
    checks = _read_checks(sec.value.get("checks"), sec.at_key("checks"))
    return Profile(name, seed, output_dir, target, proxy, load, agent, faults, checks)


# -- sections --------------------------------------------------------------------------------------


def _int_range(lo: int) -> Callable[[Any, At], IntRange]:
    def read(value: Any, at: At) -> IntRange:
        sec = Section(value, at, ("min", "max"), what="a range {min, max}")
        low = sec.require("min", integer(lo, 10_000_000), "min and max")
        high = sec.require("max", integer(lo, 10_000_000), "min and max")
        if high < low:
            raise sec.at_key("max").error(f"max {high} is below min {low}", expected=f"an integer >= {low}")
        return IntRange(low, high)

    return read


_SERVER_KEYS = (*(f.name for f in ServerConfig.__dataclass_fields__.values()), "api_key")
_SECRET_HINT = "keys never go in a profile"


def _read_server(value: Any, at: At) -> ServerConfig:
    sec = Section(value, at, _SERVER_KEYS)
    if sec.has("api_key"):
        raise sec.at_key("api_key").error(
            f"not allowed: {_SECRET_HINT}; the reference server reads its key from its environment"
        )
    d = ServerConfig()
    return ServerConfig(
        tokens_per_s=sec.get("tokens_per_s", number(0, 1e7, lo_open=True), d.tokens_per_s),
        tokens_per_delta=sec.get("tokens_per_delta", integer(1, 100_000), d.tokens_per_delta),
        ttft_base_ms=sec.get("ttft_base_ms", number(0, 3.6e6), d.ttft_base_ms),
        ttft_per_1k_uncached_ms=sec.get(
            "ttft_per_1k_uncached_ms", number(0, 3.6e6), d.ttft_per_1k_uncached_ms
        ),
        ttft_per_1k_cached_ms=sec.get("ttft_per_1k_cached_ms", number(0, 3.6e6), d.ttft_per_1k_cached_ms),
        hydrate_delay_ms=sec.get("hydrate_delay_ms", number(0, 3.6e6), d.hydrate_delay_ms),
        output_tokens=sec.get("output_tokens", _int_range(1), d.output_tokens),
        tool_call_probability=sec.get("tool_call_probability", number(0, 1), d.tool_call_probability),
        store_capacity=sec.get("store_capacity", integer(0, 10**9), d.store_capacity),
        connection_lifetime_s=sec.get(
            "connection_lifetime_s", duration(positive=True), d.connection_lifetime_s
        ),
        limit_mode=sec.get("limit_mode", choice(("unsolicited", "on_next_create", "hard")), d.limit_mode),
        limit_close_code=sec.get("limit_close_code", choice((1001, 1000, 1008, None)), d.limit_close_code),
        limit_close_delay_s=sec.get("limit_close_delay_s", duration(), d.limit_close_delay_s),
        ping_interval_s=sec.get("ping_interval_s", optional(duration(positive=True)), d.ping_interval_s),
    )


def _check_host(url: str, at: At, allow_remote: bool, what: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if not allow_remote and not is_loopback_host(host):
        raise at.error(
            f"{what} {host or url!r} is not a loopback address (127.0.0.0/8, ::1, localhost)",
            expected="a loopback host, or --allow-remote",
        )


def _url(schemes: tuple[str, ...]) -> Callable[[Any, At], str]:
    def read(value: Any, at: At) -> str:
        expected = " or ".join(f"a {s}:// URL" for s in schemes)
        if not isinstance(value, str):
            raise at.error(f"got {type(value).__name__}", expected=expected)
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise at.error(f"not a valid URL ({exc})", expected=expected) from None
        if parts.scheme not in schemes or not parts.hostname:
            raise at.error(
                f"scheme {parts.scheme or '(none)'!r} or host is not valid here", expected=expected
            )
        if parts.username or parts.password:
            raise at.error("credentials in a URL are not allowed", expected="api_key_env for secrets")
        return value

    return read


def _env_name(value: Any, at: At) -> str:
    # Never echo the value: a user may have pasted the key itself here.
    if not isinstance(value, str) or not re.fullmatch(_ENV_NAME, value):
        raise at.error(
            f"must be the NAME of an environment variable, not its value ({_SECRET_HINT})",
            expected="a name such as OPENAI_API_KEY",
        )
    return value


def _read_target(value: Any, at: At, allow_remote: bool) -> TargetConfig:
    sec = Section(value, at, ("kind", "url", "api_key_env", "server", "api_key"))
    if sec.has("api_key"):
        raise sec.at_key("api_key").error(
            f"not allowed: {_SECRET_HINT}", expected="api_key_env: the name of the variable holding the key"
        )
    kind = sec.get("kind", choice(("embedded", "external")), "embedded")
    if kind == "embedded":
        for key in ("url", "api_key_env"):
            if sec.value.get(key) is not None:
                raise sec.at_key(key).error("only for target.kind external", expected="no " + key)
        return TargetConfig(
            "embedded", None, None, _read_server(sec.value.get("server"), sec.at_key("server"))
        )
    if sec.has("server"):
        raise sec.at_key("server").error("only for target.kind embedded", expected="no server section")
    url = sec.require("url", _url(("ws", "wss")), "url: ws://… or wss://…")
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        url = urllib.parse.urlunsplit(parts._replace(path=RESPONSES_PATH))
    _check_host(url, sec.at_key("url"), allow_remote, "target")
    api_key_env = sec.get("api_key_env", optional(_env_name), None)
    return TargetConfig("external", url, api_key_env, None)


def _read_proxy(value: Any, at: At, allow_remote: bool) -> ProxyConfig:
    sec = Section(value, at, ("kind", "url", "workers"))
    kind = sec.get("kind", choice(("embedded", "real", "url", "none")), "embedded")
    workers = sec.get("workers", integer(1, 256), 1)
    url = None
    if kind == "url":
        url = sec.require("url", _url(("http",)), f"url: the Toxiproxy API, e.g. {DEFAULT_PROXY_API}")
        _check_host(url, sec.at_key("url"), allow_remote, "proxy")
    elif sec.value.get("url") is not None:
        raise sec.at_key("url").error("only for proxy.kind url", expected="no url")
    return ProxyConfig(kind, url, workers)


def _read_load(value: Any, at: At) -> LoadConfig:
    sec = Section(value, at, ("users", "spawn_rate", "duration", "processes"))
    processes = sec.get("processes", integer(-1, 1024), 1)
    if processes == 0:
        raise sec.at_key("processes").error(
            "0 is not allowed", expected="1 (single process), N > 1, or -1 (one per core)"
        )
    return LoadConfig(
        users=sec.get("users", integer(1, 1_000_000), 200),
        spawn_rate=sec.get("spawn_rate", number(0, 1e6, lo_open=True), 50.0),
        duration_s=sec.get("duration", duration(positive=True), 60.0),
        processes=processes,
    )


def _read_think(value: Any, at: At) -> ThinkTime:
    dists = tuple(_THINK_KEYS)
    pre = Section(value, at, ("distribution", "value", "min", "max", "mean"), what="a think-time mapping")
    dist = pre.require("distribution", choice(dists), "one of " + ", ".join(dists))
    sec = Section(value, at, ("distribution", *_THINK_KEYS[dist]), what="a think-time mapping")
    need = f"{' and '.join(_THINK_KEYS[dist])} for {dist}"
    if dist == "constant":
        return ThinkTime(dist, value=sec.require("value", duration(), need), min=None, max=None)
    if dist == "exponential":
        return ThinkTime(dist, mean=sec.require("mean", duration(positive=True), need), min=None, max=None)
    low = sec.require("min", duration(), need)
    high = sec.require("max", duration(), need)
    if high < low:
        raise sec.at_key("max").error(f"max {high:g}s is below min {low:g}s", expected="max >= min")
    return ThinkTime(dist, min=low, max=high)


def _read_reconnect(value: Any, at: At) -> Reconnect:
    sec = Section(value, at, ("max_retries", "base_delay", "max_delay", "jitter_min", "jitter_max"))
    d = Reconnect()
    r = Reconnect(
        max_retries=sec.get("max_retries", integer(0, 1000), d.max_retries),
        base_delay_s=sec.get("base_delay", duration(), d.base_delay_s),
        max_delay_s=sec.get("max_delay", duration(), d.max_delay_s),
        jitter_min=sec.get("jitter_min", number(0, 10), d.jitter_min),
        jitter_max=sec.get("jitter_max", number(0, 10), d.jitter_max),
    )
    if r.max_delay_s < r.base_delay_s:
        raise (sec.at_key("max_delay") if sec.has("max_delay") else sec.at).error(
            f"max_delay {r.max_delay_s:g}s is below base_delay {r.base_delay_s:g}s",
            expected="max_delay >= base_delay",
        )
    if r.jitter_max < r.jitter_min:
        raise (sec.at_key("jitter_max") if sec.has("jitter_max") else sec.at).error(
            f"jitter_max {r.jitter_max:g} is below jitter_min {r.jitter_min:g}",
            expected="jitter_max >= jitter_min",
        )
    return r


def _read_agent(value: Any, at: At) -> AgentConfig:
    keys = (
        "turns_per_session", "tool_call_ratio", "think_time", "input_tokens", "output_tokens", "store", "model",
        "keepalive", "idle_timeout", "rotate_after", "reconnect", "recovery",
    )  # fmt: skip
    sec = Section(value, at, keys)
    d = AgentConfig()
    ka = Section(sec.value.get("keepalive"), sec.at_key("keepalive"), ("ping_interval", "ping_timeout"))
    rec = Section(sec.value.get("recovery"), sec.at_key("recovery"), ("full_resend", "retry_in_flight"))
    return AgentConfig(
        turns_per_session=sec.get("turns_per_session", integer(1, 100_000), d.turns_per_session),
        tool_call_ratio=sec.get("tool_call_ratio", number(0, 1), d.tool_call_ratio),
        think_time=sec.get("think_time", _read_think, d.think_time),
        input_tokens=sec.get("input_tokens", _int_range(1), d.input_tokens),
        output_tokens=sec.get("output_tokens", _int_range(1), d.output_tokens),
        store=sec.get("store", boolean, d.store),
        model=sec.get("model", text(r"\S{1,128}", "a model name without spaces"), d.model),
        keepalive=Keepalive(
            ping_interval_s=ka.get(
                "ping_interval", optional(duration(positive=True)), d.keepalive.ping_interval_s
            ),
            ping_timeout_s=ka.get("ping_timeout", duration(positive=True), d.keepalive.ping_timeout_s),
        ),
        idle_timeout_s=sec.get("idle_timeout", optional(duration(positive=True)), d.idle_timeout_s),
        rotate_after_s=sec.get("rotate_after", optional(duration(positive=True)), d.rotate_after_s),
        reconnect=_read_reconnect(sec.value.get("reconnect"), sec.at_key("reconnect")),
        recovery=Recovery(
            full_resend=rec.get("full_resend", boolean, True),
            retry_in_flight=rec.get("retry_in_flight", boolean, True),
        ),
    )


def _read_checks(value: Any, at: At) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise at.error(
            f"got {type(value).__name__}", expected="a mapping of check name to number or true/false"
        )
    checks: dict[str, Any] = {}
    for key, item in value.items():
        item_at = at.child(key, value)
        if not isinstance(key, str) or not key:
            raise item_at.error("check names must be non-empty strings")
        ok = isinstance(item, bool) or (isinstance(item, (int, float)) and math.isfinite(as_float(item)))
        if not ok:
            raise item_at.error(f"got {type(item).__name__}", expected="a finite number or true/false")
        checks[key] = item
    validator = CHECKS_VALIDATOR
    if validator is not None:
        try:
            validator(dict(checks))
        except Exception as exc:  # the validator is pluggable: any failure is a profile error
            raise at.error(str(exc) or type(exc).__name__) from None
    return checks
