"""Every knob of the reference server, in one frozen dataclass (defaults follow the spec's choices)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import ConfigError

__all__ = ["ServerConfig", "LIMIT_MODES", "LIMIT_CLOSE_CODES"]

LIMIT_MODES = ("unsolicited", "on_next_create", "hard")
LIMIT_CLOSE_CODES = (1001, 1000, 1008, None)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Configuration of one ``agentsoak serve`` process; times in the unit their name says."""

    host: str = "127.0.0.1"
    port: int = 8765
    api_keys: tuple[str, ...] = ()  # empty: no auth check (spec §1)
    seed: int | None = None  # None: drawn at start and logged
    # -- cost model (spec §9, §10) --
    tokens_per_s: float = 1000.0
    tokens_per_delta: int = 1
    ttft_base_ms: float = 40.0
    ttft_per_1k_uncached_ms: float = 30.0
    ttft_per_1k_cached_ms: float = 2.0
    hydrate_delay_ms: float = 150.0
    output_tokens_min: int = 20
    output_tokens_max: int = 120
    tool_call_probability: float = 0.5
    # -- state (spec §5, §6) --
    store_capacity: int = 10000
    queue_limit: int = 32
    connection_lifetime_s: float = 3600.0
    limit_mode: str = "unsolicited"
    limit_close_code: int | None = 1001
    limit_close_delay_s: float = 1.0
    ping_interval_s: float | None = None
    compression: bool = True
    # -- compatibility flags (spec §3.5, §3.6, §4) --
    response_done_compat: bool = False
    legacy_error_compat: bool = False
    warmup_completed_only: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be 0..65535, got {self.port}")
        if self.tokens_per_s <= 0:
            problems.append(f"tokens_per_s must be > 0, got {self.tokens_per_s}")
        if self.tokens_per_delta < 1:
            problems.append(f"tokens_per_delta must be >= 1, got {self.tokens_per_delta}")
        for name in (
            "ttft_base_ms",
            "ttft_per_1k_uncached_ms",
            "ttft_per_1k_cached_ms",
            "hydrate_delay_ms",
            "limit_close_delay_s",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.output_tokens_min <= self.output_tokens_max:
            problems.append(
                "need 1 <= output_tokens_min <= output_tokens_max, got "
                f"{self.output_tokens_min}..{self.output_tokens_max}"
            )
        if not 0.0 <= self.tool_call_probability <= 1.0:
            problems.append(f"tool_call_probability must be 0..1, got {self.tool_call_probability}")
        if self.store_capacity < 0:
            problems.append(f"store_capacity must be >= 0, got {self.store_capacity}")
        if self.queue_limit < 1:
            problems.append(f"queue_limit must be >= 1, got {self.queue_limit}")
        if self.connection_lifetime_s <= 0:
            problems.append(f"connection_lifetime_s must be > 0, got {self.connection_lifetime_s}")
        if self.limit_mode not in LIMIT_MODES:
            problems.append(f"limit_mode must be one of {', '.join(LIMIT_MODES)}, got {self.limit_mode!r}")
        if self.limit_close_code not in LIMIT_CLOSE_CODES:
            problems.append(f"limit_close_code must be 1001, 1000, 1008 or None, got {self.limit_close_code}")
        if self.ping_interval_s is not None and self.ping_interval_s <= 0:
            problems.append(f"ping_interval_s must be > 0, got {self.ping_interval_s}")
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
