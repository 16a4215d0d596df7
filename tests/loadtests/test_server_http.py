"""``POST /v1/responses`` (spec §9): the official openai SDK over HTTP and SSE, raw SSE framing, error statuses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from loadtests.protocol import SseDecoder

openai = pytest.importorskip("openai")

TOOL = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file.",
    "strict": False,
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}
FAST = {"tokens_per_s": 100000, "ttft_base_ms": 1, "http_turn_overhead_ms": 0, "http_handshake_ms": 0}


@pytest.fixture
def server(reference_server):
    return reference_server(seed=5, api_key="test", **FAST)


def _client(server: Any) -> Any:
    return openai.OpenAI(api_key="test", base_url=f"{server.http_url}/v1", max_retries=0)


def _post(server: Any, body: dict[str, Any] | bytes, key: str | None = "test") -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"{server.http_url}/v1/responses", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_sdk_streams_a_tool_call_then_chains_through_the_store(server):
    """``responses.create(stream=True)``: SSE events parsed by the SDK; the chain resolves via the store."""
    client = _client(server)
    first = list(client.responses.create(
        model="gpt-5.2", input="Read the config file.", tools=[TOOL], store=True, stream=True,
        metadata={"agentsoak_tool_call": "yes"},
    ))  # fmt: skip
    assert first[0].type == "response.created"
    assert [e.sequence_number for e in first] == list(range(len(first)))
    done = first[-1]
    assert done.type == "response.completed"
    call = done.response.output[0]
    assert call.type == "function_call" and call.name == "read_file"
    deltas = "".join(e.delta for e in first if e.type == "response.function_call_arguments.delta")
    assert deltas == call.arguments

    second = list(client.responses.create(
        model="gpt-5.2", previous_response_id=done.response.id, store=True, stream=True, tools=[TOOL],
        metadata={"agentsoak_tool_call": "no"},
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "debug = true"}],
    ))  # fmt: skip
    final = second[-1]
    assert final.type == "response.completed", final
    assert final.response.previous_response_id == done.response.id
    # no connection cache over HTTP: the store hydrates, nothing is served as cached
    assert final.response.usage.input_tokens_details.cached_tokens == 0
    assert final.response.usage.input_tokens > done.response.usage.input_tokens
    text = "".join(e.delta for e in second if e.type == "response.output_text.delta")
    assert text and final.response.output_text == text


def test_sdk_non_streamed_answers_one_response(server):
    response = _client(server).responses.create(model="gpt-5.2", input="hello", store=False)
    assert response.status == "completed" and response.object == "response"
    assert response.output_text and response.usage.output_tokens > 0


def test_store_false_chain_is_not_found_over_http(server):
    """No connection cache: a store=false response cannot be chained over HTTP (spec §5)."""
    client = _client(server)
    first = client.responses.create(model="gpt-5.2", input="hi", store=False)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-5.2", input="again", store=False, previous_response_id=first.id)
    assert info.value.status_code == 400
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"


def test_sse_framing_on_the_wire(server):
    """Each event is ``event: <type>`` then one ``data:`` line, a blank line between, no ``[DONE]``."""
    status, headers, body = _post(server, {"model": "gpt-5.2", "input": "hello", "stream": True, "store": False})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    blocks = body.decode().split("\n\n")
    assert blocks[-1] == ""
    for block in blocks[:-1]:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[6:])["type"] == event_line[7:]
    assert "[DONE]" not in body.decode()
    decoded = SseDecoder().feed(body)
    assert [m.event for m in decoded][-1] == "response.completed"


@pytest.mark.parametrize(
    ("body", "key", "status", "code", "param"),
    [
        ({"input": "x", "stream": True}, None, 401, "invalid_api_key", None),
        ({"input": "x", "stream": True}, "wrong", 401, "invalid_api_key", None),
        (b"{not json", "test", 400, "invalid_json", None),
        ({"input": "x", "store": "false"}, "test", 400, "invalid_request_error", "store"),
        ({"input": "x", "background": True}, "test", 400, "unsupported_parameter", "background"),
        ({"input": "x", "previous_response_id": "resp_nope"}, "test", 400, "previous_response_not_found",
         "previous_response_id"),
    ],
)
def test_error_statuses_and_envelopes(server, body, key, status, code, param):
    got, headers, raw = _post(server, body, key)
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    err = json.loads(raw)["error"]
    assert err["code"] == code and err["param"] == param and err["message"]
    assert err["type"] == "invalid_request_error"


def test_refuse_fault_spares_http(server):
    """A 426 refusal window hits upgrades only: the HTTP fallback goes through."""
    assert server.admin("POST", "/admin/refuse", {"status": 426, "share": 1.0})[0] == 200
    status, _, body = _post(server, {"model": "gpt-5.2", "input": "hi", "store": False})
    assert status == 200 and json.loads(body)["status"] == "completed"


def test_cost_model_charges_the_handshake_once_per_kept_alive_connection(reference_server):
    """The terminal event's ``agentsoak.cost_ms``: handshake on a connection's first request only,
    HTTP overhead every turn, upload by body size."""
    import http.client

    server = reference_server(
        seed=3, tokens_per_s=100000, ttft_base_ms=1, http_turn_overhead_ms=7, http_handshake_ms=11,
        upload_per_kib_ms=1.0,
    )  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    costs = []
    for size in (10, 4096):
        body = json.dumps({"model": "m", "input": "x" * size, "stream": True, "store": False}).encode()
        conn.request("POST", "/v1/responses", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        msgs = SseDecoder().feed(resp.read())
        terminal = json.loads(msgs[-1].data)
        assert terminal["agentsoak"]["transport"] == "http" and terminal["agentsoak"]["cache"] == "miss"
        costs.append((terminal["agentsoak"]["cost_ms"], len(body)))
    conn.close()
    (first, n1), (second, n2) = costs
    assert first["handshake"] == 11 and second["handshake"] == 0
    assert first["overhead"] == second["overhead"] == 7
    assert second["upload"] == pytest.approx(n2 / 1024, abs=0.01) and first["upload"] < second["upload"]
    assert second["prefill"] > first["prefill"]  # all input is uncached over HTTP
