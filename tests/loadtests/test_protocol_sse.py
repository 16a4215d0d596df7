"""SSE framing (loadtests/protocol/sse.py): the server's encoder and the client's incremental decoder."""

from __future__ import annotations

import json

import pytest

from loadtests.protocol import SseDecoder, encode_event
from loadtests.protocol.errors import RemoteProtocolError


def test_encode_event_is_event_line_data_line_blank_line():
    raw = encode_event({"type": "response.created", "sequence_number": 0})
    assert raw == b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'


def test_decoder_survives_any_split_point():
    events = [{"type": f"t{i}", "sequence_number": i, "text": "a\u00e9b" * i} for i in range(5)]
    raw = b"".join(encode_event(e) for e in events)
    for cut in range(1, len(raw)):
        dec = SseDecoder()
        msgs = dec.feed(raw[:cut]) + dec.feed(raw[cut:])
        assert [json.loads(m.data) for m in msgs] == events
        assert [m.event for m in msgs] == [e["type"] for e in events]
        assert not dec.pending


def test_decoder_follows_the_whatwg_rules():
    dec = SseDecoder()
    raw = b": comment\r\nevent: a\r\ndata: 1\r\ndata:2\r\nid: 7\r\n\r\ndata: plain\r\rdata: x\n\n\n\n"
    msgs = dec.feed(raw)
    assert [(m.event, m.data) for m in msgs] == [("a", "1\n2"), ("message", "plain"), ("message", "x")]


def test_cr_at_the_end_of_a_chunk_waits_for_a_possible_lf():
    dec = SseDecoder()
    assert dec.feed(b"data: 1\r") == []
    assert dec.feed(b"\n\r\n")[0].data == "1"


def test_body_ending_mid_message_is_pending():
    dec = SseDecoder()
    dec.feed(b"event: response.completed\ndata: {")
    assert dec.pending


def test_overlong_line_is_a_protocol_error(monkeypatch):
    monkeypatch.setattr("loadtests.protocol.sse.MAX_SSE_LINE", 10)
    with pytest.raises(RemoteProtocolError):
        SseDecoder().feed(b"data: " + b"x" * 20)
