"""Each agent's random streams: per purpose, seeded by (profile seed, agent index, purpose, draw number).

An agent's choices depend only on those, never on the process it runs in, the order agents were
spawned, or what another purpose drew: the seed is a stable hash (BLAKE2b, not Python's salted
``hash()``), and every purpose counts its own draws, so a new draw for one purpose never shifts
another. The same profile and seed thus give agent ``agent-0007`` the same think times, input sizes,
tool-call choices and jitters, with one Locust process or many.

A draw (one call of :class:`AgentRandom`, used for one choice: a think time, one text's words) gets a
fresh ``random.Random`` that is dropped after it, so an idle agent holds a few counters, not a
Mersenne Twister per purpose (2.5 KB each: 7 purposes were ~17 KB of an idle agent's RSS). Seeding
one costs ~11 µs, a few per turn (``benchmarks/bench_idle_agents.py``).
"""

from __future__ import annotations

import enum
import hashlib
import random
from dataclasses import dataclass, field

__all__ = ["AgentRandom", "Purpose", "stream_for"]


class Purpose(enum.StrEnum):
    """What a stream is drawn for."""

    THINK = "think"  # think time between turns and sessions
    INPUT_SIZE = "input_size"  # token count of each new user message or tool output
    INPUT_TEXT = "input_text"  # the words of that text
    OUTPUT_SIZE = "output_size"  # output size hint sent to the server
    TOOL_CALL = "tool_call"  # whether a turn asks for a function call
    RECONNECT = "reconnect"  # reconnect backoff jitter
    STREAM_RETRY = "stream_retry"  # in-flight retry backoff jitter


def stream_for(seed: int | None, index: int, purpose: Purpose, draw: int = 0) -> random.Random:
    """The stream of draw ``draw`` for ``purpose`` of agent ``index`` under ``seed`` (None is a seed like any other)."""
    key = f"agentsoak:{seed}:{index}:{purpose.value}:{draw}".encode()
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big"))


@dataclass(frozen=True)
class AgentRandom:
    """The streams of one agent: each call is the purpose's next draw, a stream of its own."""

    seed: int | None
    index: int
    _draws: dict[Purpose, int] = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, purpose: Purpose) -> random.Random:
        """The stream of ``purpose``'s next draw: use it for one choice, then drop it."""
        n = self._draws.get(purpose, 0)
        self._draws[purpose] = n + 1
        return stream_for(self.seed, self.index, purpose, n)
