"""The protocol core's ``Conversation`` against the reference server: digests agree across every path."""

from __future__ import annotations

import time

from loadtests.protocol import Conversation

from .conftest import connect

TOOL = {"type": "function", "name": "grep", "parameters": {"type": "object", "properties": {}}}


def _turn(conv: Conversation, ws, items, turn_id: str, *, full: bool = False):
    request = conv.begin_turn(items, time.monotonic(), turn_id=turn_id, full=full)
    ws.send(request.text)
    for _ in range(100_000):
        result = conv.receive_text(ws.recv(), time.monotonic())
        if result is not None:
            return request, result
    raise AssertionError("no result")


def test_conversation_digests_match_on_hit_store_and_full_resend(reference_server):
    """Hit, hydrate after reconnect, and a full resend all build on the state the client holds."""
    server = reference_server(
        tokens_per_s=100000, ttft_base_ms=1, hydrate_delay_ms=1, seed=2, tool_call_probability=0.5
    )
    conv = Conversation(store=True, tools=[TOOL])
    ws = connect(server)
    user = [{"type": "message", "role": "user", "content": "start"}]
    outcomes = []
    for i in range(6):
        _, result = _turn(conv, ws, user if i == 0 else [], f"t{i}")
        outcomes.append(result.cache)  # the round's first turn: a new chain first, then hits
        if result.function_calls:
            call = result.function_calls[0]
            _, result = _turn(
                conv,
                ws,
                [{"type": "function_call_output", "call_id": call["call_id"], "output": "match"}],
                f"t{i}o",
            )
        assert result.ok and result.server_digest == result.client_digest, result
    ws.close()
    ws = connect(server)  # new connection: the chain hydrates from the store
    request, result = _turn(conv, ws, [{"type": "message", "role": "user", "content": "again"}], "t-store")
    assert request.input_mode == "incremental" and result.cache == "store"
    assert result.server_digest == result.client_digest
    request, result = _turn(
        conv, ws, [{"type": "message", "role": "user", "content": "full"}], "t-full", full=True
    )
    assert request.input_mode == "full" and result.cache == "miss"
    assert result.server_digest == result.client_digest
    assert outcomes[0] == "miss" and set(outcomes[1:]) == {"hit"}
    ws.close()


def test_conversation_recovers_from_not_found_with_a_full_resend(reference_server):
    server = reference_server(tokens_per_s=100000, ttft_base_ms=1, seed=4)
    conv = Conversation(store=False)
    ws = connect(server)
    _turn(conv, ws, [{"type": "message", "role": "user", "content": "one"}], "t1")
    ws.close()
    ws = connect(server)
    _, result = _turn(conv, ws, [{"type": "message", "role": "user", "content": "two"}], "t2")
    assert result.needs_full_resend and result.error.message.startswith("Previous response with id")
    request, result = _turn(conv, ws, [{"type": "message", "role": "user", "content": "two"}], "t2")
    assert request.input_mode == "full" and result.ok and result.server_digest == result.client_digest
    ws.close()
