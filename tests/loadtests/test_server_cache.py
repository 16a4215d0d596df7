"""Reference server: the connection-local cache, the store, queueing and the lifetime limit (spec §5, §6)."""

from __future__ import annotations

import time

import pytest
import websocket

from .conftest import TERMINAL, connect, recv_close, recv_event, recv_turn, run_turn, send_create

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 3}
LIMIT_MESSAGE = (
    "Responses websocket connection limit reached (60 minutes). "
    "Create a new websocket connection to continue."
)


def _not_found(rid: str) -> dict:
    return {
        "type": "error",
        "status": 400,
        "error": {
            "type": "invalid_request_error",
            "code": "previous_response_not_found",
            "message": f"Previous response with id '{rid}' not found.",
            "param": "previous_response_id",
        },
    }


def _limit_envelope() -> dict:
    return {
        "type": "error",
        "status": 400,
        "error": {
            "type": "invalid_request_error",
            "code": "websocket_connection_limit_reached",
            "message": LIMIT_MESSAGE,
            "param": None,
        },
    }


def test_hit_on_the_most_recent_response_reports_cached_tokens(reference_server):
    """§5: chaining on the connection's most recent response is a hit; cached_tokens is the whole prefix."""
    server = reference_server(**FAST)
    ws = connect(server)
    first = run_turn(ws, input="x" * 400, store=False)[-1]
    u1 = first["response"]["usage"]
    second = run_turn(ws, input="next", previous_response_id=first["response"]["id"], store=False)[-1]
    u2 = second["response"]["usage"]
    assert second["agentsoak"]["cache"] == "hit"
    assert u2["input_tokens_details"]["cached_tokens"] == u1["total_tokens"] > 100
    assert u2["input_tokens"] == u1["total_tokens"] + 1
    ws.close()


def test_only_the_most_recent_response_is_cached(reference_server):
    """One slot: an older response on the same connection (store=false) is gone."""
    server = reference_server(**FAST)
    ws = connect(server)
    old = run_turn(ws, store=False)[-1]["response"]["id"]
    run_turn(ws, store=False)
    assert run_turn(ws, previous_response_id=old, store=False)[-1] == _not_found(old)
    ws.close()


def test_store_true_hydrates_on_a_new_connection_without_cached_tokens(reference_server):
    """§5: not cached but stored → it works, cache "store", cached_tokens 0, slower by hydrate_delay_ms."""
    server = reference_server(**FAST, hydrate_delay_ms=300)
    ws = connect(server)
    first = run_turn(ws, input="x" * 400, store=True)[-1]
    ws.close()
    ws2 = connect(server)
    start = time.monotonic()
    second = run_turn(ws2, input="next", previous_response_id=first["response"]["id"], store=True)[-1]
    hydrate_s = time.monotonic() - start
    assert second["type"] == "response.completed" and second["agentsoak"]["cache"] == "store"
    usage = second["response"]["usage"]
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["input_tokens"] == first["response"]["usage"]["total_tokens"] + 1
    start = time.monotonic()
    third = run_turn(ws2, input="again", previous_response_id=second["response"]["id"])[-1]
    hit_s = time.monotonic() - start
    assert third["agentsoak"]["cache"] == "hit"
    assert hydrate_s >= 0.3 and hydrate_s - hit_s >= 0.2
    ws2.close()


def test_store_false_miss_after_reconnect_is_previous_response_not_found(reference_server):
    """§4/§5: not cached and written with store=false → the exact not-found envelope."""
    server = reference_server(**FAST)
    ws = connect(server)
    rid = run_turn(ws, store=False)[-1]["response"]["id"]
    ws.close()
    ws2 = connect(server)
    assert run_turn(ws2, previous_response_id=rid, store=False)[-1] == _not_found(rid)
    assert run_turn(ws2, previous_response_id="resp_unknown")[-1] == _not_found("resp_unknown")
    ws2.close()


def test_a_failed_create_evicts_the_id_it_named(reference_server):
    """§5: a create naming the cached id that fails removes that id from the slot."""
    server = reference_server(**FAST)
    ws = connect(server)
    rid = run_turn(ws, store=False)[-1]["response"]["id"]
    err = run_turn(ws, previous_response_id=rid, store=False, input=[{"type": "no_such_item"}])[-1]
    assert err["type"] == "error" and err["error"]["param"] == "input"
    assert run_turn(ws, previous_response_id=rid, store=False)[-1] == _not_found(rid)
    ws.close()


def test_an_evicted_stored_response_can_still_hydrate(reference_server):
    server = reference_server(**FAST, hydrate_delay_ms=1)
    ws = connect(server)
    rid = run_turn(ws, store=True)[-1]["response"]["id"]
    assert run_turn(ws, previous_response_id=rid, background=True)[-1]["type"] == "error"
    assert run_turn(ws, previous_response_id=rid)[-1]["agentsoak"]["cache"] == "store"
    ws.close()


