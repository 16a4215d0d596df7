"""One WebSocket connection: its one-slot cache, FIFO of creates, lifetime, and turn loop.

Theory of operation
-------------------
The reader (``run``) only receives frames and queues text frames; a single worker task takes them in
order and runs one turn at a time (spec §6), so a create's ``previous_response_id`` is resolved at
dequeue and may name the response that was running. At most ``queue_limit`` creates wait; one more
gets ``response_queue_full`` at once. Invalid frames are answered in queue order too, so every reply
follows the reply to the create before it.

Cache (spec §5): the slot holds the connection's most recent ``completed``/``incomplete`` response
(warm-ups included). A chained create is a *hit* on the slot, a *store* hydrate (slower, nothing
cached) when the id was written with ``store=true``, else ``previous_response_not_found``. Any
rejected create evicts the id it named from the slot.

Lifetime (spec §6): when it runs out the connection *expires*. ``unsolicited`` sends the limit error
once the in-flight response (if any) ends, ``on_next_create`` answers the next create with it, and
``hard`` aborts the in-flight response with no terminal event first. The Close follows after
``limit_close_delay_s``. Every later create gets the limit error again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from loadtests.protocol import (
    EMPTY_DIGEST,
    ErrorCode,
    ErrorEvent,
    InvalidRequest,
    ResponseBuilder,
    ResponseCreate,
    error_envelope,
    extend_digest,
    item_tokens,
    parse_client_message,
    usage,
)

from .cost import CostModel
from .errors import TurnRejected
from .state import ServerState
from .store import ContextEntry
from .stream import Pacing, stream_output

__all__ = ["Session", "LIMIT_MESSAGE"]

log = logging.getLogger("agentsoak.server")

LIMIT_MESSAGE = (
    "Responses websocket connection limit reached (60 minutes). "
    "Create a new websocket connection to continue."
)
_NEW_CHAIN = ContextEntry("", EMPTY_DIGEST, 0)


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
        self.cost = CostModel(self.config, state.seed ^ self.index)
        self.cache: ContextEntry | None = None
        self.busy = False
        self.expired = False
        self.limit_sent = False
        self.closing: int | None = None  # close code once a server-side close started
        self.turns = 0
        self.bytes_in = 0
        self.opened = time.monotonic()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._turn: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._lifetime: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._limit_task: asyncio.Task[None] | None = None
        self._limit_mode = self.config.limit_mode

    # -- lifecycle --
    async def run(self) -> None:
        """Serve the connection until it closes."""
        self.state.sessions[self.id] = self
        log.info("%s open peer=%s", self.id, self.peer)
        self._worker = asyncio.create_task(self._work(), name=f"{self.id}-worker")
        self._lifetime = asyncio.create_task(self._expire_later(), name=f"{self.id}-lifetime")
        try:
            await self._read()
        finally:
            for task in (self._worker, self._lifetime, self._limit_task):
                if task is not None:
                    task.cancel()
            if self._closer is not None and not self._closer.done():
                if self.closing is not None:  # mid-close: let the handshake finish
                    await asyncio.wait([self._closer], timeout=2.0)
                self._closer.cancel()
            self.state.sessions.pop(self.id, None)
            log.info(
                "%s closed turns=%d bytes_in=%d age=%.1fs close_code=%s",
                self.id,
                self.turns,
                self.bytes_in,
                time.monotonic() - self.opened,
                self.closing or self.ws.close_code,
            )

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                self.bytes_in += len(msg.data)
                # the running create is not queued: ``busy`` counts it (spec §6: at most 32 wait)
                if self._queue.qsize() + (1 if self.busy else 0) > self.config.queue_limit:
                    await self._send_error(
                        error_envelope(
                            ErrorCode.QUEUE_FULL.value,
                            f"Too many queued responses on this connection (limit {self.config.queue_limit}).",
                        )
                    )
                else:
                    self._queue.put_nowait(msg.data)
            elif msg.type is WSMsgType.BINARY:
                self.closing = 1003  # spec §2: a binary frame gets close 1003
                await self.ws.close(code=1003, message=b"binary frames are not supported")
                return
            else:
                return

    async def close(self, code: int) -> None:
        """Close with ``code``; 1006 drops the TCP connection with no Close frame (spec §6)."""
        if self.closing is not None and code != 1006:
            return
        self.closing = code
        if self._worker is not None:
            self._worker.cancel()
        if code == 1006:
            self._abort()
            return
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await self.ws.close(code=code, message=b"")

    def _abort(self) -> None:
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: the peer sees a reset, as with a dropped link
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    # -- lifetime (spec §6) --
    async def _expire_later(self) -> None:
        await asyncio.sleep(self.config.connection_lifetime_s)
        self.expire()

    def expire(self, mode: str | None = None) -> bool:
        """Reach the connection limit now (``mode`` defaults to the configured one); False if already."""
        if self.expired or self.closing is not None:
            return False
        mode = mode or self.config.limit_mode
        self.expired = True
        self._limit_mode = mode
        if mode == "on_next_create":
            return True
        if self.busy:
            if mode == "hard" and self._turn is not None:
                self._turn.cancel()  # no terminal event; the worker sends the limit error next
            return True
        self._limit_task = asyncio.create_task(self._send_limit(), name=f"{self.id}-limit")
        return True

    async def _send_limit(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send_error(
                error_envelope(ErrorCode.CONNECTION_LIMIT.value, LIMIT_MESSAGE, param=None)
            )
        self.limit_sent = True
        code = self.config.limit_close_code
        if code is not None and self._closer is None:
            self._closer = asyncio.create_task(self._close_later(code), name=f"{self.id}-closer")

    async def _close_later(self, code: int) -> None:
        await asyncio.sleep(self.config.limit_close_delay_s)
        await self.close(code)

    # -- turns --
    async def _work(self) -> None:
        while True:
            text = await self._queue.get()
            self.busy = True
            self._turn = asyncio.create_task(self._run_turn(text), name=f"{self.id}-turn")
            try:
                await asyncio.wait([self._turn])
            finally:
                if not self._turn.done():
                    self._turn.cancel()
                elif not self._turn.cancelled():
                    # read it here too: a worker cancelled just as its turn failed on a dropped peer
                    # never reaches the check below, and asyncio would log "never retrieved"
                    self._turn.exception()
                self.busy = False
            turn, self._turn = self._turn, None
            if not turn.cancelled():
                exc = turn.exception()
                if isinstance(exc, ConnectionError):
                    return
                if exc is not None:
                    log.error("%s turn failed", self.id, exc_info=exc)
                    await self._send_error(
                        error_envelope(
                            "server_error", "The server had an error.", status=500, error_type="server_error"
                        )
                    )
            if self.expired and not self.limit_sent and self._limit_mode != "on_next_create":
                await self._send_limit()

    async def _run_turn(self, text: str) -> None:
        if self.expired:
            await self._send_limit()
            return
        prev: str | None = None
        try:
            try:
                request = parse_client_message(text)
            except InvalidRequest as exc:
                prev = exc.previous_response_id  # evicted below, as for any failed create (spec §5)
                raise TurnRejected(error_envelope(exc.code, str(exc), param=exc.param)) from exc
            prev = request.previous_response_id
            if request.background:
                raise TurnRejected(
                    error_envelope(
                        ErrorCode.UNSUPPORTED_PARAMETER.value,
                        "The 'background' parameter is not supported in WebSocket mode.",
                        param="background",
                    )
                )
            base, cache = await self._resolve(prev)
            await self._respond(request, base, cache, len(text))
        except TurnRejected as rejected:
            self._evict(prev)  # spec §5: a failed turn never leaves stale state in the slot
            log.debug("%s rejected code=%s bytes_in=%d", self.id, rejected.envelope.code, len(text))
            await self._send_error(rejected.envelope)

    def _evict(self, response_id: str | None) -> None:
        if response_id is not None and self.cache is not None and self.cache.response_id == response_id:
            self.cache = None

    async def _resolve(self, prev: str | None) -> tuple[ContextEntry, str]:
        if prev is None:
            return _NEW_CHAIN, "miss"
        if self.cache is not None and self.cache.response_id == prev:
            return self.cache, "hit"
        stored = self.state.store.get(prev)
        if stored is not None:
            await asyncio.sleep(self.config.hydrate_delay_ms / 1000.0)
            return stored, "store"
        raise TurnRejected(
            error_envelope(
                ErrorCode.PREVIOUS_RESPONSE_NOT_FOUND.value,
                f"Previous response with id '{prev}' not found.",
                param="previous_response_id",
            )
        )

    async def _respond(self, request: ResponseCreate, base: ContextEntry, cache: str, bytes_in: int) -> None:
        items = request.input_items()
        input_tokens = base.tokens + sum(item_tokens(item) for item in items)
        cached = base.tokens if cache == "hit" else 0
        context_digest = extend_digest(base.digest_after, items)
        stall_first, stall_between = self.state.faults.draw_stall()
        if stall_first:
            await asyncio.sleep(stall_first)
        builder = ResponseBuilder(self.state.ids.new("resp"), request, self.state.ids)
        self.state.responses += 1
        self.turns += 1
        mode = "incremental" if request.previous_response_id else "full"
        tag = {"context_digest": context_digest, "cache": cache, "input_mode": mode, "connection": self.id}
        if request.generate is False:  # warm-up (spec §3.5)
            if not self.config.warmup_completed_only:
                await self._send(builder.created())
            self._remember(builder, request, context_digest, input_tokens)
            await self._send(builder.completed(usage(input_tokens, cached, 0), agentsoak=tag))
            log.debug("%s warmup %s %s bytes_in=%d cache=%s", self.id, builder.id, mode, bytes_in, cache)
            return
        plan = self.cost.plan(request.tools, request.metadata, request.max_output_tokens)
        await self._send(builder.created())
        await self._send(builder.in_progress())
        await asyncio.sleep(self.cost.ttft_s(input_tokens, cached))
        pacing = Pacing(self.config.tokens_per_s, self.config.tokens_per_delta, stall_between)
        await stream_output(self._send_text, builder, plan, pacing)
        output_tokens = sum(item_tokens(item) for item in builder.output)
        self._remember(builder, request, context_digest, input_tokens + output_tokens)
        totals = usage(input_tokens, cached, output_tokens)
        terminal = (
            builder.incomplete(totals, agentsoak=tag)
            if plan.truncated
            else builder.completed(totals, agentsoak=tag)
        )
        await self._send(terminal)
        log.debug(
            "%s turn %s %s bytes_in=%d cache=%s input=%d cached=%d output=%d %s",
            self.id,
            builder.id,
            mode,
            bytes_in,
            cache,
            input_tokens,
            cached,
            output_tokens,
            plan.kind,
        )

    def _remember(
        self, builder: ResponseBuilder, request: ResponseCreate, context_digest: str, tokens: int
    ) -> None:
        # before the terminal event goes out: a client may chain (or reconnect and hydrate) at once
        entry = ContextEntry(builder.id, extend_digest(context_digest, builder.output), tokens)
        self.cache = entry
        if request.store:
            self.state.store.put(entry)

    # -- sending --
    async def _send(self, event: dict[str, Any]) -> None:
        if self.config.response_done_compat and event["type"] in (
            "response.completed",
            "response.incomplete",
        ):
            event = dict(event, type="response.done")
        await self._send_text(orjson.dumps(event))

    async def _send_error(self, envelope: ErrorEvent) -> None:
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
