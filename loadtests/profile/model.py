"""The typed, frozen form of a profile (see docs/profiles.md). Durations are float seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from faults.schedule import FaultSpec, FaultWindow, plan
from loadtests.profile.faults import fault_to_dict
from loadtests.profile.target_server import server_to_dict
from loadtests.server.config import ServerConfig
from loadtests.transport_config import NO_STREAM_RETRY, TRANSPORT_DEFAULTS, StreamRetryPolicy, TransportPolicy

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


_TRANSPORT = TRANSPORT_DEFAULTS  # one source of the agents' transport defaults
_BACKOFF = _TRANSPORT.reconnect  # ... and of their backoff (the SDKs' defaults)
_STREAM_RETRY = _TRANSPORT.stream_retry  # ... and of their in-flight retry (the Codex CLI's defaults)


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
    """The load. ``agents`` runs only those agent indices of the ``users`` (a replay of some agents):
    each keeps its index, so its id and random streams, and starts when it would have in a run of all
    ``users`` (``loadtests.agent_index.spawn_offset_s``)."""

    users: int = 200
    spawn_rate: float = 50.0
    duration_s: float = 60.0
    processes: int = 1
    agents: tuple[int, ...] | None = None
    source_addresses: int = 1  # agents connect from 127.0.0.1..127.0.0.N (loadtests.source_address)
    #: how often the orchestrator samples each component's RSS, FDs, CPU and sockets (loadtests.health)
    health_every_s: float = 5.0

    @property
    def running(self) -> int:
        """How many agents (Locust users) the run starts."""
        return self.users if self.agents is None else len(self.agents)


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
    ping_interval_s: float | None = _TRANSPORT.ping_interval
    ping_timeout_s: float = _TRANSPORT.ping_timeout


@dataclass(frozen=True)
class Reconnect:
    """SDK-style backoff: ``min(base·2^(n-1), max) × U(jitter_min, jitter_max)``; after
    ``max_retries`` failed attempts, wait ``cooldown_s`` and start a new sequence."""

    max_retries: int = _BACKOFF.max_retries
    base_delay_s: float = _BACKOFF.base_delay
    max_delay_s: float = _BACKOFF.max_delay
    jitter_min: float = _BACKOFF.jitter_min
    jitter_max: float = _BACKOFF.jitter_max
    cooldown_s: float = _BACKOFF.cooldown


@dataclass(frozen=True)
class Recovery:
    """How a turn resumes: full resend of a lost chain, and retries of a turn cut in flight.

    ``retry_in_flight: false`` never retries a cut turn (whatever ``stream_retries`` says).
    """

    full_resend: bool = _TRANSPORT.full_resend
    retry_in_flight: bool = True
    stream_retries: int = _STREAM_RETRY.max_retries
    stream_retry_base_delay_s: float = _STREAM_RETRY.base_delay
    stream_retry_max_delay_s: float | None = _STREAM_RETRY.max_delay

    def stream_retry(self) -> StreamRetryPolicy:
        """The agent's in-flight retry policy (jitter is the Codex CLI's ×U(0.9, 1.1))."""
        if not self.retry_in_flight:
            return NO_STREAM_RETRY
        return StreamRetryPolicy(max_retries=self.stream_retries, base_delay=self.stream_retry_base_delay_s,
                                 max_delay=self.stream_retry_max_delay_s)


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
    idle_timeout_s: float | None = _TRANSPORT.idle_timeout
    rotate_after_s: float | None = _TRANSPORT.rotate_after
    reconnect: Reconnect = Reconnect()
    recovery: Recovery = Recovery()
    transport: TransportPolicy = TransportPolicy()
    #: who parses the frames agents read: ``fast`` (loadtests.frame_reader) or ``websocket-client``
    frame_reader: str = _TRANSPORT.frame_reader


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
    #: the layout settings given as ``auto`` (dotted paths such as ``proxy.workers``), not yet chosen:
    #: their fields hold the defaults until ``loadtests.layout.resolve_layout`` sets them
    auto: frozenset[str] = frozenset()

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
            target["server"] = server_to_dict(self.target.server)
        proxy: dict[str, Any] = {"kind": self.proxy.kind, "workers": self.proxy.workers}
        if self.proxy.url is not None:
            proxy["url"] = self.proxy.url
        a = self.agent
        think = {"distribution": a.think_time.distribution}
        for key in THINK_KEYS[a.think_time.distribution]:
            think[key] = getattr(a.think_time, key)
        out: dict[str, Any] = {
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
                "health_every": self.load.health_every_s,
                **({} if self.load.agents is None else {"agents": list(self.load.agents)}),
                **({} if self.load.source_addresses == 1 else {"source_addresses": self.load.source_addresses}),
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
                "frame_reader": a.frame_reader,
                "reconnect": {
                    "max_retries": a.reconnect.max_retries,
                    "base_delay": a.reconnect.base_delay_s,
                    "max_delay": a.reconnect.max_delay_s,
                    "jitter_min": a.reconnect.jitter_min,
                    "jitter_max": a.reconnect.jitter_max,
                    "cooldown": a.reconnect.cooldown_s,
                },
                "recovery": {
                    "full_resend": a.recovery.full_resend,
                    "retry_in_flight": a.recovery.retry_in_flight,
                    "stream_retries": a.recovery.stream_retries,
                    "stream_retry_base_delay": a.recovery.stream_retry_base_delay_s,
                    "stream_retry_max_delay": a.recovery.stream_retry_max_delay_s,
                },
                "transport": {
                    "primary": a.transport.primary,
                    "fallback": a.transport.fallback,
                    "after_failed_attempts": a.transport.after_failed_attempts,
                    "on_status": list(a.transport.on_status),
                },
            },
            "faults": [fault_to_dict(f) for f in self.faults],
            "checks": dict(self.checks),
        }
        for dotted in self.auto:  # still to be chosen: loadable again as auto
            *parents, key = dotted.split(".")
            node = out
            for part in parents:
                node = node[part]
            node[key] = "auto"
        return out
