"""Standing protocol faults (stall, refuse) and the seeded draws that pick what they hit (admin-api.md)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

__all__ = ["Stall", "Refuse", "FaultState", "pick_count"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stall:
    """Each new response (probability ``share``) waits ``ms`` before ``response.created`` or after its first delta."""

    where: str  # "first_event" | "between_deltas"
    ms: float
    share: float


@dataclass(frozen=True, slots=True)
class Refuse:
    """Each new upgrade (probability ``share``) gets HTTP ``status``; 429 carries ``Retry-After``."""

    status: int
    retry_after_s: float
    share: float


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

    def pick(self, items: Sequence[T], share: float) -> list[T]:
        """A seeded sample of ``share`` of ``items`` (callers pass them in a stable order)."""
        return self.rng.sample(list(items), pick_count(share, len(items)))

    def draw_stall(self) -> tuple[float, float]:
        """Seconds to stall a new response: (before ``response.created``, after the first delta)."""
        stall = self.stall
        if stall is None or self.rng.random() >= stall.share:
            return 0.0, 0.0
        seconds = stall.ms / 1000.0
        return (seconds, 0.0) if stall.where == "first_event" else (0.0, seconds)

    def draw_refuse(self) -> Refuse | None:
        refuse = self.refuse
        if refuse is None or self.rng.random() >= refuse.share:
            return None
        return refuse

    def reset(self) -> None:
        self.stall = None
        self.refuse = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stall is not None:
            out["stall"] = asdict(self.stall)
        if self.refuse is not None:
            out["refuse"] = asdict(self.refuse)
        return out
