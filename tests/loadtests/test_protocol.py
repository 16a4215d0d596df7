"""The sans-I/O core: event order, error envelopes, digests, one turn in flight, metrics."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests.protocol import (
    EMPTY_DIGEST,
    Conversation,
    ErrorCode,
    IdSource,
    LocalProtocolError,
    Notice,
    ProtocolError,
    RemoteProtocolError,
    ResponseBuilder,
    ResponseCreate,
    TextDelta,
    TurnState,
    UnknownEvent,
    digest_items,
    dumps,
    error_envelope,
    extend_digest,
    item_tokens,
    parse_client_message,
    parse_server_event,
    usage,
)

USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Find fizz_buzz()"}]}


def text_turn(request: ResponseCreate, deltas: list[str], *, digest: str | None = None, cache: str = "miss",
              rid: str = "resp_a1") -> list[dict]:
    b = ResponseBuilder(rid, request, IdSource("t"), created_at=1767225600)
    events = [b.created(), b.in_progress(), *b.start_message()]
    events += [b.text_delta(d) for d in deltas]
    events += b.finish_message()
    extra = {"agentsoak": {"context_digest": digest, "cache": cache}} if digest else {}
    events.append(b.completed(usage(5, 0, 2), **extra))
    return events


def call_turn(request: ResponseCreate, rid: str = "resp_b1") -> list[dict]:
    b = ResponseBuilder(rid, request, IdSource("t"))
    return [b.created(), b.in_progress(), b.start_call("get_weather"), b.args_delta('{"city":'),
            b.args_delta('"Oslo"}'), *b.finish_call(), b.completed(usage(10, 0, 4))]


def feed(conv: Conversation, events: list[dict], start: float = 0.0, step: float = 0.01):
    result = None
    now = start
    for e in events:
        now += step
        out = conv.receive_text(dumps(e), now)
        if out is not None:
            result = out
    return result


def test_text_turn_event_order_matches_spec():
    """A text turn is created, in_progress, item added, part added, deltas, text done, part done, item done, completed."""
    req = ResponseCreate(input=[USER], store=False)
    events = text_turn(req, ["Hel", "lo"])
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(10))
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["text"] == "Hello"
    assert done["usage"]["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 5}
    assert events[0]["response"]["output"] == [] and events[0]["response"]["usage"] is None
    assert events[4]["item_id"] == events[2]["item"]["id"]


def test_function_call_turn_event_order_matches_spec():
    """A call turn streams argument deltas and ends with the whole call in output."""
    events = call_turn(ResponseCreate(input=[USER]))
    assert [e["type"] for e in events][2:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    assert events[5]["arguments"] == '{"city":"Oslo"}'
    conv = Conversation()
    conv.begin_turn([USER], 0.0, turn_id="t0")
    result = feed(conv, events)
    assert result.ok and result.function_calls[0]["name"] == "get_weather"
    assert result.metrics.ttft_ms == pytest.approx(40.0)  # fourth event, 10 ms apart


def test_conversation_commits_history_and_goes_incremental():
    """After a completed turn the next request carries only new items and previous_response_id."""
    conv = Conversation(store=False)
    r1 = conv.begin_turn([USER], 0.0, turn_id="t0")
    assert r1.input_mode == "full" and r1.message.previous_response_id is None
    result = feed(conv, text_turn(r1.message, ["Hi"], digest=r1.client_digest))
    assert result.outcome == "completed" and result.server_digest == result.client_digest
    follow = {"type": "message", "role": "user", "content": "and then?"}
    r2 = conv.begin_turn([follow], 1.0, turn_id="t1")
    body = orjson.loads(r2.text)
    assert body["previous_response_id"] == "resp_a1" and body["input"] == [follow]
    assert r2.client_digest == digest_items([USER, *result.output, follow])


def test_one_turn_in_flight():
    """A second begin_turn while one is in flight is our own protocol error."""
    conv = Conversation()
    conv.begin_turn([USER], 0.0, turn_id="t0")
    with pytest.raises(LocalProtocolError):
        conv.begin_turn([USER], 0.0, turn_id="t1")


def test_previous_response_not_found_forces_full_resend():
    """The exact error envelope ends the turn and the next request is a new chain with the full history."""
    conv = Conversation(store=False)
    r1 = conv.begin_turn([USER], 0.0, turn_id="t0")
    feed(conv, text_turn(r1.message, ["Hi"]))
    follow = {"type": "message", "role": "user", "content": "next"}
    conv.begin_turn([follow], 1.0, turn_id="t1")
    envelope = error_envelope("previous_response_not_found", "Previous response with id 'resp_a1' not found.",
                              param="previous_response_id")
    assert envelope.to_dict() == {"type": "error", "status": 400, "error": {
        "type": "invalid_request_error", "code": "previous_response_not_found",
        "message": "Previous response with id 'resp_a1' not found.", "param": "previous_response_id"}}
    result = conv.receive_text(dumps(envelope.to_dict()), 1.1)
    assert result.outcome == "error" and result.needs_full_resend
    retry = conv.begin_turn([follow], 1.2, turn_id="t1", attempt=2)
    assert retry.input_mode == "full" and retry.message.previous_response_id is None
    assert len(retry.message.input) == 3  # user, assistant output, follow-up


def test_cut_turn_leaves_history_untouched_and_retry_is_identical():
    """A turn cut mid-stream discards its output; the retry sends the same context (no loss, no duplicate)."""
    conv = Conversation()
    r1 = conv.begin_turn([USER], 0.0, turn_id="t0")
    events = text_turn(r1.message, ["Hel", "lo"])
    feed(conv, events[:5])
    assert conv.state is TurnState.STREAMING
    cut = conv.cut(1.0)
    assert cut.outcome == "cut" and not cut.ok and conv.history == [] and conv.state is TurnState.IDLE
    r2 = conv.begin_turn([USER], 2.0, turn_id="t0", attempt=2)
    assert r2.client_digest == r1.client_digest and r2.message.input == r1.message.input


def test_duplicate_events_are_ignored_and_gaps_counted():
    """A repeated sequence number is dropped; a skipped one is counted."""
    conv = Conversation()
    r = conv.begin_turn([USER], 0.0, turn_id="t0")
    events = text_turn(r.message, ["a", "b"])
    stream = events[:6] + [events[5]] + events[6:]  # delta 5 twice, nothing skipped
    result = feed(conv, stream)
    assert result.duplicates_ignored == 1 and result.sequence_gaps == 0
    assert result.output[0]["content"][0]["text"] == "ab"
    conv.begin_turn([USER], 0.0, turn_id="t1")
    r2 = feed(conv, [e for e in text_turn(r.message, ["a", "b"], rid="resp_z") if e["sequence_number"] != 5])
    assert r2.sequence_gaps == 1


def test_out_of_turn_messages_are_notices():
    """An unsolicited connection-limit error while idle comes back as a Notice."""
    conv = Conversation()
    env = error_envelope("websocket_connection_limit_reached", "Responses websocket connection limit reached "
                         "(60 minutes). Create a new websocket connection to continue.")
    out = conv.receive_text(dumps(env.to_dict()), 0.0)
    assert isinstance(out, Notice) and out.event.code == ErrorCode.CONNECTION_LIMIT.value


def test_legacy_flat_error_and_response_done_are_understood():
    """The flat error form parses; response.done ends a turn (spec §3.6, §4)."""
    ev = parse_server_event('{"type":"error","code":"server_error","message":"x","param":null,"sequence_number":3}')
    assert ev.code == "server_error" and ev.sequence_number == 3
    conv = Conversation()
    conv.begin_turn([USER], 0.0, turn_id="t0")
    conv.receive_text(dumps({"type": "response.created", "sequence_number": 0, "response": {"id": "r"}}), 0.1)
    res = conv.receive_text(dumps({"type": "response.done", "sequence_number": 1,
                                   "response": {"id": "r", "status": "completed", "output": []}}), 0.2)
    assert res.outcome == "completed"


def test_unknown_events_parse_as_unknown_and_bad_frames_raise():
    assert isinstance(parse_server_event('{"type":"response.reasoning.delta","sequence_number":1}'), UnknownEvent)
    with pytest.raises(RemoteProtocolError):
        parse_server_event("not json")
    with pytest.raises(RemoteProtocolError):
        parse_server_event('{"type":"response.output_text.delta","sequence_number":1}')
    assert isinstance(parse_server_event(dumps(TextDelta(1, "m", 0, 0, "x").to_dict())), TextDelta)


def test_client_message_parsing_gives_codes():
    """The server side maps bad frames to the error codes of spec §2."""
    for text, code in (("{", "invalid_json"), ('{"type":"response.cancel"}', "unknown_event_type"),
                       ('{"type":"response.create","input":[{"type":"bogus"}]}', "invalid_request_error")):
        with pytest.raises(RemoteProtocolError) as info:
            parse_client_message(text)
        assert info.value.code == code
    msg = parse_client_message('{"type":"response.create","model":"m","input":"hi","stream":true,"x":1}')
    assert msg.input_items()[0]["role"] == "user" and msg.extra == {"x": 1} and msg.stream is True


def test_digest_ignores_ids_and_part_names():
    """An output item resent as input digests the same as the output item."""
    out = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}
    resent = {"type": "message", "role": "assistant", "content": "Hi"}
    assert digest_items([out]) == digest_items([resent]) != EMPTY_DIGEST
    assert extend_digest(digest_items([USER]), [out]) == digest_items([USER, resent])
    assert digest_items([USER, out]) != digest_items([out, USER])
    assert item_tokens({"type": "message", "role": "user", "content": "abcdefgh"}) == 2


def test_protocol_error_base_is_abstract():
    with pytest.raises(TypeError):
        ProtocolError("x")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.dictionaries(st.text(max_size=10), st.none() | st.integers(-2**60, 2**60) | st.text(max_size=10),
                                 max_size=5).map(lambda d: orjson.dumps(d))))
def test_parsers_only_raise_protocol_errors(data):
    """Fuzzed frames give an event or a RemoteProtocolError, never another exception."""
    for parse in (parse_server_event, parse_client_message):
        try:
            parse(data)
        except RemoteProtocolError:
            pass
