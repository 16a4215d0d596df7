"""The agent transport against a real reference server process: turns, drops, reconnect, recovery."""

from __future__ import annotations

import threading
import time

import pytest
import websocket

from loadtests.agent import (
    Agent,
    AgentStopped,
    NoConnection,
    ReconnectPolicy,
    StreamRetryPolicy,
    TransportConfig,
)
from loadtests.protocol import Conversation
from loadtests.run import ReferenceServer
from loadtests.sink import MemorySink
from loadtests.transport_config import NO_STREAM_RETRY
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


@pytest.mark.parametrize("reader, parses_with", [("fast", "FrameReader"), ("websocket-client", "_ClientReader")])
def test_either_frame_reader_reads_whole_turns_and_the_server_s_close(server, reader, parses_with):
    """agent.frame_reader picks the parser; both read every turn whole and see the server's Close code."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=True, frame_reader=reader)
    assert agent.start(wait=5)
    assert type(agent._link.reader).__name__ == parses_with
    results = turns(agent, 3)
    assert all(r.outcome == "completed" and r.server_digest == r.client_digest for r in results)
    _admin_close(server)  # a Close frame with 1012
    wait_until(lambda: sink.of("disconnect"), 5 + 2000 * MS)
    agent.stop()
    d = sink.of("disconnect")[0]
    assert (d.code, d.detected, d.closed_by) == (1012, "close_frame", "server")


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
    (abandon,) = sink.of("turn_abandon")
    assert (abandon.cause, abandon.attempts, abandon.error_code) == ("full_resend_disabled", 1,
                                                                     "previous_response_not_found")


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


# -- in-flight retry policy, turn_abandon, and turns interrupted by a stop ---------------------------------

LONG = {"agentsoak_output_tokens": "2000", "agentsoak_tool_call": "no"}  # 0.5 s of streaming at 4000 tokens/s


class _StreamingConversation(Conversation):
    """A conversation that says when an attempt's first output delta arrives (so a test can cut it)."""

    def __init__(self, streaming: threading.Event, **kw) -> None:
        super().__init__(**kw)
        self.streaming = streaming
        self.seen: set[tuple[str, int]] = set()

    def receive_text(self, data, now):
        request = self.in_flight
        if request is not None and b"output_text.delta" in (data if isinstance(data, bytes) else data.encode()):
            key = (request.turn_id, request.attempt)
            if key not in self.seen:  # once per attempt, not per delta (a cut socket may deliver a few more)
                self.seen.add(key)
                self.streaming.set()
        return super().receive_text(data, now)


def cutting_agent(server, sink: MemorySink, cuts: int, **cfg) -> tuple[Agent, threading.Thread]:
    """An agent whose next ``cuts`` attempts are each cut by the server (Close 1012) once they stream."""
    streaming = threading.Event()
    config = TransportConfig(url=server.url, **{"reconnect": FAST, **cfg})
    agent = Agent("a-test", config, sink, index=1,
                  conversation_factory=lambda: _StreamingConversation(streaming, store=True, tools=TOOLS))

    def cut() -> None:
        for _ in range(cuts):
            if not streaming.wait(15):
                return
            streaming.clear()
            _admin_close(server)

    return agent, threading.Thread(target=cut, daemon=True)


