"""Turn output on the wire: output-item events and paced deltas (spec §3.3, §3.4).

Pacing follows the cost model: delta *i* is due ``i * K / tokens_per_s`` seconds after the stream
starts. The loop sleeps only when it is ahead of that schedule, so frames that are already due go out
back to back (4000 frames/s per stream would not survive one sleep per frame).

Events go to a :data:`SendEvent` as dicts; each transport frames them (a WebSocket text frame of the
``orjson`` bytes, or an SSE ``event:``/``data:`` block), so both send the very same events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loadtests.protocol import ResponseBuilder

from .cost import TurnPlan

__all__ = ["Pacing", "SendEvent", "stream_output"]

SendEvent = Callable[[dict[str, Any]], Awaitable[None]]  # frames and sends one event

_YIELD_EVERY = 256  # frames sent without a sleep before giving other connections a turn


@dataclass(frozen=True, slots=True)
class Pacing:
    """Stream speed: ``tokens_per_delta`` tokens per delta event at ``tokens_per_s``."""

    tokens_per_s: float
    tokens_per_delta: int
    stall_after_first_s: float = 0.0  # the between_deltas fault: a gap after the first delta


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def _paced(
    send: SendEvent, make_event: Callable[[str], dict[str, Any]], pieces: list[str], pacing: Pacing
) -> None:
    loop = asyncio.get_running_loop()
    now = loop.time  # hot loop: one lookup, not one per frame
    step = pacing.tokens_per_delta / pacing.tokens_per_s
    start = now()
    unslept = 0
    for i, piece in enumerate(pieces):
        ahead = start + i * step - now()
        if ahead > 0:
            await asyncio.sleep(ahead)
            unslept = 0
        else:
            unslept += 1
            if unslept >= _YIELD_EVERY:
                await asyncio.sleep(0)
                unslept = 0
        await send(make_event(piece))
        if i == 0 and pacing.stall_after_first_s > 0:
            await asyncio.sleep(pacing.stall_after_first_s)
            start += pacing.stall_after_first_s


async def stream_output(send: SendEvent, builder: ResponseBuilder, plan: TurnPlan, pacing: Pacing) -> None:
    """Send the output item of ``plan``, from ``output_item.added`` to ``output_item.done``."""
    size = 4 * pacing.tokens_per_delta  # one token is 4 characters (spec §3.2, our choice)
    if plan.kind == "call":
        await send(builder.start_call(plan.name))
        await _paced(send, builder.args_delta, _chunks(plan.arguments, size), pacing)
        for event in builder.finish_call():
            await send(event)
        return
    for event in builder.start_message():
        await send(event)
    await _paced(send, builder.text_delta, _chunks(plan.text, size), pacing)
    for event in builder.finish_message():
        await send(event)
