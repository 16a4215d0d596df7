"""Readers for the ``target``, ``proxy``, ``load`` and ``agent`` sections of a profile."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from faults.loopback import is_loopback
from loadtests.profile.fields import (
    At,
    Section,
    agent_indices,
    boolean,
    choice,
    duration,
    integer,
    number,
    optional,
    sequence_of,
    text,
)
from loadtests.profile.model import (
    DEFAULT_PROXY_API,
    RESPONSES_PATH,
    THINK_KEYS,
    AgentConfig,
    IntRange,
    Keepalive,
    LoadConfig,
    ProxyConfig,
    Reconnect,
    Recovery,
    TargetConfig,
    ThinkTime,
)
from loadtests.profile.target_server import read_server
from loadtests.source_address import MAX_SOURCE_ADDRESSES
from loadtests.transport_config import FRAME_READERS, TRANSPORTS, TransportPolicy

__all__ = ["check_source_addresses", "read_agent", "read_load", "read_proxy", "read_target"]

_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,127}"


def _int_range(lo: int) -> Callable[[Any, At], IntRange]:
    def read(value: Any, at: At) -> IntRange:
        sec = Section(value, at, ("min", "max"), what="a range {min, max}")
        low = sec.require("min", integer(lo, 10_000_000), "min and max")
        high = sec.require("max", integer(lo, 10_000_000), "min and max")
        if high < low:
            raise sec.at_key("max").error(f"max {high} is below min {low}", expected=f"an integer >= {low}")
        return IntRange(low, high)

    return read


_SECRET_HINT = "keys never go in a profile"


def _check_host(url: str, at: At, allow_remote: bool, what: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if not allow_remote and not is_loopback(host):
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


def read_target(value: Any, at: At, allow_remote: bool) -> TargetConfig:
    hint = (f"not allowed: {_SECRET_HINT}", "api_key_env: the name of the variable holding the key")
    sec = Section(value, at, ("kind", "url", "api_key_env", "server"), forbidden={"api_key": hint})
    kind = sec.get("kind", choice(("embedded", "external")), "embedded")
    if kind == "embedded":
        for key in ("url", "api_key_env"):
            if sec.value.get(key) is not None:
                raise sec.at_key(key).error("only for target.kind external", expected="no " + key)
        return TargetConfig(
            "embedded", None, None, read_server(sec.value.get("server"), sec.at_key("server"))
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


def read_proxy(value: Any, at: At, allow_remote: bool) -> ProxyConfig:
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


def read_load(value: Any, at: At) -> LoadConfig:
    sec = Section(value, at, ("users", "spawn_rate", "duration", "processes", "agents", "source_addresses",
                              "health_every"))
    processes = sec.get("processes", integer(-1, 1024), 1)
    if processes == 0:
        raise sec.at_key("processes").error(
            "0 is not allowed", expected="1 (single process), N > 1, or -1 (one per core)"
        )
    users = sec.get("users", integer(1, 1_000_000), 200)
    return LoadConfig(
        users=users,
        spawn_rate=sec.get("spawn_rate", number(0, 1e6, lo_open=True), 50.0),
        duration_s=sec.get("duration", duration(positive=True), 60.0),
        processes=processes,
        agents=sec.get("agents", optional(agent_indices(users)), None),
        source_addresses=sec.get("source_addresses", integer(1, MAX_SOURCE_ADDRESSES), 1),
        health_every_s=_health_every(sec),
    )


def check_source_addresses(load: LoadConfig, target: TargetConfig, proxy: ProxyConfig, raw: Any, at: At) -> None:
    """More than one source address is loopback only: the agents' target must be on loopback too
    (``raw``/``at``: the ``load`` section, for the error's place)."""
    if load.source_addresses == 1 or target.kind != "external" or proxy.kind != "none":
        return  # the agents connect to a proxy listener or a server this run starts, on 127.0.0.1
    host = urllib.parse.urlsplit(target.url or "").hostname
    if not is_loopback(host):
        raise at.child("source_addresses", raw).error(
            f"{load.source_addresses} source addresses are 127.0.0.x, which cannot reach {host!r}",
            expected="1, or a loopback target",
        )


def _health_every(sec: Section) -> float:
    every = sec.get("health_every", duration(positive=True), 5.0)
    if every < 1.0:
        raise sec.at_key("health_every").error(f"{every:g}s is too short", expected="a period of at least 1s")
    return every


def _read_think(value: Any, at: At) -> ThinkTime:
    dists = tuple(THINK_KEYS)
    pre = Section(value, at, ("distribution", "value", "min", "max", "mean"), what="a think-time mapping")
    dist = pre.require("distribution", choice(dists), "one of " + ", ".join(dists))
    sec = Section(value, at, ("distribution", *THINK_KEYS[dist]), what="a think-time mapping")
    need = f"{' and '.join(THINK_KEYS[dist])} for {dist}"
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
    sec = Section(value, at, ("max_retries", "base_delay", "max_delay", "jitter_min", "jitter_max", "cooldown"))
    d = Reconnect()
    r = Reconnect(
        max_retries=sec.get("max_retries", integer(0, 1000), d.max_retries),
        base_delay_s=sec.get("base_delay", duration(), d.base_delay_s),
        max_delay_s=sec.get("max_delay", duration(), d.max_delay_s),
        jitter_min=sec.get("jitter_min", number(0, 10), d.jitter_min),
        jitter_max=sec.get("jitter_max", number(0, 10), d.jitter_max),
        cooldown_s=sec.get("cooldown", duration(), d.cooldown_s),
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


def read_agent(value: Any, at: At) -> AgentConfig:
    keys = (
        "turns_per_session", "tool_call_ratio", "think_time", "input_tokens", "output_tokens", "store", "model",
        "keepalive", "idle_timeout", "rotate_after", "reconnect", "recovery", "transport", "frame_reader",
    )  # fmt: skip
    sec = Section(value, at, keys)
    d = AgentConfig()
    ka = Section(sec.value.get("keepalive"), sec.at_key("keepalive"), ("ping_interval", "ping_timeout"))
    rec_keys = ("full_resend", "retry_in_flight", "stream_retries", "stream_retry_base_delay", "stream_retry_max_delay")
    rec = Section(sec.value.get("recovery"), sec.at_key("recovery"), rec_keys)
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
        recovery=_read_recovery(rec, d.recovery),
        transport=sec.get("transport", _read_transport, d.transport),
        frame_reader=sec.get("frame_reader", choice(FRAME_READERS), d.frame_reader),
    )


def _read_transport(value: Any, at: At) -> TransportPolicy:
    """``websocket`` | ``http``, or ``{primary, fallback, after_failed_attempts, on_status}``."""
    one_of = choice(TRANSPORTS)
    if isinstance(value, str):
        return TransportPolicy(primary=one_of(value, at))
    d = TransportPolicy()
    sec = Section(value, at, ("primary", "fallback", "after_failed_attempts", "on_status"),
                  what="websocket, http or a mapping")
    primary = sec.get("primary", one_of, d.primary)
    fallback = sec.get("fallback", optional(one_of), d.fallback)
    if fallback == primary:
        raise sec.at_key("fallback").error(f"fallback is the primary transport {primary!r}",
                                           expected="the other transport, or null (no fallback)")
    statuses = sec.get("on_status", sequence_of, list(d.on_status))
    status = integer(100, 599)
    return TransportPolicy(
        primary=primary, fallback=fallback,
        after_failed_attempts=sec.get("after_failed_attempts", integer(1, 100), d.after_failed_attempts),
        on_status=tuple(status(v, sec.at_key("on_status").child(i, statuses)) for i, v in enumerate(statuses)),
    )


def _read_recovery(sec: Section, d: Recovery) -> Recovery:
    r = Recovery(
        full_resend=sec.get("full_resend", boolean, d.full_resend),
        retry_in_flight=sec.get("retry_in_flight", boolean, d.retry_in_flight),
        stream_retries=sec.get("stream_retries", integer(0, 100), d.stream_retries),  # 100: Codex's own cap
        stream_retry_base_delay_s=sec.get("stream_retry_base_delay", duration(), d.stream_retry_base_delay_s),
        stream_retry_max_delay_s=sec.get("stream_retry_max_delay", optional(duration()), d.stream_retry_max_delay_s),
    )
    if r.stream_retry_max_delay_s is not None and r.stream_retry_max_delay_s < r.stream_retry_base_delay_s:
        raise sec.at_key("stream_retry_max_delay").error(
            f"stream_retry_max_delay {r.stream_retry_max_delay_s:g}s is below stream_retry_base_delay "
            f"{r.stream_retry_base_delay_s:g}s",
            expected="stream_retry_max_delay >= stream_retry_base_delay, or null (no cap)",
        )
    return r
