"""Reference server strictness (issue 9 §4): wrong types, eviction, tool_choice, echo, schema arguments."""

from __future__ import annotations

import json
import random
import socket
import time

import pytest

from loadtests.server.schema_args import arguments_for

from .conftest import connect, recv_event, run_turn

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 5}
GREP = {"type": "function", "name": "grep", "parameters": {"type": "object", "properties": {}}}
PLAN = {
    "type": "function",
    "name": "plan_task",
    "parameters": {
        "type": "object",
        "properties": {
            "objective": {"type": "string", "minLength": 3},
            "priority": {"type": "string", "enum": ["low", "high"]},
            "steps": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}, "minItems": 1},
            "owner": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "active": {"type": "boolean"}},
                "required": ["name", "active"],
                "additionalProperties": False,
            },
            "ratio": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        },
        "required": ["objective", "priority", "steps", "owner"],
        "additionalProperties": False,
    },
}


def _user(content, role="user"):
    return [{"type": "message", "role": role, "content": content}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"store": "false"}, "store"),
        ({"generate": "false"}, "generate"),
        ({"model": 123}, "model"),
        ({"input": _user(5)}, "input[0].content"),
        ({"input": _user("hi", role=7)}, "input[0].role"),
        ({"response": {"input": "hi", "model": "gpt-5.2"}}, "response"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "name": "missing"}, "tools": [GREP]}, "tool_choice"),
        ({"temperature": "hot"}, "temperature"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)
def test_wrong_types_get_400_invalid_request_error_with_param(reference_server, body, param):
    """§4 envelope: status 400, error.type invalid_request_error, the bad field in param; no turn runs."""
    server = reference_server(**FAST)
    ws = connect(server)
    if "response" in body:
        ws.send(json.dumps({"type": "response.create", **body}))
        event = recv_event(ws)
    else:
        event = run_turn(ws, **body)[-1]
    assert event["type"] == "error" and event["status"] == 400, event
    assert event["error"]["type"] == "invalid_request_error" and event["error"]["param"] == param
    assert server.admin("GET", "/admin/stats")[1]["responses"] == 0
    assert run_turn(ws)[-1]["type"] == "response.completed"  # the socket stays open
    ws.close()


def test_an_unknown_frame_naming_the_cached_response_does_not_evict_it(reference_server):
    """§5: only a failed create evicts; response.cancel (unknown type) and bad JSON leave the slot."""
    server = reference_server(**FAST)
    ws = connect(server)
    rid = run_turn(ws, store=False)[-1]["response"]["id"]
    ws.send(json.dumps({"type": "response.cancel", "previous_response_id": rid}))
    assert recv_event(ws)["error"]["code"] == "unknown_event_type"
    nxt = run_turn(ws, store=False, previous_response_id=rid)[-1]
    assert nxt["type"] == "response.completed" and nxt["agentsoak"]["cache"] == "hit"
    ws.close()


def _call_names(server, n, **body):
    ws = connect(server)
    outputs = [run_turn(ws, input=f"turn {i}", **body)[-1]["response"]["output"][0] for i in range(n)]
    ws.close()
    return [o.get("name") if o["type"] == "function_call" else None for o in outputs]


def test_tool_choice_none_required_and_named_are_honoured(reference_server):
    server = reference_server(**FAST, tool_call_probability=0.5)
    tools = [GREP, PLAN]
    assert _call_names(server, 6, tools=tools, tool_choice="none", metadata={"agentsoak_tool_call": "yes"}) == [
        None
    ] * 6
    required = _call_names(server, 6, tools=tools, tool_choice="required", metadata={"agentsoak_tool_call": "no"})
    assert None not in required
    named = {"type": "function", "name": "plan_task"}
    assert _call_names(server, 6, tools=tools, tool_choice=named) == ["plan_task"] * 6


def test_the_response_echoes_the_request_fields(reference_server):
    """§2: tool_choice, parallel_tool_calls, temperature, top_p, text, truncation, reasoning, limits, include."""
    server = reference_server(**FAST)
    ws = connect(server)
    fields = {
        "tool_choice": "none",
        "parallel_tool_calls": False,
        "temperature": 0.2,
        "top_p": 0.9,
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "truncation": "auto",
        "reasoning": {"effort": "low", "summary": None},
        "max_output_tokens": 500,
        "include": ["reasoning.encrypted_content"],
    }
    events = run_turn(ws, tools=[GREP], **fields)
    for event in (events[0], events[-1]):
        response = event["response"]
        assert {key: response[key] for key in fields} == fields
    default = run_turn(ws)[-1]["response"]
    assert (default["tool_choice"], default["parallel_tool_calls"], default["temperature"]) == ("auto", True, 1.0)
    ws.close()


