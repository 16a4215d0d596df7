"""One response, from its request cost to its terminal event: the one event generator both transports use.

A WebSocket session (``session.py``) and an HTTP request (``http.py``) each admit a :class:`~.core.Turn`,
then call :func:`run_turn` with their own :data:`~.stream.SendEvent` (a text frame, or an SSE block)
and their own ``remember`` (the connection slot and the store, or the store alone). Everything a
client sees in the events (ids, output, pacing, usage, faults) is decided here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from loadtests.protocol import ResponseBuilder, extend_digest, item_tokens, usage

from .core import CacheKind, Turn, TurnOutcome
from .cost import CostModel, RequestCost
from .fault_modes import wrong_state
from .state import ServerState
from .store import ContextEntry
from .stream import Pacing, SendEvent, stream_output

__all__ = ["Remember", "run_turn"]

log = logging.getLogger("agentsoak.server")

Remember = Callable[[ContextEntry, bool], None]  # (entry, store): where a finished response is kept


async def run_turn(
    state: ServerState,
    cost: CostModel,
    turn: Turn,
    send: SendEvent,
    remember: Remember,
    *,
    connection: str,
    transport: str,
    request_cost: RequestCost,
    client: str | None = None,
    response: int = 0,
) -> TurnOutcome:
    """Serve ``turn``: charge ``request_cost`` and any hydrate, then stream the response to ``send``.

    ``client`` is the connection's client id (``X-Agentsoak-Conn``) and ``response`` its number on that
    connection: with them the stall chance is drawn per client (``FaultState.draw_stall``)."""
    config = state.config
    request, base, cache = turn.request, turn.base, turn.cache
    if request_cost.total_s:
        await asyncio.sleep(request_cost.total_s)
    if turn.hydrate_s:
        await asyncio.sleep(turn.hydrate_s)
    items = request.input_items()
    if cache is not CacheKind.MISS and state.faults.serve_wrong_state(connection, request.metadata):
        base = wrong_state(base)
        log.info("%s wrong_state fault: %s served from another state", connection, request.previous_response_id)
    input_tokens = base.tokens + sum(item_tokens(item) for item in items)
    cached = base.tokens if cache == "hit" else 0
    context_digest = extend_digest(base.digest_after, items)
    stall_first, stall_between = state.faults.draw_stall(client, response)
    if stall_first:
        await asyncio.sleep(stall_first)
    # call ids enter the next turn's context digest: derived from this context, never from arrival order
    builder = ResponseBuilder(state.ids.new("resp"), request, state.ids, call_id_prefix=context_digest[:16])
    state.responses += 1
    mode = "incremental" if request.previous_response_id else "full"
    prefill_s = cost.ttft_s(input_tokens, cached)
    tag = {
        "context_digest": context_digest,
        "cache": cache.value,
        "input_mode": mode,
        "connection": connection,
        "transport": transport,
        "cost_ms": {
            "handshake": round(request_cost.handshake_ms, 3),
            "overhead": round(request_cost.overhead_ms, 3),
            "upload": round(request_cost.upload_ms, 3),
            "hydrate": round(turn.hydrate_s * 1000.0, 3),
            "prefill": round(prefill_s * 1000.0, 3),
        },
    }

    def keep(tokens: int) -> None:
        # before the terminal event goes out: a client may chain (or reconnect and hydrate) at once
        remember(ContextEntry(builder.id, extend_digest(context_digest, builder.output), tokens), request.store)

    async def terminal(event: dict[str, Any]) -> None:
        if config.response_done_compat:
            event = dict(event, type="response.done")
        await send(event)

    if request.generate is False:  # warm-up (spec §3.5)
        if not config.warmup_completed_only:
            await send(builder.created())
        keep(input_tokens)
        await terminal(builder.completed(usage(input_tokens, cached, 0), agentsoak=tag))
        log.debug("%s warmup %s %s bytes_in=%d cache=%s", connection, builder.id, mode, turn.bytes_in, cache)
        return TurnOutcome.COMPLETED
    plan = cost.plan(request.tools, request.metadata, request.max_output_tokens, request.tool_choice, key=context_digest)
    await send(builder.created())
    await send(builder.in_progress())
    await asyncio.sleep(prefill_s)
    pacing = Pacing(config.tokens_per_s, config.tokens_per_delta, stall_between)
    await stream_output(send, builder, plan, pacing)
    output_tokens = sum(item_tokens(item) for item in builder.output)
    keep(input_tokens + output_tokens)
    totals = usage(input_tokens, cached, output_tokens)
    if plan.truncated:
        await terminal(builder.incomplete(totals, agentsoak=tag))
    else:
        await terminal(builder.completed(totals, agentsoak=tag))
    log.debug(
        "%s turn %s %s %s bytes_in=%d cache=%s input=%d cached=%d output=%d %s",
        connection,
        transport,
        builder.id,
        mode,
        turn.bytes_in,
        cache.value,
        input_tokens,
        cached,
        output_tokens,
        plan.kind,
    )
    return TurnOutcome.INCOMPLETE if plan.truncated else TurnOutcome.COMPLETED
