"""Each agent's random streams: one ``random.Random`` per purpose, seeded by (profile seed, agent index, purpose).

An agent's choices depend only on those three, never on the process it runs in, the order agents
were spawned, or what another purpose drew: the seed is a stable hash (BLAKE2b, not Python's salted
``hash()``) of the triple, and every purpose has its own stream, so a new draw for one purpose never
shifts another. The same profile and seed thus give agent ``agent-0007`` the same think times, input
sizes, tool-call choices and jitters, with one Locust process or many.
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


def stream_for(seed: int | None, index: int, purpose: Purpose) -> random.Random:
    """A fresh stream for ``purpose`` of agent ``index`` under ``seed`` (None is a seed like any other)."""
    key = f"agentsoak:{seed}:{index}:{purpose.value}".encode()
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big"))


@dataclass(frozen=True)
class AgentRandom:
    """The streams of one agent, made on first use (one per purpose)."""

    seed: int | None
    index: int
    _streams: dict[Purpose, random.Random] = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, purpose: Purpose) -> random.Random:
        rng = self._streams.get(purpose)
        if rng is None:
            rng = self._streams[purpose] = stream_for(self.seed, self.index, purpose)
        return rng
