"""The official openai SDK drives a two-turn tool-call conversation against the reference server."""

from __future__ import annotations

import json

import pydantic
import pytest

openai = pytest.importorskip("openai")

TOOL = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file.",
    "strict": False,
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}


def _until_terminal(conn) -> list:
    """Events up to a terminal one, each parsed by the SDK and also validated strictly against its types."""
    from openai.types.responses import ResponsesServerEvent

    strict = pydantic.TypeAdapter(ResponsesServerEvent)
    events = []
    for _ in range(10_000):
        raw = conn.recv_bytes()
        strict.validate_json(raw)  # every required field present, every type right
        event = conn.parse_event(raw)
        events.append(event)
        if event.type in ("response.completed", "response.incomplete", "response.failed", "error"):
            return events
    raise AssertionError("no terminal event within 10000 events")


def test_sdk_two_turn_tool_call_conversation(reference_server):
    """``client.responses.connect()``: a function call, then its output chained by previous_response_id."""
    server = reference_server(tokens_per_s=100000, ttft_base_ms=1, seed=5, api_key="test")
    client = openai.OpenAI(
        api_key="test",
        base_url=f"{server.http_url}/v1",
        websocket_base_url=f"ws://127.0.0.1:{server.port}/v1",
        max_retries=0,
    )
    with client.responses.connect() as conn:
        conn.response.create(
            model="gpt-5.2",
            input="Read the config file.",
            tools=[TOOL],
            store=False,
            metadata={"agentsoak_tool_call": "yes"},
        )
        first = _until_terminal(conn)
        assert first[0].type == "response.created" and first[0].response.status == "in_progress"
        assert [e.sequence_number for e in first] == list(range(len(first)))
        done = first[-1]
        assert done.type == "response.completed"
        calls = [item for item in done.response.output if item.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == "read_file"
        assert json.loads(calls[0].arguments)["path"].startswith("src/")
        deltas = [e for e in first if e.type == "response.function_call_arguments.delta"]
        assert "".join(e.delta for e in deltas) == calls[0].arguments

        conn.response.create(
            model="gpt-5.2",
            previous_response_id=done.response.id,
            store=False,
            tools=[TOOL],
            metadata={"agentsoak_tool_call": "no"},
            input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "debug = true"}],
        )
        second = _until_terminal(conn)
        final = second[-1]
        assert final.type == "response.completed", final
        assert final.response.previous_response_id == done.response.id
        assert final.response.usage.input_tokens_details.cached_tokens > 0
        text = "".join(e.delta for e in second if e.type == "response.output_text.delta")
        assert text and final.response.output_text == text
        assert final.response.output[0].type == "message"


def test_sdk_iterates_a_warmup_then_a_turn(reference_server):
    """Iterating the connection (the SDK's own loop) sees warm-up and turn events it can parse."""
    server = reference_server(tokens_per_s=100000, ttft_base_ms=1, seed=6)
    client = openai.OpenAI(
        api_key="test",
        base_url=f"{server.http_url}/v1",
        websocket_base_url=f"ws://127.0.0.1:{server.port}/v1",
        max_retries=0,
    )
    with client.responses.connect(extra_headers={"OpenAI-Beta": "responses_websockets=2026-02-06"}) as conn:
        conn.response.create(model="gpt-5.2", input="prepare", generate=False, store=False)
        types = []
        for event in conn:
            types.append(event.type)
            if event.type == "response.completed":
                warm_id = event.response.id
                break
        assert types == ["response.created", "response.completed"]
        conn.response.create(model="gpt-5.2", input="go", previous_response_id=warm_id, store=False)
        for event in conn:
            if event.type == "response.completed":
                assert event.response.usage.input_tokens_details.cached_tokens > 0
                break
            assert event.type != "error", event
