"""The rules of one reference-server connection, with no I/O (spec §5, §6).

Theory of operation
-------------------
A :class:`ConnectionCore` holds everything a connection decides: the FIFO of creates, the one turn
that runs, the one-slot cache, the lifetime limit and the close. It never touches a socket, never
sleeps and never reads the clock: the I/O layer passes ``now`` (monotonic seconds) into every input,
runs the :data:`Action` values each input returns, in order, and calls :meth:`ConnectionCore.tick`
at :meth:`ConnectionCore.next_deadline`.

Inputs: :meth:`~ConnectionCore.receive_text`, :meth:`~ConnectionCore.receive_binary`,
:meth:`~ConnectionCore.remember` (a turn's result, before its terminal event goes out),
:meth:`~ConnectionCore.turn_finished`, :meth:`~ConnectionCore.expire`, :meth:`~ConnectionCore.close`,
:meth:`~ConnectionCore.evict` and :meth:`~ConnectionCore.tick`.
Outputs: :class:`SendError`, :class:`StartTurn`, :class:`AbortTurn` and :class:`CloseSocket`.

Turns (spec §6): one at a time. A text frame waits in the FIFO (at most ``queue_limit`` behind the
running turn, else ``response_queue_full`` at once) and is parsed at dequeue, so its
``previous_response_id`` may name the response that was running. Rejected frames are answered in
queue order, so every reply follows the reply to the frame before it.

Cache (spec §5): the slot holds the most recent ``completed``/``incomplete`` response (warm-ups
included). A chained create is a *hit* on the slot, a *store* hydrate (``hydrate_s`` slower,
nothing cached) when the id was written with ``store=true``, else ``previous_response_not_found``.
Only a failed ``response.create`` evicts the id it named; a frame that is not a create does not.

Lifetime (spec §6): at ``connection_lifetime_s`` the connection *expires*. ``unsolicited`` sends the
limit error once the running turn (if any) ends, ``on_next_create`` answers the next create with it,
``hard`` aborts the running turn (no terminal event) first. The Close follows
``limit_close_delay_s`` after the first limit error; every later create gets the limit error again.

Connection states (:data:`TRANSITIONS`)::

    IDLE --start--> BUSY --finish--> IDLE          IDLE/BUSY --close--> CLOSING
    IDLE/BUSY --drop--> DROPPED                    CLOSING --drop--> DROPPED
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

import orjson

from loadtests.protocol import (
    EMPTY_DIGEST,
    ErrorCode,
    ErrorEvent,
    InvalidRequest,
    ResponseCreate,
    error_envelope,
    parse_client_message,
)

from .store import ContextEntry, ResponseStore

__all__ = [
    "CloseCode", "TurnOutcome", "LimitMode", "CacheKind", "ConnState", "TRANSITIONS", "Turn",
    "SendError", "StartTurn", "AbortTurn", "CloseSocket", "Action", "ConnectionCore", "LIMIT_MESSAGE",
    "NEW_CHAIN", "admit_http",
]

LIMIT_MESSAGE = (
    "Responses websocket connection limit reached (60 minutes). "
    "Create a new websocket connection to continue."
)
NEW_CHAIN = ContextEntry("", EMPTY_DIGEST, 0)


class CloseCode(IntEnum):
    """RFC 6455 §7.4.1 close codes the server sends or logs."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006  # never a Close frame: the TCP connection is dropped
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


class TurnOutcome(str, Enum):
    """How a started turn ended, as the I/O layer reports it."""

    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"  # an unexpected server error: the client gets a 500 envelope
    ABORTED = "aborted"  # cancelled on the core's AbortTurn: no terminal event went out
    DROPPED = "dropped"  # the peer went away mid-turn


class LimitMode(str, Enum):
    """What happens at the lifetime limit (spec §6)."""

    UNSOLICITED = "unsolicited"
    ON_NEXT_CREATE = "on_next_create"
    HARD = "hard"


