"""``load.source_addresses``: agents connect from 127.0.0.1..127.0.0.N, and the server sees those peers."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading

import pytest

from loadtests.agent import Agent, ReconnectPolicy, TransportConfig
from loadtests.http_client import HttpClient
from loadtests.profile import ProfileError, parse_profile
from loadtests.protocol import Conversation
from loadtests.sink import MemorySink
from loadtests.source_address import MAX_SOURCE_ADDRESSES, connect_from, source_for
from tests.timing import MS, wait_until

FAST = ReconnectPolicy(max_retries=8, base_delay=0.05, max_delay=0.5)


def test_agents_take_the_addresses_in_turn_and_one_address_is_the_kernels_choice():
    assert [source_for(i, 3) for i in range(1, 8)] == [
        "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]
    assert source_for(5, 1) is None
    assert source_for(254, MAX_SOURCE_ADDRESSES) == "127.0.0.254"
    for bad in (0, MAX_SOURCE_ADDRESSES + 1):
        with pytest.raises(ValueError, match="source addresses"):
            source_for(1, bad)


def test_a_socket_from_a_source_address_reaches_127_0_0_1_from_it():
    with __import__("socket").create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with connect_from("127.0.0.3", "127.0.0.1", port, 5.0) as client:
            peer, _ = listener.accept()
            with peer:
                assert peer.getpeername()[0] == "127.0.0.3" == client.getsockname()[0]


def test_the_profile_setting_reads_validates_and_round_trips():
    p = parse_profile("load: {users: 10, source_addresses: 4}\n")
    assert p.load.source_addresses == 4
    again = parse_profile(__import__("yaml").safe_dump(p.to_dict()))
    assert again.load == p.load
    assert parse_profile("").load.source_addresses == 1
    assert "source_addresses" not in parse_profile("").to_dict()["load"]
    for text, message in [
        ("load: {source_addresses: 0}", "load.source_addresses: 0 is out of range"),
        ("load: {source_addresses: 255}", "load.source_addresses: 255 is out of range"),
        ("load: {source_addresses: two}", "load.source_addresses"),
    ]:
        with pytest.raises(ProfileError) as err:
            parse_profile(text)
        assert message in str(err.value), str(err.value)


def test_more_than_one_source_address_needs_a_loopback_target():
    remote = "target: {kind: external, url: 'ws://10.1.2.3:8080/v1/responses'}\nproxy: {kind: none}\n"
    with pytest.raises(ProfileError) as err:
        parse_profile(remote + "load: {source_addresses: 2}\n", allow_remote=True)
    assert "load.source_addresses" in str(err.value) and "10.1.2.3" in str(err.value)
    assert parse_profile(remote + "load: {source_addresses: 1}\n", allow_remote=True).load.source_addresses == 1
    local = "target: {kind: external, url: 'ws://127.0.0.1:8080/v1/responses'}\nproxy: {kind: none}\n"
    assert parse_profile(local + "load: {source_addresses: 2}\n").load.source_addresses == 2


def test_websocket_agents_connect_from_their_addresses(reference_server):
    server = reference_server(seed=3, tokens_per_s=4000)
    sink = MemorySink()
    agents = []
    for index in range(1, 5):
        config = TransportConfig(url=server.url, reconnect=FAST, source_address=source_for(index, 3))
        agent = Agent(f"agent-{index:04d}", config, sink, index=index, conversation_factory=Conversation)
        agents.append(agent)
    try:
        for agent in agents:
            assert agent.start(wait=10), f"{agent.id} did not connect"
            item = {"type": "message", "role": "user", "content": "hello"}
            assert agent.run_turn([item], turn_id=f"{agent.id}/s1/t0", session=1, index=0).ok
    finally:
        for agent in agents:
            agent.stop()

    def peers() -> dict[str, str] | None:
        found = re.findall(r"open peer=(\S+) client=(agent-\d+)/c\d+", server.log_text())
        by_agent = {agent: peer for peer, agent in found}
        return by_agent if len(by_agent) == 4 else None

    by_agent = wait_until(peers, 5 + 2000 * MS, message="the server logged all four connections")
    assert by_agent == {"agent-0001": "127.0.0.1", "agent-0002": "127.0.0.2", "agent-0003": "127.0.0.3",
                        "agent-0004": "127.0.0.1"}


class _Peer(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(self.client_address[0])
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_http_agents_connect_from_their_address():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        client = HttpClient(f"http://127.0.0.1:{srv.server_address[1]}/v1/responses", headers={},
                            connect_timeout=5, idle_timeout=5, source_address="127.0.0.4")
        resp = client.post(b"{}")
        assert resp.status == 204
        client.reset()
    finally:
        srv.shutdown()
        srv.server_close()
    assert _Peer.seen == ["127.0.0.4"]


_PROBE = """
import json
from types import SimpleNamespace
from locust.env import Environment
from loadtests.profile import parse_profile
from loadtests.users import CodingAgentUser, configure_from_profile
configure_from_profile(CodingAgentUser, parse_profile("load: {users: 5, source_addresses: 2}"))
env = Environment(user_classes=[CodingAgentUser], parsed_options=SimpleNamespace(seed=1))
out = []
for _ in range(5):
    user = CodingAgentUser(env)
    user.claim_index()
    out.append([user.agent_id, user.transport_config().source_address])
print(json.dumps(out))
"""


def test_locust_users_take_their_source_address_from_the_profile():
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        ["agent-0001", "127.0.0.1"], ["agent-0002", "127.0.0.2"], ["agent-0003", "127.0.0.1"],
        ["agent-0004", "127.0.0.2"], ["agent-0005", "127.0.0.1"]]
