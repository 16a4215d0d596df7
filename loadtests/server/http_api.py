"""``POST /v1/responses``: the HTTP transport of the Responses API (spec §9), beside the WebSocket mode.

``stream: true`` answers ``200`` ``text/event-stream``, one ``event: <type>\\ndata: <json>\\n\\n`` block per
event (the events :func:`~.turn.run_turn` generates for a WebSocket turn, byte for byte the same JSON),
and ends the body after the terminal event (no ``[DONE]``). ``stream: false`` (or absent) answers the
terminal Response object as one JSON body. Request errors are HTTP 4xx with ``{"error": {...}}``.

HTTP has no connection cache: a chain resolves through the store (``core.admit_http``). The cost model
charges the HTTP per-turn overhead, the upload of the body and, on the first request of a connection,
the handshake (keep-alive reuses it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from loadtests.protocol import TERMINAL_TYPES, ErrorEvent, encode_event

from .core import TurnOutcome, admit_http, server_error
from .cost import CostModel
from .state import ServerState
from .store import ContextEntry
from .turn import run_turn

__all__ = ["error_response", "post_responses"]

log = logging.getLogger("agentsoak.server")

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


def error_response(envelope: ErrorEvent, headers: dict[str, str] | None = None) -> web.Response:
    """An HTTP error: the envelope's status, and its ``error`` object as the REST API sends it."""
    return web.json_response({"error": envelope.to_dict()["error"]}, status=envelope.status or 400, headers=headers)


def _flat_error(envelope: ErrorEvent, seq: int) -> dict[str, Any]:
    """The SSE ``error`` event: flat, no ``status`` (spec §4)."""
    return {
        "type": "error",
        "code": envelope.code,
        "message": envelope.message,
        "param": envelope.param,
        "sequence_number": seq,
    }


async def post_responses(request: web.Request, state: ServerState) -> web.StreamResponse:
    """Serve one authorized ``POST /v1/responses``."""
    config = state.config
    body = await request.read()
    connection, first = state.next_http_request(request.transport)
    admitted = admit_http(body, state.store, config.hydrate_delay_ms / 1000.0)
    if isinstance(admitted, ErrorEvent):
        log.info("%s rejected %s: %s", connection, admitted.code, admitted.message)
        return error_response(admitted)
    cost = CostModel(config, state.seed)
    request_cost = cost.request_cost("http", admitted.bytes_in, new_connection=first)

    def remember(entry: ContextEntry, store: bool) -> None:
        if store:  # no connection slot over HTTP: only the store remembers
            state.store.put(entry)

    if not admitted.request.stream:
        terminal: list[dict[str, Any]] = []

        async def keep_terminal(event: dict[str, Any]) -> None:
            if event["type"] in TERMINAL_TYPES:
                terminal.append(event)

        state.http_in_flight += 1
        try:
            await run_turn(
                state, cost, admitted, keep_terminal, remember,
                connection=connection, transport="http", request_cost=request_cost,
            )  # fmt: skip
        except Exception:
            log.exception("%s turn failed", connection)
            return error_response(server_error())
        finally:
            state.http_in_flight -= 1
        event = terminal[-1]
        return web.json_response(dict(event["response"], agentsoak=event.get("agentsoak")))

    resp = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await resp.prepare(request)
    seq = 0

    async def send(event: dict[str, Any]) -> None:
        nonlocal seq
        seq = event.get("sequence_number", seq) + 1
        await resp.write(encode_event(event))

    state.http_in_flight += 1
    try:
        hold = state.faults.draw_headers_stall()
        if hold:
            log.info("%s after_headers stall %.1fs (fault)", connection, hold)
            await asyncio.sleep(hold)
        outcome = await run_turn(
            state, cost, admitted, send, remember,
            connection=connection, transport="http", request_cost=request_cost,
        )  # fmt: skip
    except ConnectionError:
        log.info("%s client went away mid-stream", connection)
        return resp
    except Exception:
        log.exception("%s turn failed", connection)
        outcome = TurnOutcome.FAILED
        try:
            await resp.write(encode_event(_flat_error(server_error(), seq)))
        except ConnectionError:
            return resp
    finally:
        state.http_in_flight -= 1
    log.debug("%s %s", connection, outcome.value)
    try:
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp
