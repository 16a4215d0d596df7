"""Standing protocol faults (stall, refuse, leak) and the seeded draws that pick what they hit (admin-api.md).

A connection whose agent named it (``X-Agentsoak-Conn``, :mod:`faults.identity`) draws its stall and
refuse chances from a hash of (seed, what, client id, response number on that connection), so they
do not depend on which other agents are connected (an exact replay of some agents needs that);
other connections draw from the one seeded RNG, in arrival order.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from faults.identity import CLIENT_HEADER, is_client_id
from loadtests.protocol import extend_digest

from .store import ContextEntry

__all__ = ["Stall", "Refuse", "Leak", "WrongState", "FaultState", "client_of", "pick_count", "wrong_state"]

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
class Leak:
    """A leak made on purpose (the health checks' test): each new WebSocket connection keeps a buffer of
    ``bytes`` that is never freed, not when the connection closes nor when the fault is removed."""

    bytes: int


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


def client_of(headers: Mapping[str, str]) -> str | None:
    """The client id of a handshake's ``X-Agentsoak-Conn`` header, or None (absent or not an id)."""
    value = headers.get(CLIENT_HEADER)
    value = value.strip() if isinstance(value, str) else None
    return value if is_client_id(value) else None


def pick_count(share: float, n: int) -> int:
    """Connections hit by ``share`` of ``n``: rounded, at least 1 when ``share > 0`` and ``n > 0``."""
    if n <= 0 or share <= 0:
        return 0
    return min(n, max(1, math.floor(share * n + 0.5)))


class FaultState:
    """The active standing faults plus the one seeded RNG every fault draw uses."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.stall: Stall | None = None
        self.refuse: Refuse | None = None
        self.wrong: WrongState | None = None
        self.wrong_served = 0
        self.leak: Leak | None = None
        self.leaked: list[bytes] = []  # the leak's buffers: kept for the process's life, on purpose

    def leak_connection(self) -> None:
        """A new connection while the leak is on: keep its buffer (filled, so its pages count in RSS)."""
        if self.leak is not None and self.leak.bytes > 0:
            self.leaked.append(b"\xa5" * self.leak.bytes)

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

    def _uniform(self, what: str, client: str | None, n: int = 0) -> float:
        """A draw in [0, 1): keyed by the client id when there is one, else the next of the shared RNG."""
        if client is None:
            return self.rng.random()
        digest = hashlib.blake2b(f"{self.seed}/{what}/{client}/{n}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def draw_stall(self, client: str | None = None, response: int = 0) -> tuple[float, float]:
        """Seconds to stall a new response (the ``response``-th of connection ``client``): (before
        ``response.created``, after the first delta)."""
        stall = self.stall
        if stall is None or stall.where == "after_headers" or self._uniform("stall", client, response) >= stall.share:
            return 0.0, 0.0
        seconds = stall.ms / 1000.0
        return (seconds, 0.0) if stall.where == "first_event" else (0.0, seconds)

    def draw_headers_stall(self, client: str | None = None) -> float:
        """Seconds an HTTP stream stays silent after its ``200`` headers (the ``after_headers`` stall)."""
        stall = self.stall
        if stall is None or stall.where != "after_headers" or self._uniform("headers", client) >= stall.share:
            return 0.0
        return stall.ms / 1000.0

    def draw_refuse(self, client: str | None = None) -> Refuse | None:
        """The refusal of an upgrade by connection ``client`` (each of an agent's attempts has its own id)."""
        refuse = self.refuse
        if refuse is None or self._uniform("refuse", client) >= refuse.share:
            return None
        return refuse

    def reset(self) -> None:
        self.stall = None
        self.refuse = None
        self.wrong = None
        self.leak = None  # what leaked stays leaked

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stall is not None:
            out["stall"] = asdict(self.stall)
        if self.refuse is not None:
            out["refuse"] = asdict(self.refuse)
        if self.wrong is not None:
            out["wrong_state"] = dict(asdict(self.wrong), served=self.wrong_served)
        if self.leak is not None or self.leaked:
            out["leak"] = {"bytes": None if self.leak is None else self.leak.bytes, "buffers": len(self.leaked),
                           "leaked_bytes": sum(len(b) for b in self.leaked)}
        return out
