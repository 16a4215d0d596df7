"""The agent transport against a real reference server process: turns, drops, reconnect, recovery."""

from __future__ import annotations

import threading
import time

import pytest

from loadtests.agent import Agent, ReconnectPolicy, TransportConfig
from loadtests.protocol import Conversation
from loadtests.run import ReferenceServer
from loadtests.sink import MemorySink
from loadtests.workload import TOOLS
from tests.timing import MS, wait_until

FAST = ReconnectPolicy(max_retries=8, base_delay=0.05, max_delay=0.5)
USER = {"type": "message", "role": "user", "content": "please refactor the parser"}


@pytest.fixture
def server():
    srv = ReferenceServer(["--seed", "7", "--tokens-per-s", "4000"])
    yield srv
    srv.stop()


def make_agent(url: str, sink: MemorySink, *, store: bool = False, **cfg) -> Agent:
    config = TransportConfig(url=url, reconnect=FAST, **cfg)
    return Agent("a-test", config, sink, conversation_factory=lambda: Conversation(store=store, tools=TOOLS))


def turns(agent: Agent, n: int, *, start: int = 0, hints=None):
    items = [USER]
    results = []
    for i in range(start, start + n):
        r = agent.run_turn(items, turn_id=f"a-test/s1/t{i}", session=1, index=i, metadata=hints)
        results.append(r)
        calls = r.function_calls
        items = ([{"type": "function_call_output", "call_id": c["call_id"], "output": "file body"} for c in calls]
                 or [{"type": "message", "role": "user", "content": f"next {i}"}])
    return results


def completed_per_turn(sink: MemorySink) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in sink.of("turn_start"):
        counts.setdefault(e.turn, 0)
    for e in sink.of("turn_end"):
        if e.outcome in ("completed", "incomplete"):
            counts[e.turn] = counts.get(e.turn, 0) + 1
    return counts


def test_turns_complete_with_matching_digests_and_cache_hits(server):
    """A multi-turn session completes; the server built on exactly our context every time."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=True)
    assert agent.start(wait=5)
    results = turns(agent, 5)
    agent.stop()
    assert all(r.outcome == "completed" for r in results)
    assert all(r.server_digest == r.client_digest for r in results)
    assert [r.cache for r in results] == ["miss", "hit", "hit", "hit", "hit"]
    assert results[-1].metrics.cached_tokens > 0 and results[0].metrics.ttft_ms > 0
    assert {e.kind for e in sink.events} >= {"agent_start", "connect_ok", "turn_start", "turn_end", "agent_stop"}
    assert all(e.mono > 0 and e.t > 1.7e9 for e in sink.events)
    starts = {e.turn: (e.session, e.index) for e in sink.of("turn_start")}
    assert all((e.session, e.index) == starts[e.turn] for e in sink.of("turn_end")) and len(starts) == 5


def test_server_killed_and_restarted_agent_recovers_by_full_resend(server):
    """After a server restart the chain is gone: not_found, then a full resend; nothing lost or duplicated."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=True)
    assert agent.start(wait=5)
    first = turns(agent, 3)
    server.kill()
    wait_until(lambda: not agent.connected, 5, interval=0.01, message="the drop is seen during think time")
    server.restart()
    later = turns(agent, 2, start=3)
    agent.stop()
    assert all(r.ok for r in first + later)
    assert all(r.server_digest == r.client_digest for r in later)
    disconnects = sink.of("disconnect")
    assert len(disconnects) == 1 and disconnects[0].code == 1006
    recovery = sink.of("recovery")
    assert len(recovery) == 1 and recovery[0].mode == "full_resend" and recovery[0].reconnect_ms > 0
    resend = [e for e in sink.of("turn_start") if e.turn == "a-test/s1/t3"]
    assert [e.input_mode for e in resend] == ["incremental", "full"]
    assert sink.of("turn_end", turn="a-test/s1/t3")[0].error_code == "previous_response_not_found"
    assert set(completed_per_turn(sink).values()) == {1}


def test_turn_cut_mid_stream_is_retried_once_on_the_new_socket(server):
    """A drop while a turn streams cuts it; the retry completes it exactly once (store hydrate)."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=True)
    assert agent.start(wait=5)
    turns(agent, 2)
    # a long, slow response, cut by a server-side close while streaming
    import urllib.request

    def close_soon():  # once the turn streams: its first delta is ~ttft after turn_start
        wait_until(lambda: sink.of("turn_start", turn="a-test/s1/t2"), 10, interval=0.005)
        time.sleep(0.15 + 50 * MS)  # 2000 tokens at 4000/s stream for 0.5 s
        req = urllib.request.Request(f"{server.http_url}/admin/close", data=b'{"code": 1012}', method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()

    t = threading.Thread(target=close_soon)
    t.start()
    (result,) = turns(agent, 1, start=2, hints={"agentsoak_output_tokens": "2000", "agentsoak_tool_call": "no"})
    t.join()
    agent.stop()
    ends = sink.of("turn_end", turn="a-test/s1/t2")
    assert [e.outcome for e in ends] == ["cut", "completed"]
    assert [e.attempt for e in ends] == [1, 2]
    assert result.ok and result.cache == "store" and result.server_digest == result.client_digest
    assert sink.of("disconnect")[0].code == 1012 and sink.of("disconnect")[0].in_flight == "a-test/s1/t2"
    assert sink.of("recovery")[0].mode == "store_hydrate"


def test_full_resend_disabled_loses_the_turn(server):
    """With recovery's full resend off, a store=false drop loses the next turn (and the ledger says so)."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=False, full_resend=False)
    assert agent.start(wait=5)
    turns(agent, 2)
    server.kill()
    server.restart()
    (result,) = turns(agent, 1, start=2)
    agent.stop()
    assert not result.ok and result.error_code == "previous_response_not_found"
    assert sink.of("recovery")[0].mode == "failed"


def test_refused_connects_back_off_and_record_each_attempt():
    """With nothing listening, attempts are recorded with growing delays, then the agent gives up a sequence."""
    sink = MemorySink()
    policy = ReconnectPolicy(max_retries=3, base_delay=0.05, max_delay=0.2, cooldown=30)
    agent = Agent("a-x", TransportConfig(url="ws://127.0.0.1:9/v1/responses", reconnect=policy), sink)
    agent.start()
    wait_until(lambda: sink.of("reconnect_giveup"), 5, message="the agent gives up the sequence")
    agent.stop()
    fails = sink.of("connect_fail")
    assert len(fails) == 4 and sink.of("reconnect_giveup")[0].attempts == 4
    delays = [f.retry_in_s for f in fails]
    assert delays[-1] is None and 0.0375 <= delays[0] <= 0.05 and delays[1] > delays[0]
