"""The agent over HTTP/SSE and its WebSocket→HTTP fallback, against a real reference server process."""

from __future__ import annotations

import json
import urllib.request

import pytest

from loadtests.agent import Agent, ReconnectPolicy, StreamRetryPolicy, TransportConfig
from loadtests.protocol import Conversation
from loadtests.run import ReferenceServer
from loadtests.sink import MemorySink
from loadtests.transport_config import TransportPolicy
from loadtests.workload import TOOLS

FAST = ReconnectPolicy(max_retries=8, base_delay=0.05, max_delay=0.2)
USER = {"type": "message", "role": "user", "content": "please refactor the parser"}
HTTP = TransportPolicy(primary="http")


@pytest.fixture
def server():
    srv = ReferenceServer(["--seed", "7", "--tokens-per-s", "4000", "--http-handshake-ms", "0"])
    yield srv
    srv.stop()


def admin(server, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{server.http_url}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"{}")


def make_agent(url: str, sink: MemorySink, *, store: bool = False, **cfg) -> Agent:
    config = TransportConfig(url=url, reconnect=FAST, **cfg)
    return Agent("a-test", config, sink, conversation_factory=lambda: Conversation(store=store, tools=TOOLS))


def turns(agent: Agent, n: int, *, start: int = 0, hints=None):
    items, results = [USER], []
    for i in range(start, start + n):
        r = agent.run_turn(items, turn_id=f"a-test/s1/t{i}", session=1, index=i, metadata=hints)
        results.append(r)
        items = ([{"type": "function_call_output", "call_id": c["call_id"], "output": "file body"}
                  for c in r.function_calls] or [{"type": "message", "role": "user", "content": f"next {i}"}])
    return results


@pytest.mark.parametrize("store", [False, True])
def test_http_turns_complete_with_matching_digests(server, store):
    """store=false sends the whole history every turn; store=true chains through the store."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=store, transport=HTTP)
    assert agent.start(wait=5)
    results = turns(agent, 4, hints={"agentsoak_tool_call": "yes"})
    agent.stop()
    assert all(r.outcome == "completed" for r in results)
    assert all(r.server_digest == r.client_digest for r in results)
    assert all(r.metrics.ttft_ms and r.metrics.ttft_ms > 0 for r in results)
    starts = sink.of("turn_start")
    assert {e.transport for e in starts} == {"http"} and {e.transport for e in sink.of("turn_end")} == {"http"}
    assert {e.conn for e in starts} == {"a-test/h1"}  # one kept-alive connection
    if store:
        assert [e.input_mode for e in starts] == ["full", "incremental", "incremental", "incremental"]
        assert [r.cache for r in results] == ["miss", "store", "store", "store"]
    else:
        assert {e.input_mode for e in starts} == {"full"}
        sizes = [e.input_bytes for e in starts]
        assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0]  # the upload grows with the context
        assert {r.cache for r in results} == {"miss"}
    ends = sink.of("turn_end")
    assert all(e.server_cost_ms and e.server_cost_ms["overhead"] == 20.0 for e in ends)
    assert [(e.conn, e.reason) for e in sink.of("connect_ok")] == [("a-test/h1", "initial")]


def test_stalled_sse_stream_is_cut_by_the_idle_timeout_and_retried(server):
    """200 and then nothing: the idle timeout cuts the attempt; the retry completes, nothing duplicated."""
    admin(server, "POST", "/admin/stall", {"where": "after_headers", "ms": 5000, "share": 1.0})
    sink = MemorySink()
    agent = make_agent(server.url, sink, transport=HTTP, idle_timeout=0.4,
                       stream_retry=StreamRetryPolicy(max_retries=3, base_delay=0.05))
    assert agent.start(wait=5)
    import threading

    threading.Timer(0.6, admin, args=(server, "DELETE", "/admin/stall")).start()
    results = turns(agent, 1)
    agent.stop()
    assert results[0].outcome == "completed"
    outcomes = [e.outcome for e in sink.of("turn_end")]
    assert outcomes[0] == "cut" and outcomes[-1] == "completed" and outcomes.count("completed") == 1
    dis = sink.of("disconnect")
    assert dis and dis[0].detected == "idle_timeout" and dis[0].in_flight == "a-test/s1/t0"
    assert 300 <= dis[0].silent_ms < 2000


def test_426_at_the_upgrade_falls_back_to_http_and_the_session_goes_on(server):
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=False,
                       transport=TransportPolicy(primary="websocket", fallback="http", on_status=(426,)))
    assert agent.start(wait=5)
    first = turns(agent, 2)
    admin(server, "POST", "/admin/refuse", {"status": 426, "share": 1.0})
    admin(server, "POST", "/admin/close", {"code": 1001, "share": 1.0})
    later = turns(agent, 3, start=2)
    agent.stop()
    assert all(r.ok for r in first + later)
    assert all(r.server_digest == r.client_digest for r in first + later)
    (fb,) = sink.of("transport_fallback")
    assert (fb.primary, fb.fallback, fb.reason, fb.status) == ("websocket", "http", "status", 426)
    by_turn = {e.turn: e.transport for e in sink.of("turn_end") if e.outcome == "completed"}
    assert [by_turn[f"a-test/s1/t{i}"] for i in range(5)] == ["websocket"] * 2 + ["http"] * 3
    assert agent.fallbacks == 1


def test_failed_attempts_fall_back_after_the_configured_count():
    sink = MemorySink()
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: every connect is refused
    agent = make_agent(f"ws://127.0.0.1:{port}/v1/responses", sink,
                       transport=TransportPolicy(primary="websocket", fallback="http", after_failed_attempts=3))
    agent.start(wait=5)
    agent.stop()
    (fb,) = sink.of("transport_fallback")
    assert (fb.reason, fb.attempts, fb.status) == ("failed_attempts", 3, None)
    assert len(sink.of("connect_fail")) == 3
