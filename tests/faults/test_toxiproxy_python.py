"""Conformance through toxiproxy-python 0.1.1, the library's own calls and quirks (spec §10)."""

from __future__ import annotations

import json

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.timing import MS

from .conftest import connect, roundtrip

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def tp(server, api):
    host, port = server.url.removeprefix("http://").split(":")
    t = Toxiproxy()
    t.update_api_consumer(host, int(port))
    yield t
    t.update_api_consumer("127.0.0.1", 8474)


def test_library_round_trip(tp, echo):
    assert tp.running()
    assert json.loads(tp.version()) == {"version": "2.12.0"}
    proxy = tp.create(upstream=echo, name="lib")
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(tp.proxies()) == {"lib"}
    assert tp.get_proxy("lib").upstream == echo
    with pytest.raises(ProxyExists):
        tp.create(upstream=echo, name="lib")

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic.attributes == {"latency": 100, "jitter": 0} and toxic.toxicity == 1
    with connect({"listen": proxy.listen}) as s:
        assert roundtrip(s, b"x") >= 0.095
    with pytest.raises(ProxyExists):  # a duplicate toxic is 409 -> ProxyExists in this library
        proxy.add_toxic(type="latency", attributes={"latency": 100})
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nope")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="slicer")  # would crash real Toxiproxy; ours says 400
    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")

    with proxy.down():
        with pytest.raises(ConnectionRefusedError):
            connect({"listen": proxy.listen})
    with connect({"listen": proxy.listen}) as s:  # same port after enable
        assert roundtrip(s, b"y") < 500 * MS

    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    assert tp.reset()
    assert proxy.toxics() == {}
    assert proxy.destroy()
    assert tp.proxies() == {}


def test_library_populate_and_destroy_all(tp, echo):
    made = tp.populate([{"name": "a", "upstream": echo, "listen": "127.0.0.1:0"},
                        {"name": "b", "upstream": echo, "listen": "127.0.0.1:0", "enabled": False}])
    assert [p.name for p in made] == ["a", "b"]
    assert tp.get_proxy("b").enabled is False
    tp.destroy_all()
    assert tp.proxies() == {}
