"""Connections that name their client (``X-Agentsoak-Conn``): the server records them, aims faults at
given agents, reports the clients hit, and draws stall/refuse chances per client (docs/admin-api.md)."""

from __future__ import annotations

import time

import pytest
import websocket

from loadtests.server.fault_modes import FaultState

from .conftest import connect, recv_close, run_turn

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 11}


def _named(server, client: str):
    return connect(server, headers=[f"X-Agentsoak-Conn: {client}"])


def _closed(ws) -> bool:
    ws.settimeout(0.5)
    try:
        return recv_close(ws) == 1012
    except websocket.WebSocketTimeoutException:
        return False


def test_close_aimed_at_agents_hits_only_their_connections_and_names_them(reference_server):
    server = reference_server(**FAST)
    socks = {c: _named(server, c) for c in ("agent-0001/c1", "agent-0002/c1", "agent-0003/c4")}
    plain = connect(server)  # names no client: never picked by an aimed fault, never named in a reply
    for ws in [*socks.values(), plain]:
        run_turn(ws)
    status, reply = server.admin("POST", "/admin/close", {"code": 1012, "agents": ["agent-0003", "agent-0001"]})
    assert status == 200 and reply["affected"] == 2
    assert sorted(reply["clients"]) == ["agent-0001/c1", "agent-0003/c4"]
    assert [_closed(socks[c]) for c in sorted(socks)] == [True, False, True]
    assert not _closed(plain)
    status, reply = server.admin("POST", "/admin/evict", {"agents": ["agent-0009"]})
    assert (status, reply) == (200, {"affected": 0, "clients": []})  # nobody of theirs is connected
    status, reply = server.admin("POST", "/admin/close", {"code": 1012, "agents": "agent-0002"})
    assert status == 400 and "agents" in reply["error"]


def test_wrong_state_aimed_at_an_agent_picks_its_live_connection(reference_server):
    server = reference_server(**FAST)
    mine, other = _named(server, "agent-0005/c2"), _named(server, "agent-0006/c1")
    first = run_turn(mine)[-1]
    run_turn(other)
    status, reply = server.admin("POST", "/admin/wrong_state", {"agents": ["agent-0005"], "turns": 1})
    assert status == 200 and reply["clients"] == ["agent-0005/c2"]
    assert reply["connections"] == [first["agentsoak"]["connection"]]


def test_the_server_log_names_each_connection_s_client(reference_server):
    server = reference_server(**FAST)
    ws = _named(server, "agent-0042/c7")
    run_turn(ws)
    ws.close()
    deadline = time.monotonic() + 5
    while "client=agent-0042/c7" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "client=agent-0042/c7" in server.log_text()


def test_stall_and_refuse_draws_of_a_named_client_do_not_depend_on_arrival_order():
    """A client's chance is keyed by (seed, client, response number): two servers that see clients in
    different orders, with others in between, draw the same for each; unnamed ones use the shared RNG."""
    a, b = FaultState(7), FaultState(7)
    for state in (a, b):
        state.refuse = type("R", (), {"share": 0.5})()  # only .share is read by the draw
    clients = [f"agent-{i:04d}/c1" for i in range(1, 41)]
    first = {c: a.draw_refuse(c) is not None for c in clients}
    for _ in clients:
        b.draw_refuse(None)  # someone unnamed in between
    second = {c: b.draw_refuse(c) is not None for c in clients[::-1]}
    assert first == second and 5 < sum(first.values()) < 35
    assert [a._uniform("stall", "agent-0001/c1", n) for n in (1, 2)] == \
        [b._uniform("stall", "agent-0001/c1", n) for n in (1, 2)]


@pytest.mark.parametrize("bad", [[1], [""], {"a": 1}])
def test_agents_must_be_a_list_of_ids(reference_server, bad):
    server = reference_server(**FAST)
    status, reply = server.admin("POST", "/admin/limit", {"agents": bad})
    assert status == 400 and reply["error"].startswith("agents:")
