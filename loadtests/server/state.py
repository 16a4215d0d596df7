"""Process-wide state of the reference server: config, seed, store, ids, live sessions, faults."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import weakref
from typing import Any, Protocol

from loadtests.protocol import IdSource

from .config import ServerConfig
from .fault_modes import FaultState
from .siblings import Siblings
from .store import ResponseStore

__all__ = ["LiveSession", "ServerState"]


class LiveSession(Protocol):
    """What the shared state and the admin faults need of a connection (``session.Session`` is one);
    a protocol here, so the state never imports the session module that imports it."""

    id: str
    index: int
    client: str | None  # the agent's id for the connection (``agent-0007/c3``), if it sent one
    agent: str | None  # the agent part of it (``agent-0007``)

    @property
    def busy(self) -> bool: ...
    @property
    def expired(self) -> bool: ...
    @property
    def closing(self) -> int | None: ...
    async def close(self, code: int) -> None: ...
    def expire(self, mode: str | None = None) -> bool: ...
    def evict(self) -> None: ...

log = logging.getLogger("agentsoak.server")


class ServerState:
    """Everything connections share. One per process; never touched from another thread."""

    def __init__(self, config: ServerConfig, *, store: ResponseStore | None = None,
                 siblings: Siblings | None = None) -> None:
        """``store``: the shared store of a multi-worker server (default: this process's own LRU);
        ``siblings``: this worker's place among them (connection and request ids interleave, so
        ``c<n>`` and ``h<n>`` stay unique across workers)."""
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
        self.store = store if store is not None else ResponseStore(config.store_capacity)
        self.siblings = siblings
        self.ids = IdSource()
        self.faults = FaultState(self.seed)
        self.sessions: dict[str, LiveSession] = {}
        self.responses = 0  # responses created (response.created sent or warm-up answered)
        self.events_sent = 0  # server events sent over WebSockets (one text frame each; benchmarks/)
        self.background: set[asyncio.Future[None]] = set()  # admin-started closes, kept referenced
        self.http_requests = 0  # POST /v1/responses answered past auth
        self.http_in_flight = 0  # HTTP turns streaming now
        first, step = (1, 1) if siblings is None else (1 + siblings.index, siblings.count)
        self._indexes = itertools.count(first, step)
        self._http_indexes = itertools.count(first, step)
        self._http_seen: weakref.WeakSet[Any] = weakref.WeakSet()  # transports that already sent a request

    def next_index(self) -> int:
        return next(self._indexes)

    def next_http_request(self, transport: Any) -> tuple[str, bool]:
        """The id of a new HTTP request (``h<n>``) and whether it opened its connection (no keep-alive reuse)."""
        self.http_requests += 1
        first = transport is None or transport not in self._http_seen
        if transport is not None:
            self._http_seen.add(transport)
        return f"h{next(self._http_indexes)}", first

    def live_sessions(self) -> list[LiveSession]:
        """Open sessions not already being closed, oldest first (a stable order for seeded picks)."""
        return sorted((s for s in self.sessions.values() if s.closing is None), key=lambda s: s.index)

    @property
    def turns_in_flight(self) -> int:
        return sum(1 for s in self.sessions.values() if s.busy) + self.http_in_flight
