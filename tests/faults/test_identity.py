"""Connections that name their client (``X-Agentsoak-Conn``) draw by that name, not by accept order."""

from __future__ import annotations

import select
import socket
import time

import pytest

from faults.draws import ConnectionKey, toxic_hit
from faults.identity import agent_of, client_from_head, is_client_id

from .conftest import connect, recv_exactly

pytestmark = pytest.mark.timeout(60)

SEED = 1234  # the session server's (conftest.py)
LATENCY_MS = 800


def _head(client: str | None) -> bytes:
    lines = ["GET /v1/responses HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket"]
    if client is not None:
        lines.append(f"X-Agentsoak-Conn: {client}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_client_id_is_read_from_a_request_head():
    assert client_from_head(_head("agent-0007/c3")) == "agent-0007/c3"
    assert client_from_head(_head("agent-0007/c3").replace(b"X-Agentsoak-Conn", b"x-agentsoak-conn")) == \
        "agent-0007/c3"  # header names are case-insensitive; the value is kept as sent
    assert client_from_head(_head(None)) is None
    assert client_from_head(_head("agent-0007/c3")[:40]) is None  # no end of head yet: not read
    assert client_from_head(_head("not an id")) is None
    assert client_from_head(b"\x16\x03\x01 binary") is None
    body = b"GET / HTTP/1.1\r\n\r\nX-Agentsoak-Conn: agent-0001/c1\r\n\r\n"
    assert client_from_head(body) is None  # only the head counts
    assert is_client_id("agent-0001/c12") and not is_client_id("agent-0001") and not is_client_id(7)
    assert agent_of("agent-0012/c4") == "agent-0012"


def test_a_named_connection_draws_by_its_name_whatever_its_ordinal():
    a, b = ConnectionKey(9, "p", 0, "agent-0001/c1"), ConnectionKey(9, "p", 55, "agent-0001/c1")
    assert a.draw("downstream", "t") == b.draw("downstream", "t")
    assert a.rng("upstream").random() == b.rng("upstream").random()
    assert a.draw("downstream", "t") != ConnectionKey(9, "p", 0).draw("downstream", "t")
    assert a.draw("downstream", "t") != ConnectionKey(9, "p", 0, "agent-0001/c2").draw("downstream", "t")
    hits = [toxic_hit(9, "p", f"agent-{i:04d}/c1", "downstream", "t", 0.3) for i in range(1, 2001)]
    assert 0.25 < sum(hits) / len(hits) < 0.35
    assert toxic_hit(9, "p", "agent-0001/c1", "downstream", "t", 1.0)
    assert not toxic_hit(9, "p", "agent-0001/c1", "downstream", "t", 0.0)


def _slowed(socks: list[socket.socket], heads: list[bytes]) -> tuple[bool, ...]:
    """Send each socket its head (the echo comes back through a toxicity-0.5 latency) and tell
    which came back late: those the latency is on."""
    for s, head in zip(socks, heads, strict=True):
        s.sendall(head)
    time.sleep(LATENCY_MS / 2000)
    ready, _, _ = select.select(socks, [], [], 0)
    out = tuple(s not in ready for s in socks)
    for s, head in zip(socks, heads, strict=True):
        s.settimeout(5)
        recv_exactly(s, len(head))
    return out


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_the_proxy_keys_a_named_connection_by_its_client(api, echo, order):
    """Which named connections a toxic is on follows ``toxic_hit`` for their client ids, in whatever
    order they connect; toxics already there when they connect are drawn again once they name
    themselves."""
    clients = [f"agent-{i:04d}/c1" for i in range(1, 13)]
    if order == "reverse":
        clients.reverse()
    p = api.create_proxy("named", echo)
    api.add_toxic("named", "latency", name="slow", toxicity=0.5, attributes={"latency": LATENCY_MS})
    socks = [connect(p) for _ in clients]
    try:
        slowed = _slowed(socks, [_head(c) for c in clients])
    finally:
        for s in socks:
            s.close()
        api.delete_proxy("named")
    expected = tuple(toxic_hit(SEED, "named", c, "downstream", "slow", 0.5) for c in clients)
    assert slowed == expected
    assert 0 < sum(expected) < len(expected)  # mixed, so the test tells draws apart