def _admin_close(server) -> None:
    import json
    import urllib.request

    req = urllib.request.Request(f"{server.http_url}/admin/close", data=b'{"code": 1012}', method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["affected"] == 1


def _retry_gaps(sink: MemorySink, turn: str) -> list[float]:
    """Seconds from each cut attempt's turn_end to the next attempt's turn_start."""
    ends = {e.attempt: e.mono for e in sink.of("turn_end", turn=turn) if e.outcome == "cut"}
    starts = {e.attempt: e.mono for e in sink.of("turn_start", turn=turn)}
    return [starts[a + 1] - ends[a] for a in sorted(ends) if a + 1 in starts]


def test_turn_cut_three_times_completes_under_the_default_policy_with_its_backoff(server):
    """Codex's policy (5 retries, 200 ms·2^(n-1)·U(0.9, 1.1)): a turn cut 3 times completes on attempt 4."""
    sink = MemorySink()
    agent, cutter = cutting_agent(server, sink, cuts=3)
    assert agent.start(wait=5)
    cutter.start()
    (result,) = turns(agent, 1, hints=LONG)
    cutter.join(5)
    agent.stop()
    ends = sink.of("turn_end", turn="a-test/s1/t0")
    assert [e.outcome for e in ends] == ["cut", "cut", "cut", "completed"] and result.ok
    assert [e.attempt for e in ends] == [1, 2, 3, 4]
    assert not sink.of("turn_abandon")
    assert result.server_digest == result.client_digest
    gaps = _retry_gaps(sink, "a-test/s1/t0")
    assert len(gaps) == 3
    for n, gap in enumerate(gaps, start=1):  # the wait is the policy's; the reconnect (≤ 50 ms) runs meanwhile
        nominal = 0.2 * 2 ** (n - 1)
        assert 0.9 * nominal <= gap <= 1.1 * nominal + 0.1 + 300 * MS, (n, gaps)


def test_turn_that_exhausts_its_retry_policy_is_abandoned(server):
    """With one retry allowed, a turn cut twice is lost: turn_abandon cut_retries_exhausted, attempts=2."""
    sink = MemorySink()
    agent, cutter = cutting_agent(server, sink, cuts=2, stream_retry=StreamRetryPolicy(max_retries=1))
    assert agent.start(wait=5)
    cutter.start()
    (result,) = turns(agent, 1, hints=LONG)
    cutter.join(5)
    agent.stop()
    assert result.outcome == "cut"
    assert [e.outcome for e in sink.of("turn_end", turn="a-test/s1/t0")] == ["cut", "cut"]
    (abandon,) = sink.of("turn_abandon")
    assert (abandon.turn, abandon.cause, abandon.attempts, abandon.index) == ("a-test/s1/t0",
                                                                             "cut_retries_exhausted", 2, 0)


def test_retry_disabled_abandons_a_cut_turn_at_once(server):
    """``retry_in_flight: false`` (no retries): the first cut loses the turn, cause retry_disabled."""
    sink = MemorySink()
    agent, cutter = cutting_agent(server, sink, cuts=1, stream_retry=NO_STREAM_RETRY)
    assert agent.start(wait=5)
    cutter.start()
    (result,) = turns(agent, 1, hints=LONG)
    cutter.join(5)
    agent.stop()
    assert result.outcome == "cut"
    (abandon,) = sink.of("turn_abandon")
    assert (abandon.cause, abandon.attempts) == ("retry_disabled", 1)


def test_no_connection_within_the_turn_timeout_abandons_the_turn():
    """Nothing listens: the turn is given up after the turn timeout with cause no_connection."""
    sink = MemorySink()
    config = TransportConfig(url="ws://127.0.0.1:9/v1/responses", reconnect=FAST, turn_timeout=0.3)
    agent = Agent("a-x", config, sink, index=3)
    agent.start()
    with pytest.raises(NoConnection):
        agent.run_turn([USER], turn_id="a-x/s1/t0", session=1, index=0)
    agent.stop()
    (abandon,) = sink.of("turn_abandon")
    assert (abandon.cause, abandon.attempts, abandon.turn) == ("no_connection", 0, "a-x/s1/t0")
    assert sink.of("agent_start")[0].index == 3


def _every_started_turn_ends(sink: MemorySink) -> dict[str, str]:
    """The last turn_end outcome of every turn that has a turn_start (missing: the turn has none)."""
    last = {e.turn: e.outcome for e in sink.of("turn_end")}
    return {e.turn: last.get(e.turn, "MISSING") for e in sink.of("turn_start")}


def test_turn_interrupted_in_flight_ends_stopped(server):
    """Locust's kill (GreenletExit) right after a turn started: that turn still gets turn_end ``stopped``."""
    from greenlet import GreenletExit

    class KillAtTurnStart(MemorySink):
        def __call__(self, event):
            super().__call__(event)
            if event.kind == "turn_start" and event.turn.endswith("/t1"):
                raise GreenletExit  # what gevent raises in a user greenlet that Locust kills

    sink = KillAtTurnStart()
    agent = make_agent(server.url, sink, store=True)
    assert agent.start(wait=5)
    with pytest.raises(GreenletExit):
        turns(agent, 2)
    assert _every_started_turn_ends(sink) == {"a-test/s1/t0": "completed", "a-test/s1/t1": "stopped"}
    agent.stop()
    assert len(sink.of("turn_end", turn="a-test/s1/t1")) == 1  # the stop does not end it twice


def test_turn_stopped_during_its_retry_delay_ends_stopped(server):
    """Stopped while waiting out a retry delay after a cut: the turn ends ``stopped`` (not lost)."""
    sink = MemorySink()
    agent, cutter = cutting_agent(server, sink, cuts=1, stream_retry=StreamRetryPolicy(base_delay=5.0))
    assert agent.start(wait=5)
    cutter.start()
    done: list[BaseException] = []
    runner = threading.Thread(target=lambda: _capture(done, lambda: turns(agent, 1, hints=LONG)))
    runner.start()
    wait_until(lambda: sink.of("turn_end", outcome="cut"), 10, message="the turn is cut")
    agent.stop()
    runner.join(5)
    assert not runner.is_alive() and isinstance(done[0], AgentStopped)
    assert _every_started_turn_ends(sink) == {"a-test/s1/t0": "stopped"}
    assert [e.outcome for e in sink.of("turn_end")] == ["cut", "stopped"] and not sink.of("turn_abandon")


def test_turn_stopped_while_waiting_for_a_socket_ends_stopped(server):
    """Cut, then the reconnect is slow: a stop while the retry waits for its socket ends the turn ``stopped``."""
    sink = MemorySink()
    slow = ReconnectPolicy(base_delay=3.0, max_delay=3.0, jitter_min=1.0, jitter_max=1.0)
    agent, cutter = cutting_agent(server, sink, cuts=1, stream_retry=StreamRetryPolicy(base_delay=0.01),
                                  reconnect=slow)
    assert agent.start(wait=5)
    cutter.start()
    done: list[BaseException] = []
    runner = threading.Thread(target=lambda: _capture(done, lambda: turns(agent, 1, hints=LONG)))
    runner.start()
    wait_until(lambda: sink.of("turn_end", outcome="cut"), 10, message="the turn is cut")
    time.sleep(0.1 + 50 * MS)  # past the 10 ms retry delay: now waiting for the socket (3 s away)
    assert not agent.connected
    agent.stop()
    runner.join(5)
    assert not runner.is_alive() and isinstance(done[0], AgentStopped)
    assert _every_started_turn_ends(sink) == {"a-test/s1/t0": "stopped"}


def test_no_turn_starts_once_the_agent_is_stopped(server):
    """A stopped agent refuses a new turn before writing any turn_start."""
    sink = MemorySink()
    agent = make_agent(server.url, sink)
    assert agent.start(wait=5)
    agent.stop()
    with pytest.raises(AgentStopped):
        turns(agent, 1)
    assert not sink.of("turn_start")


def _capture(into: list[BaseException], fn) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        into.append(exc)


def test_a_reconnect_before_a_new_session_is_a_new_conversation_not_a_resend(server):
    """The first turn of a new session resumes nothing: its recovery is new_conversation, never full_resend."""
    sink = MemorySink()
    agent = make_agent(server.url, sink, store=False)
    assert agent.start(wait=5)
    assert all(r.ok for r in turns(agent, 2))
    server.kill()
    wait_until(lambda: not agent.connected, 5, interval=0.01, message="the drop is seen between sessions")
    server.restart()
    agent.new_session()
    result = agent.run_turn([USER], turn_id="a-test/s2/t0", session=2, index=0)
    agent.stop()
    assert result.ok
    (recovery,) = sink.of("recovery")
    assert recovery.mode == "new_conversation" and recovery.turn == "a-test/s2/t0"


def test_a_refused_upgrade_reaches_locust_with_a_stable_text():
    """Locust keeps a row per distinct error text all run long: a refused upgrade's text, with its Date
    header and body, would add one per second of a refuse window."""
    from loadtests.agent import _request_error

    texts = set()
    for second in range(3):
        exc = websocket.WebSocketBadStatusException(
            f"Handshake status 429 Too Many Requests -+-+- {{'date': 'Tue, 02 Dec 2026 03:00:0{second} GMT'}} -+-+- x",
            429, "Too Many Requests", {"date": f"Tue, 02 Dec 2026 03:00:0{second} GMT"}, b"x")
        texts.add(repr(_request_error(exc)))
    assert texts == {"ConnectFailed('upgrade refused: HTTP 429 Too Many Requests')"}
    other = ConnectionRefusedError(111, "Connection refused")
    assert _request_error(other) is other
