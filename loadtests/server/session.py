"""One WebSocket connection: the thin aiohttp loop that drives a :class:`~.core.ConnectionCore`.

The reader feeds frames to the core; one timer task calls ``core.tick`` at ``core.next_deadline()``;
a turn runs as its own task (cost model, pacing, faults) and reports its end to the core. Every
:data:`~.core.Action` the core returns is carried out in order by :meth:`Session._do`. The rules
themselves (queue, cache, lifetime, close) live in the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
from typing import Any

import orjson
from aiohttp import WebSocketError, WSMsgType, web

from faults.identity import agent_of
from loadtests.protocol import ErrorEvent

from .core import (
    LIMIT_MESSAGE,
    AbortTurn,
    Action,
    CloseCode,
    CloseSocket,
    ConnectionCore,
    CoreLimits,
    LimitMode,
    SendError,
    StartTurn,
    Turn,
    TurnOutcome,
)
from .cork import Cork
from .cost import CostModel
from .fault_modes import client_of
from .state import ServerState
from .turn import run_turn

__all__ = ["Session", "LIMIT_MESSAGE"]

log = logging.getLogger("agentsoak.server")


class Session:
    """Server side of one WebSocket connection."""

    def __init__(self, state: ServerState, ws: web.WebSocketResponse, request: web.BaseRequest) -> None:
        self.state = state
        self.config = state.config
        self.index = state.next_index()
        self.id = f"c{self.index}"
        self.ws = ws
        # every event goes out as orjson's UTF-8 bytes in a text frame (no str round trip per frame)
        self._send_text = functools.partial(ws.send_frame, opcode=WSMsgType.TEXT)
        self.transport = request.transport
        self.peer = request.remote
        self.client = client_of(request.headers)  # the agent's id for this connection, if it sent one
        self.agent = agent_of(self.client) if self.client else None
        self._responses = 0
        self.cost = CostModel(self.config, state.seed)
        self._loop = asyncio.get_running_loop()
        self.opened = self._loop.time()
        # a turn's frames go out a loop iteration at a time, not one send() each (cork.py)
        self._cork = Cork(self.transport, self._loop) if self.transport is not None else None
        self._send_payload = self._cork.send if self._cork is not None else self._send_text
        self.core = ConnectionCore(CoreLimits.from_config(self.config), state.store, self.opened)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._turn: asyncio.Task[TurnOutcome] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._protocol_close: int | None = None

    # -- what the admin API and the state read --
    @property
    def busy(self) -> bool:
        return self.core.busy

    @property
    def expired(self) -> bool:
        return self.core.expired

    @property
    def closing(self) -> int | None:
        return self.core.closing

    # -- lifecycle --
    async def run(self) -> None:
        """Serve the connection until it closes."""
        self.state.sessions[self.id] = self
        log.info("%s open peer=%s client=%s", self.id, self.peer, self.client or "-")
        self._timer = asyncio.create_task(self._clock(), name=f"{self.id}-clock")
        try:
            await self._read()
        finally:
            closing = self.core.closing
            self.core.disconnected()
            for task in [self._turn, *self._tasks]:
                if task is not None:
                    task.cancel()
            if not self._timer.done():
                if closing is not None:  # mid-close: let the handshake finish
                    await asyncio.wait([self._timer], timeout=2.0)
                self._timer.cancel()
            self.state.sessions.pop(self.id, None)
            log.info(
                "%s closed turns=%d bytes_in=%d age=%.1fs close_code=%s",
                self.id,
                self.core.turns,
                self.core.bytes_in,
                self._loop.time() - self.opened,
                self._close_code_sent(closing),
            )

    def _close_code_sent(self, closing: CloseCode | None) -> int | None:
        """The code of the Close we sent, else the one aiohttp recorded (the peer's, or 1006)."""
        if closing is not None:
            return int(closing)
        if self._protocol_close is not None:
            return int(self._protocol_close)
        return self.ws.close_code

    async def _read(self) -> None:
        async for msg in self.ws:
            now = self._loop.time()
            if msg.type is WSMsgType.TEXT:
                await self._do(self.core.receive_text(msg.data, now))
            elif msg.type is WSMsgType.BINARY:
                await self._do(self.core.receive_binary(now))
                return
            else:
                if msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):
                    # aiohttp sent a Close with this code (1002, 1007, 1009, …); its close_code turns
                    # into 1006 when the peer does not answer, so remember what went out
                    self._protocol_close = msg.data.code
                return

    async def _clock(self) -> None:
        while self.core.closing is None:
            deadline = self.core.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._loop.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await self._do(self.core.tick(self._loop.time()))

    async def close(self, code: int) -> None:
        """Close with ``code``; 1006 drops the TCP connection with no Close frame (spec §6)."""
        await self._do(self.core.close(CloseCode(code)))

    def expire(self, mode: str | None = None) -> bool:
        """Reach the connection limit now (``mode`` defaults to the configured one); False if already."""
        if not self.core.can_expire():
            return False
        actions = self.core.expire(self._loop.time(), LimitMode(mode) if mode else None)
        self._spawn(self._do(actions))
        return True

    def evict(self) -> None:
        self.core.evict()

    # -- carrying out the core's actions --
    async def _do(self, actions: list[Action]) -> None:
        if not actions:
            return
        async with self._lock:
            for action in actions:
                if isinstance(action, SendError):
                    with contextlib.suppress(ConnectionError):
                        await self._send_error(action.envelope)
                elif isinstance(action, StartTurn):
                    self._start(action.turn)
                elif isinstance(action, AbortTurn):
                    if self._turn is not None:
                        self._turn.cancel()
                elif isinstance(action, CloseSocket):
                    await self._close_socket(action)
        self._wake.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_socket(self, action: CloseSocket) -> None:
        if self._turn is not None:
            self._turn.cancel()
        self._flush()  # what was sent goes before the Close (or the drop)
        if action.code == CloseCode.ABNORMAL:
            self._abort()
            return
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await self.ws.close(code=int(action.code), message=action.reason)

    def _abort(self) -> None:
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: the peer sees a reset, as with a dropped link
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    # -- turns --
    def _start(self, turn: Turn) -> None:
        task = asyncio.create_task(self._respond(turn), name=f"{self.id}-turn")
        self._turn = task
        task.add_done_callback(self._turn_done)

    def _turn_done(self, task: asyncio.Task[TurnOutcome]) -> None:
        if task is self._turn:
            self._turn = None
        if task.cancelled():
            outcome = TurnOutcome.ABORTED
        else:
            exc = task.exception()  # read always, or asyncio logs "never retrieved"
            if exc is None:
                outcome = task.result()
            elif isinstance(exc, ConnectionError):
                outcome = TurnOutcome.DROPPED
            else:
                log.error("%s turn failed", self.id, exc_info=exc)
                outcome = TurnOutcome.FAILED
        self._spawn(self._do(self.core.turn_finished(outcome, self._loop.time())))

    async def _respond(self, turn: Turn) -> TurnOutcome:
        self._responses += 1
        request_cost = self.cost.request_cost("websocket", turn.bytes_in)
        return await run_turn(
            self.state, self.cost, turn, self._send, self.core.remember,
            connection=self.id, transport="websocket", request_cost=request_cost,
            client=self.client, response=self._responses,
        )  # fmt: skip

    # -- sending --
    async def _send(self, event: dict[str, Any]) -> None:
        self.state.events_sent += 1
        await self._send_payload(orjson.dumps(event))

    def _flush(self) -> None:
        """Hand the corked frames to the transport: before anything aiohttp writes itself."""
        if self._cork is not None:
            self._cork.flush()

    async def _send_error(self, envelope: ErrorEvent) -> None:
        self._flush()  # aiohttp writes the error itself: after the frames sent before it
        if self.config.legacy_error_compat:  # the first SDK release's flat form (spec §4)
            await self._send_text(
                orjson.dumps(
                    {
                        "type": "error",
                        "code": envelope.code,
                        "message": envelope.message,
                        "param": envelope.param,
                        "sequence_number": 0,
                    }
                )
            )
            return
        await self._send_text(orjson.dumps(envelope.to_dict()))
