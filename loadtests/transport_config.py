"""How an agent connects and backs off: the one source of the transport and reconnect defaults.

Light on purpose (no websocket-client, no locust), so the profile loader can take its defaults from
here; :mod:`loadtests.agent` re-exports both classes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["DEFAULT_API_KEY_ENV", "FRAME_READERS", "NO_STREAM_RETRY", "TRANSPORTS", "ReconnectPolicy", "StreamRetryPolicy",
           "TransportConfig", "TransportPolicy"]

#: Who parses the frames an agent reads: its bulk reader (loadtests.frame_reader) or websocket-client's.
FRAME_READERS = ("fast", "websocket-client")

#: The transports an agent can speak: Responses API WebSocket mode, or ``POST /v1/responses`` with SSE.
TRANSPORTS = ("websocket", "http")

#: The environment variable agents read their API key from when the profile names none.
DEFAULT_API_KEY_ENV = "AGENTSOAK_API_KEY"


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff between connect attempts; defaults are openai-python's and openai-node's (spec §7)."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter_min: float = 0.75
    jitter_max: float = 1.0
    cooldown: float = 8.0  # after giving up, wait this long and start a new sequence

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry ``attempt`` (1-based)."""
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay) * rng.uniform(self.jitter_min,
                                                                                         self.jitter_max)


@dataclass(frozen=True)
class StreamRetryPolicy:
    """Retries of a turn cut in flight (its socket died before the terminal event); defaults are the Codex CLI's.

    Codex retries a failed stream up to ``stream_max_retries`` = 5 times (its hard cap is 100), waiting
    ``200 ms × 2^(n-1) × U(0.9, 1.1)`` before retry n, with no upper bound (``openai/codex``:
    ``codex-rs/model-provider-info/src/lib.rs`` ``DEFAULT_STREAM_MAX_RETRIES``, ``codex-rs/core/src/util.rs``
    ``backoff``; spec §7). ``max_retries=0`` never retries. ``max_delay`` caps the wait (None: no cap).
    """

    max_retries: int = 5
    base_delay: float = 0.2
    max_delay: float | None = None
    jitter_min: float = 0.9
    jitter_max: float = 1.1

    def allows(self, retries_done: int) -> bool:
        """Whether one more retry is allowed after ``retries_done`` retries."""
        return retries_done < self.max_retries

    def delay(self, retry: int, rng: random.Random) -> float:
        """Wait before retry ``retry`` (1-based)."""
        base = self.base_delay * 2 ** (retry - 1)
        if self.max_delay is not None:
            base = min(base, self.max_delay)
        return base * rng.uniform(self.jitter_min, self.jitter_max)


#: ``retry_in_flight: false``: a cut turn is lost at once.
NO_STREAM_RETRY = StreamRetryPolicy(max_retries=0)


@dataclass(frozen=True)
class TransportPolicy:
    """Which transport an agent speaks, and when it falls back, as real clients do.

    The Codex CLI switches a session to HTTP/SSE at once when the upgrade answers 426, or once its
    WebSocket retries run out (spec §7): ``fallback`` after ``after_failed_attempts`` failed connects in
    a row, or at once on a status in ``on_status``. The switch lasts for the agent's life.
    """

    primary: str = "websocket"
    fallback: str | None = None
    after_failed_attempts: int = 5
    on_status: tuple[int, ...] = (426,)


@dataclass(frozen=True)
class TransportConfig:
    """How an agent connects and keeps its socket honest."""

    url: str
    api_key: str | None = None
    headers: tuple[tuple[str, str], ...] = (("OpenAI-Beta", "responses_websockets=2026-02-06"),)
    connect_timeout: float = 15.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    idle_timeout: float = 300.0  # silence tolerated while a turn is in flight
    rotate_after: float | None = 3300.0  # proactively rotate before the 60-minute limit
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    full_resend: bool = True
    stream_retry: StreamRetryPolicy = field(default_factory=StreamRetryPolicy)
    turn_timeout: float = 600.0  # hard cap on one turn, a safety net only
    transport: TransportPolicy = field(default_factory=TransportPolicy)
    source_address: str | None = None  # the loopback address to connect from (None: the kernel's choice)
    frame_reader: str = FRAME_READERS[0]  # who parses frames: "fast" (loadtests.frame_reader) or "websocket-client"


#: The defaults alone (``url`` is the one field without one).
TRANSPORT_DEFAULTS = TransportConfig(url="")
