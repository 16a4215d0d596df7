"""Reference server: event sequences, errors and the cost model on the wire (spec §1–4)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import websocket

from loadtests.protocol import digest_items, extend_digest
from loadtests.server.cli import config_from_args, register_cli

from .conftest import REPO, connect, recv_close, recv_event, run_turn, send_create

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 7}
TOOL = {"type": "function", "name": "read_file", "parameters": {"type": "object", "properties": {}}}

TEXT_TYPES = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_text_turn_has_the_exact_event_sequence(reference_server):
    """§3.3: created, in_progress, item added, part added, deltas, text done, part done, item done, completed."""
    server = reference_server(**FAST)
    ws = connect(server)
    events = run_turn(
        ws, input="Find fizz_buzz()", store=False, stream=True, metadata={"agentsoak_output_tokens": 7}
    )
    types = [e["type"] for e in events]
    assert types == TEXT_TYPES + ["response.output_text.delta"] * 7 + TEXT_TAIL
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    created, in_progress, added, part_added = events[:4]
    response = created["response"]
    assert response["object"] == "response" and response["status"] == "in_progress"
    assert response["id"].startswith("resp_") and response["model"] == "gpt-5.2"
    assert response["output"] == [] and response["usage"] is None and response["store"] is False
    assert response["previous_response_id"] is None and response["parallel_tool_calls"] is True
    assert response["metadata"] == {"agentsoak_output_tokens": 7}
    assert in_progress["response"]["id"] == response["id"]
    item = added["item"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "in_progress"
    assert item["id"].startswith("msg_") and added["output_index"] == 0
    assert part_added["part"] == {"type": "output_text", "text": "", "annotations": []}
    deltas = events[4:11]
    for e in [part_added, *deltas, *events[11:13]]:
        assert (e["item_id"], e["output_index"], e["content_index"]) == (item["id"], 0, 0)
    text = "".join(e["delta"] for e in deltas)
    assert all(len(e["delta"]) == 4 for e in deltas)  # one token per delta, 4 characters each
    assert events[11]["text"] == text and events[12]["part"]["text"] == text
    done_item = events[13]["item"]
    assert done_item["status"] == "completed" and done_item["content"][0]["text"] == text
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"] == [done_item] and final["completed_at"]
    assert final["usage"] == {
        "input_tokens": 4,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 11,
    }
    tag = events[-1]["agentsoak"]
    assert tag["cache"] == "miss" and tag["input_mode"] == "full" and tag["connection"].startswith("c")
    ws.close()


def test_function_call_turn_has_the_exact_event_sequence(reference_server):
    """§3.4: a call item whose arguments stream in deltas, then arguments done, item done, completed."""
    server = reference_server(**FAST)
    ws = connect(server)
    events = run_turn(ws, tools=[TOOL], metadata={"agentsoak_tool_call": "yes"})
    types = [e["type"] for e in events]
    n = types.count("response.function_call_arguments.delta")
    assert n >= 2
    assert types == (
        ["response.created", "response.in_progress", "response.output_item.added"]
        + ["response.function_call_arguments.delta"] * n
        + ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    )
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    item = events[2]["item"]
    assert item["type"] == "function_call" and item["name"] == "read_file" and item["arguments"] == ""
    assert (
        item["id"].startswith("fc_")
        and item["call_id"].startswith("call_")
        and item["status"] == "in_progress"
    )
    args = "".join(e["delta"] for e in events[3 : 3 + n])
    assert json.loads(args)["path"].startswith("src/mod_")
    done = events[3 + n]
    assert (done["item_id"], done["name"], done["arguments"]) == (item["id"], "read_file", args)
    final_item = events[-2]["item"]
    assert final_item == dict(item, arguments=args, status="completed")
    assert events[-1]["response"]["output"] == [final_item]
    ws.close()


def test_no_function_call_without_tools(reference_server):
    """A call needs a non-empty ``tools``, whatever the hint says."""
    server = reference_server(**FAST, tool_call_probability=1.0)
    ws = connect(server)
    events = run_turn(ws, metadata={"agentsoak_tool_call": "yes"})
    assert events[-1]["response"]["output"][0]["type"] == "message"
    ws.close()


def test_warmup_returns_created_and_completed_and_takes_the_slot(reference_server):
    """§3.5: generate:false → created (0), completed (1), no output; the next turn hits it."""
    server = reference_server(**FAST)
    ws = connect(server)
    events = run_turn(ws, generate=False, input="setup", instructions="be brief", tools=[TOOL], store=False)
    assert [(e["type"], e["sequence_number"]) for e in events] == [
        ("response.created", 0),
        ("response.completed", 1),
    ]
    response = events[-1]["response"]
    assert response["output"] == [] and response["usage"]["output_tokens"] == 0
    assert response["instructions"] == "be brief"
    nxt = run_turn(ws, previous_response_id=response["id"], input="go", store=False)
    assert nxt[-1]["type"] == "response.completed" and nxt[-1]["agentsoak"]["cache"] == "hit"
    assert (
        nxt[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"]
        == response["usage"]["input_tokens"]
    )
    ws.close()


def test_background_is_rejected_and_the_socket_stays_open(reference_server):
    """§2: background:true → error 400 unsupported_parameter, param background."""
    server = reference_server(**FAST)
    ws = connect(server)
    event = run_turn(ws, background=True)[-1]
    assert event["type"] == "error" and event["status"] == 400 and "sequence_number" not in event
    assert event["error"]["code"] == "unsupported_parameter" and event["error"]["param"] == "background"
    assert event["error"]["type"] == "invalid_request_error"
    assert run_turn(ws)[-1]["type"] == "response.completed"
    ws.close()


def test_invalid_json_unknown_type_and_bad_items_are_errors(reference_server):
    """§2: invalid_json, unknown_event_type (param type), unknown item → invalid_request_error (param input)."""
    server = reference_server(**FAST)
    ws = connect(server)
    ws.send("{not json")
    assert recv_event(ws)["error"]["code"] == "invalid_json"
    ws.send(json.dumps({"type": "response.cancel"}))
    err = recv_event(ws)["error"]
    assert (err["code"], err["param"]) == ("unknown_event_type", "type")
    send_create(ws, input=[{"type": "bogus"}])
    err = recv_event(ws)["error"]
    assert (err["code"], err["param"]) == ("invalid_request_error", "input")
    assert run_turn(ws)[-1]["type"] == "response.completed"
    ws.close()


def test_binary_frame_gets_close_1003(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    ws.send_binary(b"\x00\x01")
    assert recv_close(ws) == 1003


def test_auth_rejects_missing_and_wrong_keys_with_401(reference_server):
    """§1: with --api-key, a missing, malformed or wrong Bearer key gets 401 and no upgrade."""
    server = reference_server(**FAST, api_key=["sk-one", "sk-two"])
    for headers in ([], ["Authorization: Bearer sk-wrong"], ["Authorization: sk-one"]):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            connect(server, headers=headers)
        assert info.value.status_code == 401
        assert json.loads(info.value.resp_body)["error"] == {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": "Missing or invalid API key in the Authorization header.",
            "param": None,
        }
    ws = connect(server, headers=["Authorization: Bearer sk-two"])
    assert run_turn(ws)[-1]["type"] == "response.completed"
    ws.close()
    assert "sk-one" not in server.log_text() and "sk-two" not in server.log_text()


def test_openai_beta_header_is_accepted(reference_server):
    server = reference_server(**FAST)
    ws = connect(server, headers=["OpenAI-Beta: responses_websockets=2026-02-06"])
    assert run_turn(ws)[-1]["type"] == "response.completed"
    ws.close()


def test_digest_is_the_digest_of_the_context_the_response_builds_on(reference_server):
    """The ``agentsoak.context_digest`` covers previous context + previous output + this input."""
    server = reference_server(**FAST)
    ws = connect(server)
    first_input = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    first = run_turn(ws, input=first_input)[-1]
    assert first["agentsoak"]["context_digest"] == digest_items(first_input)
    second_input = [{"type": "message", "role": "user", "content": "more"}]
    second = run_turn(ws, input=second_input, previous_response_id=first["response"]["id"])[-1]
    expected = extend_digest(digest_items(first_input + first["response"]["output"]), second_input)
    assert second["agentsoak"]["context_digest"] == expected
    assert second["agentsoak"]["input_mode"] == "incremental"
    # a full resend of the same history (new chain) reaches the same digest
    full = run_turn(ws, input=first_input + first["response"]["output"] + second_input)[-1]
    assert full["agentsoak"]["context_digest"] == expected and full["agentsoak"]["cache"] == "miss"
    ws.close()


def _texts(server, n: int) -> list[str]:
    ws = connect(server)
    texts = [
        run_turn(ws, input=f"turn {i}")[-1]["response"]["output"][0]["content"][0]["text"] for i in range(n)
    ]
    ws.close()
    return texts


def test_same_seed_same_requests_give_the_same_output(reference_server):
    a = _texts(reference_server(**FAST), 3)
    b = _texts(reference_server(**FAST), 3)
    c = _texts(reference_server(**dict(FAST, seed=8)), 3)
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("tokens_per_s", "tokens_per_delta", "tokens"),
    [(4000, 1, 400), (1000, 5, 100)],  # §10 Spark bursts: 4000 tok/s, one token per delta
)
def test_deltas_carry_k_tokens_and_are_paced(reference_server, tokens_per_s, tokens_per_delta, tokens):
    """K tokens (4K characters) per delta; ``tokens`` at ``tokens_per_s`` take ~0.1 s."""
    server = reference_server(
        tokens_per_s=tokens_per_s, tokens_per_delta=tokens_per_delta, ttft_base_ms=0, ttft_per_1k_uncached_ms=0
    )
    ws = connect(server)
    start = time.monotonic()
    events = run_turn(ws, metadata={"agentsoak_output_tokens": tokens})
    elapsed = time.monotonic() - start
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) == tokens // tokens_per_delta
    assert all(len(d) == 4 * tokens_per_delta for d in deltas)
    assert 0.08 <= elapsed < 1.0
    ws.close()


def test_max_output_tokens_ends_incomplete(reference_server):
    """§3.6: drawn output over ``max_output_tokens`` → response.incomplete, reason max_output_tokens."""
    server = reference_server(**FAST)
    ws = connect(server)
    events = run_turn(ws, max_output_tokens=5, metadata={"agentsoak_output_tokens": 50})
    final = events[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["usage"]["output_tokens"] == 5 and "agentsoak" in final
    ws.close()


def test_compat_flags_change_the_terminal_and_error_forms(reference_server):
    server = reference_server(
        **FAST, response_done_compat=True, legacy_error_compat=True, warmup_completed_only=True
    )
    ws = connect(server)
    assert run_turn(ws)[-1]["type"] == "response.done"
    assert [e["type"] for e in run_turn(ws, generate=False)] == ["response.done"]
    err = run_turn(ws, background=True)[-1]
    assert err == {
        "type": "error",
        "code": "unsupported_parameter",
        "message": err["message"],
        "param": "background",
        "sequence_number": 0,
    }
    ws.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["--tokens-per-s", "-5"],
        ["--output-tokens-min", "50", "--output-tokens-max", "10"],
        ["--limit-mode", "sometimes"],
        ["--port", "x"],
        ["--limit-close-code", "1011"],
    ],
)
def test_bad_cli_input_is_an_argparse_error(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "loadtests.server", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_api_key_from_the_environment(reference_server):
    env = dict(os.environ, AGENTSOAK_API_KEY="sk-env")
    server = reference_server(**FAST, env=env)
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(server)
    connect(server, headers=["Authorization: Bearer sk-env"]).close()


def test_server_pings_when_configured(reference_server):
    server = reference_server(**FAST, ping_interval_s=0.2)
    ws = connect(server)
    opcode, _ = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_PING
    ws.close()


def test_sigterm_closes_live_sockets_with_1001(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    run_turn(ws)
    server.proc.send_signal(signal.SIGTERM)
    assert recv_close(ws) == 1001
    assert server.proc.wait(10) == 0


def test_a_peer_dropping_mid_stream_leaves_no_error_in_the_log(reference_server):
    """A full-speed stream cut by the peer (no Close frame) ends quietly: no unretrieved task error."""
    server = reference_server(tokens_per_s=1e9, ttft_base_ms=0, seed=1)
    for _ in range(3):
        ws = connect(server)
        send_create(ws, metadata={"agentsoak_output_tokens": 200_000})
        assert recv_event(ws)["type"] == "response.created"
        ws.sock.close()
    deadline = time.monotonic() + 10
    while server.admin("GET", "/admin/stats")[1]["connections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.stop() == 0
    log = server.log_text()
    assert "never retrieved" not in log and "Traceback" not in log, log


def test_serve_subcommand_registers_on_a_parent_parser():
    """The lead wires ``register_cli`` into ``agentsoak``; flags map onto ServerConfig."""
    parser = argparse.ArgumentParser(prog="agentsoak")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "serve",
            "--port",
            "0",
            "--tokens-per-s",
            "4000",
            "--limit-close-code",
            "none",
            "--api-key",
            "k1",
            "--api-key",
            "k2",
            "--limit-mode",
            "hard",
        ]
    )
    config = config_from_args(args)
    assert callable(args.func)
    assert (config.port, config.tokens_per_s, config.limit_close_code, config.limit_mode) == (
        0,
        4000.0,
        None,
        "hard",
    )
    assert config.api_keys[:2] == ("k1", "k2")
