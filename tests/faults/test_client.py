"""The fault client: backend selection, the calls the fault schedule needs, errors and timeouts."""

from __future__ import annotations

import socket
import time

import pytest

from faults.client import FaultClient
from faults.errors import RemoteTargetError, ToxiproxyError, Unavailable
from tests.timing import MS

from .conftest import connect, read_until_closed, roundtrip

pytestmark = pytest.mark.timeout(60)


def test_start_prefers_toxiproxy_url(server, monkeypatch):
    monkeypatch.setenv("TOXIPROXY_URL", server.url)
    with FaultClient.start() as client:
        assert (client.backend, client.url) == ("url", server.url)
        assert client.version() == "2.12.0"


def test_start_refuses_remote_url(monkeypatch):
    monkeypatch.setenv("TOXIPROXY_URL", "http://10.1.2.3:8474")
    with pytest.raises(RemoteTargetError, match="allow_remote"):
        FaultClient.start()


def test_start_embedded_process_when_nothing_else(monkeypatch, echo, tmp_path):
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no toxiproxy-server binary
    client = FaultClient.start(seed=3, log_path=str(tmp_path / "proxy.log"))
    try:
        assert client.backend == "embedded"
        assert client.version() == "2.12.0"
        p = client.create_proxy("e", echo)
        with connect(p) as s:
            assert roundtrip(s, b"hello") < 500 * MS
    finally:
        client.close()
    with pytest.raises(Unavailable):
        client.version()


def test_start_uses_a_binary_on_path(monkeypatch, tmp_path):
    """A ``toxiproxy-server`` on PATH is preferred; a stand-in script proves the flags it gets."""
    import sys

    fake = tmp_path / "toxiproxy-server"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.argv[1:] = ['--host', sys.argv[2], '--port', sys.argv[4]]\n"
                    "import runpy; runpy.run_module('faults', run_name='__main__')\n")
    fake.chmod(0o755)
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with FaultClient.start() as client:
        assert client.backend == "binary"
        assert client.version() == "2.12.0"


def test_errors_are_toxiproxy_errors(api, echo):
    api.create_proxy("c", echo)
    with pytest.raises(ToxiproxyError) as e409:
        api.create_proxy("c", echo)
    assert (e409.value.status, e409.value.message) == (409, "proxy already exists")
    with pytest.raises(ToxiproxyError) as e404:
        api.get_proxy("missing")
    assert e404.value.status == 404
    with pytest.raises(ToxiproxyError) as e400:
        api.add_toxic("c", "bandwidth", attributes={"rate": 0})
    assert (e400.value.status, e400.value.message) == (400, "bandwidth: rate must be > 0")
    taken = api.get_proxy("c")["listen"]
    with pytest.raises(ToxiproxyError) as e500:  # toxiproxy-python lets 500s through; we do not
        api.create_proxy("d", echo, listen=taken)
    assert e500.value.status == 500 and "address already in use" in e500.value.message
    with pytest.raises(RemoteTargetError):
        api.create_proxy("far", "192.0.2.1:80")


def test_timeouts_on_every_call():
    """A server that accepts but never answers: the call fails within the timeout."""
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        client = FaultClient(f"http://127.0.0.1:{black_hole.getsockname()[1]}", timeout=0.3)
        calls = [client.version, client.proxies, lambda: client.get_proxy("p"),
                 lambda: client.create_proxy("p", "127.0.0.1:9"), lambda: client.add_toxic("p", "latency"),
                 lambda: client.remove_toxic("p", "t"), client.reset]
        for call in calls:
            t0 = time.monotonic()
            with pytest.raises(Unavailable):
                call()
            assert time.monotonic() - t0 < 0.3 + 1000 * MS


def test_schedule_calls(api, echo):
    p = api.create_proxy("s", echo)
    t = api.add_toxic("s", "latency", name="slow", attributes={"latency": 50})
    assert t["name"] == "slow"
    t = api.update_toxic("s", "slow", attributes={"jitter": 10}, toxicity=0.5)
    assert t["attributes"] == {"latency": 50, "jitter": 10} and t["toxicity"] == 0.5
    assert [x["name"] for x in api.toxics("s")] == ["slow"]
    api.remove_toxic("s", "slow")
    assert api.get_proxy("s")["toxics"] == []
    live = connect(p)
    t0 = time.monotonic()
    api.down("s", 0.3)
    assert time.monotonic() - t0 >= 0.3
    assert read_until_closed(live) == (b"", "eof")
    with api.disabled("s"):
        assert api.get_proxy("s")["enabled"] is False
    assert api.get_proxy("s")["enabled"] is True
    timer = api.down_for("s", 30)
    timer.cancel()
    assert api.get_proxy("s")["enabled"] is True
    api.add_toxic("s", "noop")
    api.set_enabled("s", False)
    api.reset()
    assert api.get_proxy("s")["enabled"] is True and api.get_proxy("s")["toxics"] == []
