"""Standing protocol faults (stall, refuse) and the seeded draws that pick what they hit (admin-api.md)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from loadtests.protocol import extend_digest

from .store import ContextEntry

__all__ = ["Stall", "Refuse", "WrongState", "FaultState", "pick_count", "wrong_state"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stall:
    """Each new response (probability ``share``) waits ``ms`` before ``response.created`` or after its first
    delta; ``after_headers`` (HTTP only) answers ``200`` and its SSE headers, then sends nothing for ``ms``."""

    where: str  # "first_event" | "between_deltas" | "after_headers"
    ms: float
    share: float


@dataclass(frozen=True, slots=True)
class Refuse:
    """Each new upgrade (probability ``share``) gets HTTP ``status``; 429 carries ``Retry-After``."""

    status: int
    retry_after_s: float
    share: float


@dataclass(frozen=True, slots=True)
class WrongState:
    """Chained turns of the targeted ``connections``, or whose ``metadata`` holds every given pair, are
    served from a state other than the one their ``previous_response_id`` names (at most ``turns``)."""

    connections: tuple[str, ...] | None
    metadata: dict[str, Any] | None
    turns: int | None  # None: until DELETE /admin/wrong_state

    def matches(self, connection: str, metadata: dict[str, Any] | None) -> bool:
        if self.connections is not None and connection not in self.connections:
            return False
        if self.metadata is not None:
            meta = metadata or {}
            return all(meta.get(k) == v for k, v in self.metadata.items())
        return True


_STALE_ITEM = {"type": "message", "role": "assistant", "content": "(a turn from another state)"}


def wrong_state(base: ContextEntry) -> ContextEntry:
    """The same response id, built on a different previous state: its digest no longer matches."""
    return ContextEntry(base.response_id, extend_digest(base.digest_after, [_STALE_ITEM]), base.tokens)


def pick_count(share: float, n: int) -> int:
    """Connections hit by ``share`` of ``n``: rounded, at least 1 when ``share > 0`` and ``n > 0``."""
    if n <= 0 or share <= 0:
        return 0
    return min(n, max(1, math.floor(share * n + 0.5)))


class FaultState:
    """The active standing faults plus the one seeded RNG every fault draw uses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.stall: Stall | None = None
        self.refuse: Refuse | None = None
        self.wrong: WrongState | None = None
        self.wrong_served = 0

    def serve_wrong_state(self, connection: str, metadata: dict[str, Any] | None) -> bool:
        """Whether this chained turn gets the wrong state (counts it against ``turns``)."""
        wrong = self.wrong
        if wrong is None or not wrong.matches(connection, metadata):
            return False
        self.wrong_served += 1
        if wrong.turns is not None and self.wrong_served >= wrong.turns:
            self.wrong = None
        return True

    def pick(self, items: Sequence[T], share: float) -> list[T]:
        """A seeded sample of ``share`` of ``items`` (callers pass them in a stable order)."""
        return self.rng.sample(list(items), pick_count(share, len(items)))

    def draw_stall(self) -> tuple[float, float]:
        """Seconds to stall a new response: (before ``response.created``, after the first delta)."""
        stall = self.stall
        if stall is None or stall.where == "after_headers" or self.rng.random() >= stall.share:
            return 0.0, 0.0
        seconds = stall.ms / 1000.0
        return (seconds, 0.0) if stall.where == "first_event" else (0.0, seconds)

    def draw_headers_stall(self) -> float:
        """Seconds an HTTP stream stays silent after its ``200`` headers (the ``after_headers`` stall)."""
        stall = self.stall
        if stall is None or stall.where != "after_headers" or self.rng.random() >= stall.share:
            return 0.0
        return stall.ms / 1000.0

    def draw_refuse(self) -> Refuse | None:
        refuse = self.refuse
        if refuse is None or self.rng.random() >= refuse.share:
            return None
        return refuse

    def reset(self) -> None:
        self.stall = None
        self.refuse = None
        self.wrong = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stall is not None:
            out["stall"] = asdict(self.stall)
        if self.refuse is not None:
            out["refuse"] = asdict(self.refuse)
        if self.wrong is not None:
            out["wrong_state"] = dict(asdict(self.wrong), served=self.wrong_served)
        return out