def test_creates_run_one_at_a_time_in_order(reference_server):
    """§6: a create sent while another runs is queued; its events follow the first's terminal event."""
    server = reference_server(tokens_per_s=2000, ttft_base_ms=1, seed=1)
    ws = connect(server)
    send_create(ws, input="one", store=False, metadata={"agentsoak_output_tokens": 50})
    first_id = recv_event(ws)["response"]["id"]  # response.created of the first
    # chain on the response that is still running: resolved at dequeue
    send_create(ws, input="two", store=False, previous_response_id=first_id)
    first = recv_turn(ws)
    second = recv_turn(ws)
    assert first[-1]["type"] == "response.completed" and first[-1]["response"]["id"] == first_id
    assert second[0]["type"] == "response.created" and second[0]["sequence_number"] == 0
    assert [e["sequence_number"] for e in second] == list(range(len(second)))
    assert second[-1]["agentsoak"]["cache"] == "hit"
    ws.close()


def test_more_than_32_queued_creates_get_response_queue_full(reference_server):
    server = reference_server(tokens_per_s=1000, ttft_base_ms=1, seed=1)
    ws = connect(server)
    for i in range(36):  # the first runs for ~0.2 s while the rest arrive
        send_create(ws, store=False, metadata={"agentsoak_output_tokens": 200 if i == 0 else 1})
    full = completed = 0
    for _ in range(2000):
        event = recv_event(ws)
        if event["type"] == "error":
            assert event["error"]["code"] == "response_queue_full" and event["status"] == 400
            full += 1
        elif event["type"] == "response.completed":
            completed += 1
        if full + completed == 36:
            break
    assert (completed, full) == (33, 3)
    ws.close()


def test_connection_limit_unsolicited_sends_the_exact_error_then_close_1001(reference_server):
    """§6: at the lifetime the exact limit envelope arrives unprompted, then Close 1001 after the delay."""
    server = reference_server(**FAST, connection_lifetime_s=1, limit_close_delay_s=0.2)
    ws = connect(server)
    start = time.monotonic()
    assert recv_event(ws) == _limit_envelope()
    assert 0.9 <= time.monotonic() - start < 2.0
    send_create(ws)  # a create after the limit gets the limit again
    assert recv_event(ws) == _limit_envelope()
    assert recv_close(ws) == 1001


def test_connection_limit_lets_the_in_flight_response_finish(reference_server):
    server = reference_server(
        tokens_per_s=100, ttft_base_ms=1, connection_lifetime_s=0.3, limit_close_delay_s=0.1
    )
    ws = connect(server)
    events = run_turn(ws, metadata={"agentsoak_output_tokens": 60})  # 0.6 s, spans the limit
    assert events[-1]["type"] == "response.completed"
    assert recv_event(ws) == _limit_envelope()
    assert recv_close(ws) == 1001


def test_connection_limit_on_next_create(reference_server):
    server = reference_server(
        **FAST,
        connection_lifetime_s=0.3,
        limit_mode="on_next_create",
        limit_close_delay_s=0.1,
        limit_close_code=1000,
    )
    ws = connect(server)
    time.sleep(0.5)
    assert run_turn(ws)[-1] == _limit_envelope()
    assert recv_close(ws) == 1000


def test_connection_limit_hard_aborts_the_response_without_a_terminal_event(reference_server):
    server = reference_server(
        tokens_per_s=100,
        ttft_base_ms=1,
        connection_lifetime_s=0.3,
        limit_mode="hard",
        limit_close_code="none",
    )
    ws = connect(server)
    send_create(ws, metadata={"agentsoak_output_tokens": 100})
    events = [recv_event(ws)]
    while events[-1]["type"] != "error":
        events.append(recv_event(ws))
    assert events[-1] == _limit_envelope()
    assert not any(e["type"] in TERMINAL for e in events)
    assert any(e["type"] == "response.output_text.delta" for e in events)
    ws.settimeout(0.5)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()  # limit_close_code none: no Close follows
    ws.close()


def test_disconnect_loses_the_cache_but_the_store_survives(reference_server):
    server = reference_server(**FAST, hydrate_delay_ms=1)
    ws = connect(server)
    stored = run_turn(ws, store=True)[-1]["response"]["id"]
    ws.close()
    ws = connect(server)
    assert run_turn(ws, previous_response_id=stored)[-1]["agentsoak"]["cache"] == "store"
    ws.close()
    server.restart()  # a new process: the store is gone too
    ws = connect(server)
    assert run_turn(ws, previous_response_id=stored)[-1] == _not_found(stored)
    ws.close()


def test_store_is_bounded_lru(reference_server):
    server = reference_server(**FAST, store_capacity=2, hydrate_delay_ms=1)
    ws = connect(server)
    ids = [run_turn(ws, store=True)[-1]["response"]["id"] for _ in range(3)]
    ws.close()
    ws = connect(server)
    assert run_turn(ws, previous_response_id=ids[0])[-1] == _not_found(ids[0])
    assert run_turn(ws, previous_response_id=ids[1])[-1]["agentsoak"]["cache"] == "store"
    ws.close()
    assert server.admin("GET", "/admin/stats")[1]["store_size"] == 2