class CacheKind(str, Enum):
    """Where a turn's base context came from (spec §5); logged and echoed in ``agentsoak.cache``."""

    MISS = "miss"
    HIT = "hit"
    STORE = "store"


class ConnState(str, Enum):
    IDLE = "IDLE"
    BUSY = "BUSY"
    CLOSING = "CLOSING"
    DROPPED = "DROPPED"


# (state, input) -> next state; any other pair leaves the state as it is (inputs are then ignored).
TRANSITIONS: dict[tuple[ConnState, str], ConnState] = {
    (ConnState.IDLE, "start"): ConnState.BUSY,
    (ConnState.BUSY, "finish"): ConnState.IDLE,
    (ConnState.IDLE, "close"): ConnState.CLOSING,
    (ConnState.BUSY, "close"): ConnState.CLOSING,
    (ConnState.IDLE, "drop"): ConnState.DROPPED,
    (ConnState.BUSY, "drop"): ConnState.DROPPED,
    (ConnState.CLOSING, "drop"): ConnState.DROPPED,
}


@dataclass(frozen=True, slots=True)
class Turn:
    """A create ready to run: the request, the context it builds on and where that came from."""

    request: ResponseCreate
    base: ContextEntry
    cache: CacheKind
    bytes_in: int
    hydrate_s: float = 0.0  # wait this long first (a store hydrate, spec §5)


@dataclass(frozen=True, slots=True)
class SendError:
    """Send this ``error`` envelope (spec §4)."""

    envelope: ErrorEvent


@dataclass(frozen=True, slots=True)
class StartTurn:
    """Run ``turn``; report its end with :meth:`ConnectionCore.turn_finished`."""

    turn: Turn


