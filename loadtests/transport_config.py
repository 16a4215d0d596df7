"""How an agent connects and backs off: the one source of the transport and reconnect defaults.

Light on purpose (no websocket-client, no locust), so the profile loader can take its defaults from
here; :mod:`loadtests.agent` re-exports both classes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["DEFAULT_API_KEY_ENV", "ReconnectPolicy", "TransportConfig"]

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
    retry_in_flight: bool = True
    turn_timeout: float = 600.0  # hard cap on one turn, a safety net only


#: The defaults alone (``url`` is the one field without one).
TRANSPORT_DEFAULTS = TransportConfig(url="")