def _check_plan_args(args: dict) -> None:
    props = PLAN["parameters"]["properties"]
    assert set(args) <= set(props) and set(PLAN["parameters"]["required"]) <= set(args)
    assert isinstance(args["objective"], str) and len(args["objective"]) >= 3
    assert args["priority"] in ("low", "high")
    assert args["steps"] and all(isinstance(s, int) and 1 <= s <= 9 for s in args["steps"])
    assert set(args["owner"]) == {"name", "active"} and isinstance(args["owner"]["active"], bool)
    assert args.get("ratio") is None or 0 <= args["ratio"] <= 1


def test_function_call_arguments_satisfy_the_tool_schema(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    for i in range(4):
        output = run_turn(ws, input=f"t{i}", tools=[PLAN], tool_choice="required")[-1]["response"]["output"]
        assert output[0]["name"] == "plan_task"
        _check_plan_args(json.loads(output[0]["arguments"]))
    ws.close()


def test_schema_generator_covers_refs_one_of_and_bounds():
    schema = {
        "type": "object",
        "$defs": {"mode": {"type": "string", "enum": ["a", "b"]}},
        "properties": {
            "mode": {"$ref": "#/$defs/mode"},
            "either": {"oneOf": [{"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 7}, {"type": "string"}]},
            "fixed": {"const": 3},
            "short": {"type": "string", "maxLength": 2},
        },
        "required": ["mode", "either", "fixed", "short"],
    }
    for seed in range(20):
        args = arguments_for(schema, random.Random(seed))
        assert args["mode"] in ("a", "b") and args["either"] == 6 and args["fixed"] == 3
        assert len(args["short"]) <= 2
        _check_plan_args(arguments_for(PLAN["parameters"], random.Random(seed)))
    assert arguments_for(PLAN["parameters"], random.Random(1)) == arguments_for(PLAN["parameters"], random.Random(1))


@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "namespace", "name": "multi_agent_v1", "tools": []}],
        [{"type": "web_search"}],
        [{"type": "web_search"}, {"type": "namespace", "name": "ns"}],
    ],
)
def test_only_function_tools_are_called(reference_server, tools):
    """A hosted tool or a namespace is never named in a function call: the turn answers with text."""
    server = reference_server(**FAST, tool_call_probability=1.0)
    assert _call_names(server, 3, tools=tools, metadata={"agentsoak_tool_call": "yes"}) == [None] * 3
    server2 = reference_server(**FAST, tool_call_probability=1.0)
    assert _call_names(server2, 3, tools=[*tools, GREP]) == ["grep"] * 3


def _closed_line(server, deadline_s: float = 10.0) -> str:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        lines = [line for line in server.log_text().splitlines() if " closed turns=" in line]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"no 'closed' line in the log:\n{server.log_text()}")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xb1\x80" + b"\x00" * 4, 1002),  # FIN + RSV1|RSV2 on a masked empty text frame: protocol error
        (b"\x81\x82" + b"\x00" * 4 + b"\xff\xfe", 1007),  # text frame that is not UTF-8
    ],
)
def test_protocol_close_codes_are_logged_as_sent(reference_server, frame, code):
    """aiohttp closes with 1002/1007; the log says that code, not the 1006 of the unanswered close."""
    server = reference_server(**FAST)
    ws = connect(server)
    ws.sock.sendall(frame)
    data = b""
    deadline = time.monotonic() + 5
    while len(data) < 4 and time.monotonic() < deadline:
        chunk = ws.sock.recv(64)
        if not chunk:
            break
        data += chunk
    assert data[0] == 0x88 and int.from_bytes(data[2:4], "big") == code  # the Close frame as sent
    line = _closed_line(server)  # we never answer the Close: the server times out and drops
    assert line.endswith(f"close_code={code}"), line
    ws.sock.close()


def _handshake(server, version: str | None) -> bytes:
    headers = [
        "GET /v1/responses HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    if version is not None:
        headers.append(f"Sec-WebSocket-Version: {version}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        return sock.recv(4096)


@pytest.mark.parametrize("version", ["8", "7", "14", None])
def test_websocket_version_other_than_13_gets_426(reference_server, version):
    """RFC 6455 §4.2.2: 426 with ``Sec-WebSocket-Version: 13``; 13 upgrades."""
    server = reference_server(**FAST)
    reply = _handshake(server, version)
    assert reply.startswith(b"HTTP/1.1 426"), reply
    assert b"\r\nsec-websocket-version: 13\r\n" in reply.lower()
    assert _handshake(server, "13").startswith(b"HTTP/1.1 101")
