"""The typed, frozen form of a profile (see docs/profiles.md). Durations are float seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from faults.schedule import FaultSpec, FaultWindow, plan
from loadtests.agent import ReconnectPolicy
from loadtests.profile.faults import fault_to_dict
from loadtests.server.config import ServerConfig as ServerDefaults

__all__ = [
    "AgentConfig",
    "IntRange",
    "Keepalive",
    "LoadConfig",
    "Profile",
    "ProxyConfig",
    "Reconnect",
    "Recovery",
    "ServerConfig",
    "TargetConfig",
    "ThinkTime",
]

DEFAULT_PROXY_API = "http://127.0.0.1:8474"
RESPONSES_PATH = "/v1/responses"


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, drawn uniformly (token counts)."""

    min: int
    max: int


_SERVER = ServerDefaults()  # one source of truth for the reference server's defaults
_BACKOFF = ReconnectPolicy()  # … and for the agents' backoff (the SDKs' defaults)


@dataclass(frozen=True)
class ServerConfig:
    """The embedded reference server's cost model and limits (its command-line flags)."""

    tokens_per_s: float = _SERVER.tokens_per_s
    tokens_per_delta: int = _SERVER.tokens_per_delta
    ttft_base_ms: float = _SERVER.ttft_base_ms
    ttft_per_1k_uncached_ms: float = _SERVER.ttft_per_1k_uncached_ms
    ttft_per_1k_cached_ms: float = _SERVER.ttft_per_1k_cached_ms
    hydrate_delay_ms: float = _SERVER.hydrate_delay_ms
    output_tokens: IntRange = IntRange(_SERVER.output_tokens_min, _SERVER.output_tokens_max)
    tool_call_probability: float = _SERVER.tool_call_probability
    store_capacity: int = _SERVER.store_capacity
    connection_lifetime_s: float = _SERVER.connection_lifetime_s
    limit_mode: str = _SERVER.limit_mode
    limit_close_code: int | None = _SERVER.limit_close_code
    limit_close_delay_s: float = _SERVER.limit_close_delay_s
    ping_interval_s: float | None = _SERVER.ping_interval_s


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


#: The keys each think-time distribution takes.
THINK_KEYS = {"constant": ("value",), "uniform": ("min", "max"), "exponential": ("mean",)}


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

    max_retries: int = _BACKOFF.max_retries
    base_delay_s: float = _BACKOFF.base_delay
    max_delay_s: float = _BACKOFF.max_delay
    jitter_min: float = _BACKOFF.jitter_min
    jitter_max: float = _BACKOFF.jitter_max


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
        for key in THINK_KEYS[a.think_time.distribution]:
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
