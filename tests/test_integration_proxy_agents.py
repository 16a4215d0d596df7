"""Reference-server WebSocket traffic through the embedded proxy under toxics added with ``FaultClient``.

A real reference server process, a real embedded proxy process in front of it, and real agents
(``loadtests.agent.Agent``) connecting through the proxy. Toxics are added and removed directly with
the fault client (no schedule): a latency toxic must raise TTFT by about its latency; a reset_peer
toxic must drop the socket (``disconnect`` detected ``reset`` / code 1006), and the agent must
reconnect and complete its next turn.
"""

from __future__ import annotations

import contextlib
import statistics

import pytest

from faults.client import FaultClient
from loadtests.agent import Agent, ReconnectPolicy, TransportConfig
from loadtests.protocol import Conversation
from loadtests.run import ReferenceServer
from loadtests.sink import MemorySink
from loadtests.workload import TOOLS
from tests.timing import MS, wait_until

pytestmark = pytest.mark.slow

FAST = ReconnectPolicy(max_retries=8, base_delay=0.05, max_delay=0.5, cooldown=1.0)
USER = {"type": "message", "role": "user", "content": "please refactor the parser"}


@pytest.fixture
def route():
    server = ReferenceServer(["--seed", "7", "--tokens-per-s", "2000", "--output-tokens-max", "60"])
    client = FaultClient.start_embedded(seed=7)
    try:
        proxy = client.create_proxy("agents", upstream=f"127.0.0.1:{server.port}")
        yield client, f"ws://{proxy['listen']}/v1/responses"
    finally:
        with contextlib.suppress(Exception):
            client.reset()
        client.close()
        server.stop()


def make_agent(url: str, sink: MemorySink, aid: str = "a-px") -> Agent:
    config = TransportConfig(url=url, reconnect=FAST, ping_interval=0.5, ping_timeout=1.0, connect_timeout=2.0,
                             turn_timeout=20.0)
    return Agent(aid, config, sink, conversation_factory=lambda: Conversation(store=True, tools=TOOLS))


class Turns:
    """Runs numbered turns of one session, answering tool calls."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.items = [USER]
        self.i = 0

    def run(self, n: int) -> list:
        out = []
        for _ in range(n):
            r = self.agent.run_turn(self.items, turn_id=f"{self.agent.id}/s1/t{self.i}", session=1, index=self.i)
            out.append(r)
            calls = r.function_calls if r.ok else []
            self.items = ([{"type": "function_call_output", "call_id": c["call_id"], "output": "x"} for c in calls]
                          or [{"type": "message", "role": "user", "content": f"next {self.i}"}])
            self.i += 1
        return out


def test_latency_toxic_raises_ttft_and_removing_it_restores_it(route):
    client, url = route
    sink = MemorySink()
    agent = make_agent(url, sink)
    assert agent.start(wait=5)
    turns = Turns(agent)
    try:
        base = turns.run(5)
        client.add_toxic("agents", "latency", name="slow", attributes={"latency": 400})
        slow = turns.run(4)
        client.remove_toxic("agents", "slow")
        fast = turns.run(4)
    finally:
        agent.stop()
    assert all(r.ok for r in base + slow + fast)
    med = [statistics.median(r.metrics.ttft_ms for r in rs) for rs in (base, slow, fast)]
    assert 350 <= med[1] - med[0] <= 400 + 500 * MS * 1000, med
    assert med[2] < med[0] + 300 * MS * 1000, med
    assert not sink.of("disconnect")


def test_reset_peer_toxic_drops_the_socket_and_the_agent_recovers(route):
    client, url = route
    sinks = [MemorySink() for _ in range(3)]
    agents = [make_agent(url, s, f"a-px{i}") for i, s in enumerate(sinks)]
    for a in agents:
        assert a.start(wait=5)
    turns = [Turns(a) for a in agents]
    try:
        for t in turns:
            assert all(r.ok for r in t.run(2))
        client.add_toxic("agents", "reset_peer", name="rst", attributes={"timeout": 0})
        # the next pong (0.5 s) triggers the reset
        wait_until(lambda: all(s.of("disconnect") for s in sinks), 5, message="every agent sees the reset")
        client.remove_toxic("agents", "rst")
        after = [t.run(2) for t in turns]
    finally:
        for a in agents:
            a.stop()
    for sink, results in zip(sinks, after, strict=True):
        drops = sink.of("disconnect")
        assert drops, "the reset was not seen"
        assert drops[0].code == 1006 and drops[0].detected in ("reset", "eof"), drops[0]
        assert all(r.ok for r in results), [r.outcome for r in results]
        oks = sink.of("connect_ok", reason="reconnect")
        assert oks and oks[0].mono > drops[0].mono
        rec = sink.of("recovery")
        assert rec and rec[0].mode == "store_hydrate" and rec[0].reconnect_ms > 0
        completed = [e.turn for e in sink.of("turn_end", outcome="completed")]
        assert len(completed) == len(set(completed)) == 4
    assert any(d.detected == "reset" for s in sinks for d in s.of("disconnect")), "no RST was seen as a reset"
