"""The agent-side conversation: one turn in flight, local history, digests, per-turn metrics.

Theory of operation
-------------------
A :class:`Conversation` lives for one agent session and outlives connections. Its *history* holds
every committed item, inputs and outputs, in order, so the whole context can be resent after the
server lost its cache (spec §7, strategy 2). A turn's new items are committed only when the turn
ends ``completed`` or ``incomplete``; a turn that is cut or fails leaves the history untouched, so a
retry neither loses nor duplicates an item.

States (one turn in flight at most, spec §6)::

    IDLE --begin_turn--> SENT --response.created--> STREAMING --terminal--> IDLE
    SENT --error envelope--> IDLE          SENT/STREAMING --cut()--> IDLE

Every state change happens through :data:`TRANSITIONS`. The conversation never touches a socket or a
clock: the transport passes ``now`` (monotonic seconds) in, and sends the text it gets back.

Requests follow the incremental-input rule (§8): with a ``previous_response_id`` the request carries
only the new items; with ``full=True`` (a new chain after ``previous_response_not_found``) it carries
the whole history plus the new items and no ``previous_response_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .digest import EMPTY_DIGEST, extend_digest
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    ArgumentsDelta,
    ErrorCode,
    ErrorEvent,
    OutputItemEvent,
    ResponseCreate,
    ResponseEvent,
    ServerEvent,
    TextDelta,
    parse_server_event,
)
from .metrics import TurnMetrics

__all__ = ["TurnState", "TRANSITIONS", "TurnRequest", "TurnResult", "Notice", "Conversation"]


class TurnState(str, Enum):
    IDLE = "IDLE"
    SENT = "SENT"
    STREAMING = "STREAMING"


# (state, input) -> next state. Inputs: "send", "created", "delta", "terminal", "error", "cut".
TRANSITIONS: dict[tuple[TurnState, str], TurnState] = {
    (TurnState.IDLE, "send"): TurnState.SENT,
    (TurnState.SENT, "created"): TurnState.STREAMING,
    (TurnState.SENT, "error"): TurnState.IDLE,
    (TurnState.SENT, "terminal"): TurnState.IDLE,  # warm-up may skip straight to completed
    (TurnState.SENT, "cut"): TurnState.IDLE,
    (TurnState.STREAMING, "delta"): TurnState.STREAMING,
    (TurnState.STREAMING, "terminal"): TurnState.IDLE,
    (TurnState.STREAMING, "error"): TurnState.IDLE,
    (TurnState.STREAMING, "cut"): TurnState.IDLE,
}


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A turn ready to send: the message, its text, and what the ledger records about it."""

    turn_id: str
    attempt: int
    message: ResponseCreate
    text: str
    input_mode: str  # "incremental" | "full"
    client_digest: str
    input_items: int

    @property
    def input_bytes(self) -> int:
        return len(self.text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class TurnResult:
    """How a turn ended."""

    turn_id: str
    attempt: int
    outcome: str  # completed | incomplete | failed | error | cut
    response_id: str | None
    metrics: TurnMetrics
    client_digest: str
    server_digest: str | None = None
    cache: str | None = None
    error: ErrorEvent | None = None
    output: tuple[dict[str, Any], ...] = ()
    duplicates_ignored: int = 0
    sequence_gaps: int = 0
    server_cost_ms: dict[str, float] | None = None  # the reference server's per-stage charge (agentsoak.cost_ms)

    @property
    def ok(self) -> bool:
        return self.outcome in ("completed", "incomplete")

    @property
    def error_code(self) -> str | None:
        if self.error is not None:
            return self.error.code
        return None

    @property
    def needs_full_resend(self) -> bool:
        """The server no longer has our chain: start a new one with the full history (§7)."""
        return self.error_code == ErrorCode.PREVIOUS_RESPONSE_NOT_FOUND.value

    @property
    def function_calls(self) -> list[dict[str, Any]]:
        return [item for item in self.output if item.get("type") == "function_call"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A server message outside any turn, such as an unsolicited connection-limit error."""

    event: ServerEvent


@dataclass(slots=True)
class _Pending:
    request: TurnRequest
    new_items: list[dict[str, Any]]
    sent_at: float
    response_id: str | None = None
    first_delta_at: float | None = None
    delta_times: list[float] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    next_seq: int = 0
    duplicates: int = 0
    gaps: int = 0


class Conversation:
    """Client-side state of one agent session (sans-I/O)."""

    def __init__(self, *, model: str = "gpt-5.2", store: bool = True, tools: list[dict[str, Any]] | None = None,
                 instructions: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.model = model
        self.store = store
        self.tools = tools or []
        self.instructions = instructions
        self.metadata = metadata
        self.history: list[dict[str, Any]] = []
        self.digest = EMPTY_DIGEST
        self.last_response_id: str | None = None
        self.state = TurnState.IDLE
        self._pending: _Pending | None = None

    def _move(self, event: str) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RemoteProtocolError(f"unexpected {event!r} while {self.state.value}") from None

    @property
    def in_flight(self) -> TurnRequest | None:
        return self._pending.request if self._pending else None

    def begin_turn(self, new_items: list[dict[str, Any]], now: float, *, turn_id: str, attempt: int = 1,
                   full: bool = False, metadata: dict[str, Any] | None = None) -> TurnRequest:
        """Start a turn with ``new_items``; returns the request to send.

        ``metadata`` is merged over the conversation's for this request only (per-turn hints).

        Raises:
            LocalProtocolError: a turn is already in flight.
        """
        if self.state is not TurnState.IDLE:
            raise LocalProtocolError(f"turn {turn_id}: another turn is in flight ({self.state.value})")
        incremental = self.last_response_id is not None and not full
        items = list(new_items) if incremental else self.history + list(new_items)
        message = ResponseCreate(
            input=items, model=self.model, store=self.store, tools=self.tools, instructions=self.instructions,
            previous_response_id=self.last_response_id if incremental else None,
            metadata={**(self.metadata or {}), **metadata} if metadata else self.metadata,
        )
        request = TurnRequest(
            turn_id=turn_id, attempt=attempt, message=message, text=message.serialize(),
            input_mode="incremental" if incremental else "full",
            client_digest=extend_digest(self.digest, new_items), input_items=len(items),
        )
        self._move("send")
        self._pending = _Pending(request=request, new_items=list(new_items), sent_at=now)
        return request

    def receive_text(self, text: str | bytes, now: float) -> TurnResult | Notice | None:
        """Feed one server frame; returns a result when a turn ends, a Notice for out-of-turn messages."""
        return self.receive(parse_server_event(text), now)

    def receive(self, event: ServerEvent, now: float) -> TurnResult | Notice | None:
        """Feed one parsed server event (see :meth:`receive_text`)."""
        pending = self._pending
        if pending is None:
            return Notice(event)
        if isinstance(event, ErrorEvent):
            self._move("error")
            return self._finish(pending, "error", now, error=event)
        seq = event.sequence_number
        if seq is not None:
            if seq < pending.next_seq:
                pending.duplicates += 1  # a repeated (id, seq): de-duplicate (§11)
                return None
            if seq > pending.next_seq:
                pending.gaps += seq - pending.next_seq
            pending.next_seq = seq + 1
        if isinstance(event, (TextDelta, ArgumentsDelta)):
            if self.state is TurnState.STREAMING:
                if pending.first_delta_at is None:
                    pending.first_delta_at = now
                pending.delta_times.append(now)
            return None
        if isinstance(event, ResponseEvent):
            if event.type == "response.created":
                self._move("created")
                pending.response_id = event.response.get("id")
                return None
            if event.terminal:
                self._move("terminal")
                status = event.response.get("status") or event.type.rsplit(".", 1)[-1]
                outcome = {"completed": "completed", "incomplete": "incomplete"}.get(status, "failed")
                return self._finish(pending, outcome, now, terminal=event)
            return None
        if isinstance(event, OutputItemEvent) and event.type == "response.output_item.done":
            pending.items.append(event.item)
        return None

    def cut(self, now: float) -> TurnResult | None:
        """The socket died: end the in-flight turn (if any) as ``cut``; its output is discarded (§7.3)."""
        pending = self._pending
        if pending is None:
            return None
        self._move("cut")
        return self._finish(pending, "cut", now)

    def forget_chain(self) -> None:
        """The server lost our chain: the next request must be a new chain with the full history."""
        self.last_response_id = None

    def _finish(self, pending: _Pending, outcome: str, now: float, *, terminal: ResponseEvent | None = None,
                error: ErrorEvent | None = None) -> TurnResult:
        self._pending = None
        response = terminal.response if terminal else {}
        usage = response.get("usage") or {}
        details = usage.get("input_tokens_details") or {}
        output = response.get("output") or pending.items
        extra = (terminal.extra.get("agentsoak") if terminal else None) or {}
        metrics = TurnMetrics.compute(
            sent_at=pending.sent_at, first_delta_at=pending.first_delta_at, delta_times=pending.delta_times,
            ended_at=now, output_tokens=int(usage.get("output_tokens") or 0),
            input_tokens=int(usage.get("input_tokens") or 0), cached_tokens=int(details.get("cached_tokens") or 0),
        )
        request = pending.request
        result = TurnResult(
            turn_id=request.turn_id, attempt=request.attempt, outcome=outcome,
            response_id=response.get("id") or pending.response_id, metrics=metrics,
            client_digest=request.client_digest, server_digest=extra.get("context_digest"),
            cache=extra.get("cache"), error=error, output=tuple(output), duplicates_ignored=pending.duplicates,
            sequence_gaps=pending.gaps, server_cost_ms=extra.get("cost_ms"),
        )
        if result.ok:
            self.history.extend(pending.new_items)
            self.history.extend(output)
            self.digest = extend_digest(request.client_digest, output)
            self.last_response_id = result.response_id
        elif result.needs_full_resend:
            self.forget_chain()
        return result