@dataclass(frozen=True, slots=True)
class AbortTurn:
    """Cancel the running turn; it sends no terminal event."""


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close with ``code`` (1006: drop the TCP connection, no Close frame)."""

    code: CloseCode
    reason: bytes = b""


Action = SendError | StartTurn | AbortTurn | CloseSocket


@dataclass(frozen=True, slots=True)
class CoreLimits:
    """The settings the core needs, taken from ServerConfig by :meth:`from_config`."""

    queue_limit: int = 32
    connection_lifetime_s: float = 3600.0
    limit_mode: LimitMode = LimitMode.UNSOLICITED
    limit_close_code: CloseCode | None = CloseCode.GOING_AWAY
    limit_close_delay_s: float = 1.0
    hydrate_delay_s: float = 0.15

    @classmethod
    def from_config(cls, config: Any) -> CoreLimits:
        code = config.limit_close_code
        return cls(
            queue_limit=config.queue_limit,
            connection_lifetime_s=config.connection_lifetime_s,
            limit_mode=LimitMode(config.limit_mode),
            limit_close_code=None if code is None else CloseCode(code),
            limit_close_delay_s=config.limit_close_delay_s,
            hydrate_delay_s=config.hydrate_delay_ms / 1000.0,
        )


def limit_error() -> ErrorEvent:
    return error_envelope(ErrorCode.CONNECTION_LIMIT.value, LIMIT_MESSAGE, param=None)


def server_error() -> ErrorEvent:
    return error_envelope("server_error", "The server had an error.", status=500, error_type="server_error")


class ConnectionCore:
    """The sans-I/O state of one connection. See the module docstring."""

    def __init__(self, limits: CoreLimits, store: ResponseStore, now: float) -> None:
        self.limits = limits
        self.store = store
        self.state = ConnState.IDLE
        self.cache: ContextEntry | None = None
        self.closing: CloseCode | None = None  # the code once a server-side close started
        self.expired = False
        self.limit_sent = False
        self.turns = 0
        self.bytes_in = 0
        self.expires_at = now + limits.connection_lifetime_s
        self.close_at: float | None = None
        self._mode = limits.limit_mode
        self._pending: deque[str | bytes] = deque()
        self._running: Turn | None = None

    # -- queries --
    @property
    def busy(self) -> bool:
        return self.state is ConnState.BUSY

    @property
    def queued(self) -> int:
        return len(self._pending)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None: no timer needed)."""
        if self.state in (ConnState.CLOSING, ConnState.DROPPED):
            return None
        if not self.expired:
            return self.expires_at
        return self.close_at

    def _go(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise AssertionError(f"no transition from {self.state.value} on {event!r}")
        self.state = nxt

    @property
    def _live(self) -> bool:
        return self.state in (ConnState.IDLE, ConnState.BUSY)

    # -- inputs --
    def receive_text(self, text: str | bytes, now: float) -> list[Action]:
        """A text frame arrived: queue it, or answer ``response_queue_full``."""
        if not self._live:
            return []
        self.bytes_in += len(text)
        # the running create is not queued: ``busy`` counts it (spec §6: at most queue_limit wait)
        if len(self._pending) + (1 if self.busy else 0) > self.limits.queue_limit:
            limit = self.limits.queue_limit
            return [SendError(error_envelope(
                ErrorCode.QUEUE_FULL.value, f"Too many queued responses on this connection (limit {limit})."
            ))]
        self._pending.append(text)
        return self._dequeue(now)

    def receive_binary(self, now: float) -> list[Action]:
        """A binary frame arrived: close 1003 (spec §2)."""
        if not self._live:
            return []
        return self._close(CloseCode.UNSUPPORTED_DATA, b"binary frames are not supported")

    def remember(self, entry: ContextEntry, store: bool) -> None:
        """The running turn's result takes the slot (and the store when ``store``)."""
        if not self._live:
            return
        self.cache = entry
        if store:
            self.store.put(entry)

    def turn_finished(self, outcome: TurnOutcome, now: float) -> list[Action]:
        """The running turn ended with ``outcome``."""
        turn, self._running = self._running, None
        if outcome is TurnOutcome.DROPPED:
            self.disconnected()
            return []
        if self.state is not ConnState.BUSY:
            return []
        self._go("finish")
        actions: list[Action] = []
        if outcome is TurnOutcome.FAILED:
            if turn is not None:
                self._evict(turn.request.previous_response_id)
            actions.append(SendError(server_error()))
        if self.expired and not self.limit_sent and self._mode is not LimitMode.ON_NEXT_CREATE:
            actions += self._limit(now)
        return actions + self._dequeue(now)

    def expire(self, now: float, mode: LimitMode | None = None) -> list[Action]:
        """Reach the connection limit now (``mode`` defaults to the configured one)."""
        if self.expired or not self._live:
            return []
        self.expired = True
        self._mode = mode or self.limits.limit_mode
        if self._mode is LimitMode.ON_NEXT_CREATE:
            return []
        if self.busy:
            return [AbortTurn()] if self._mode is LimitMode.HARD else []
        return self._limit(now)

    def can_expire(self) -> bool:
        """True while :meth:`expire` would still act."""
        return not self.expired and self._live

    def close(self, code: CloseCode) -> list[Action]:
        """Close with ``code``; a 1006 drop may still follow a Close already started."""
        if self.state is ConnState.DROPPED or (self.closing is not None and code != CloseCode.ABNORMAL):
            return []
        return self._close(code, b"")

    def evict(self) -> None:
        """Empty the slot (the admin ``evict`` fault)."""
        self.cache = None

    def disconnected(self) -> None:
        """The socket is gone: nothing more is sent."""
        if self.state is not ConnState.DROPPED:
            self._go("drop")
        self._pending.clear()

    def tick(self, now: float) -> list[Action]:
        """Time passed: act on the deadlines that are due."""
        actions: list[Action] = []
        if not self.expired and now >= self.expires_at:
            actions += self.expire(now)
        if self.close_at is not None and now >= self.close_at and self.closing is None:
            actions += self.close(self.limits.limit_close_code or CloseCode.GOING_AWAY)
        return actions

    # -- internals --
    def _close(self, code: CloseCode, reason: bytes) -> list[Action]:
        actions: list[Action] = [AbortTurn()] if self.busy else []
        if self.state is not ConnState.CLOSING:
            self._go("close")
        self.closing = code
        self._pending.clear()
        return actions + [CloseSocket(code, reason)]

    def _limit(self, now: float) -> list[Action]:
        self.limit_sent = True
        if self.limits.limit_close_code is not None and self.close_at is None:
            self.close_at = now + self.limits.limit_close_delay_s
        return [SendError(limit_error())]

    def _evict(self, response_id: str | None) -> None:
        if response_id is not None and self.cache is not None and self.cache.response_id == response_id:
            self.cache = None

    def _dequeue(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self.state is ConnState.IDLE and self._pending:
            text = self._pending.popleft()
            if self.expired:
                actions += self._limit(now)
                continue
            outcome = self._admit(text)
            if isinstance(outcome, Turn):
                self._go("start")
                self._running = outcome
                self.turns += 1
                actions.append(StartTurn(outcome))
            else:
                actions.append(SendError(outcome))
        return actions

    def _admit(self, text: str | bytes) -> Turn | ErrorEvent:
        """Parse and resolve one create; a rejected create evicts the id it named (spec §5)."""
        try:
            request = parse_client_message(text)
        except InvalidRequest as exc:
            self._evict(exc.previous_response_id)
            return error_envelope(exc.code, str(exc), param=exc.param)
        prev = request.previous_response_id
        if request.background:
            self._evict(prev)
            return error_envelope(
                ErrorCode.UNSUPPORTED_PARAMETER.value,
                "The 'background' parameter is not supported in WebSocket mode.",
                param="background",
            )
        if prev is None:
            return Turn(request, NEW_CHAIN, CacheKind.MISS, len(text))
        if self.cache is not None and self.cache.response_id == prev:
            return Turn(request, self.cache, CacheKind.HIT, len(text))
        stored = self.store.get(prev)
        if stored is not None:
            return Turn(request, stored, CacheKind.STORE, len(text), self.limits.hydrate_delay_s)
        return error_envelope(
            ErrorCode.PREVIOUS_RESPONSE_NOT_FOUND.value,
            f"Previous response with id '{prev}' not found.",
            param="previous_response_id",
        )


def admit_http(body: bytes, store: ResponseStore, hydrate_s: float) -> Turn | ErrorEvent:
    """Parse and resolve one ``POST /v1/responses`` body (spec §9): the create without ``type``.

    HTTP has no connection slot: ``previous_response_id`` resolves through the store only, so a chain
    written with ``store=false`` is ``previous_response_not_found`` and its client resends the whole
    context every turn, as with the real API. Errors carry the status the HTTP reply uses.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error_envelope(ErrorCode.INVALID_JSON.value, f"Invalid JSON body: {exc}")
    if not isinstance(obj, dict):
        return error_envelope(ErrorCode.INVALID_JSON.value, "Expected a JSON object as the request body.")
    try:
        request = ResponseCreate.parse(obj)
    except InvalidRequest as exc:
        return error_envelope(exc.code, str(exc), param=exc.param)
    if request.background:
        return error_envelope(
            ErrorCode.UNSUPPORTED_PARAMETER.value,
            "The 'background' parameter is not supported by this server.",
            param="background",
        )
    prev = request.previous_response_id
    if prev is None:
        return Turn(request, NEW_CHAIN, CacheKind.MISS, len(body))
    stored = store.get(prev)
    if stored is not None:
        return Turn(request, stored, CacheKind.STORE, len(body), hydrate_s)
    return error_envelope(
        ErrorCode.PREVIOUS_RESPONSE_NOT_FOUND.value,
        f"Previous response with id '{prev}' not found.",
        param="previous_response_id",
    )
