"""API conformance over raw HTTP: every route, status code, body and header of spec §1-4."""

from __future__ import annotations

import json
import re
import socket

import pytest

from .conftest import connect, http, port_of

pytestmark = pytest.mark.timeout(60)


def new(url: str, name: str = "p1", upstream: str = "127.0.0.1:9", **extra: object):
    return http(url, "POST", "/proxies", json.dumps({"name": name, "upstream": upstream, **extra}))


def assert_error(reply, status: int, message: str, **extra: object) -> None:
    assert reply.status == status
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.body.endswith(b"\n")
    assert reply.json() == {"error": message, "status": status, **extra}
    assert re.fullmatch(r"[0-9a-v]{20}", reply.headers["x-toxiproxy-request-id"])


def test_version_framing(server, api):
    r = http(server.url, "GET", "/version")
    assert r.status == 200
    assert r.body == b'{"version": "2.12.0"}\n'
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    assert re.fullmatch(r"[0-9a-v]{20}", r.headers["x-toxiproxy-request-id"])


def test_create_get_list_delete_proxy(server, api):
    r = new(server.url, listen="127.0.0.1:0")
    assert r.status == 201 and r.headers["content-type"] == "application/json"
    assert not r.body.endswith(b"\n")
    p = r.json()
    assert list(p) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert p["enabled"] is True and p["Logger"] == {} and p["toxics"] == []
    assert re.fullmatch(r"127\.0\.0\.1:\d+", p["listen"]) and port_of(p) != 0
    assert http(server.url, "GET", "/proxies/p1").json() == p
    assert http(server.url, "GET", "/proxies").json() == {"p1": p}
    r = http(server.url, "DELETE", "/proxies/p1")
    assert r.status == 204 and r.body == b"" and "content-type" not in r.headers
    assert "x-toxiproxy-request-id" in r.headers
    assert http(server.url, "GET", "/proxies").json() == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port_of(p)), timeout=2)


def test_create_errors(server, api):
    assert_error(new(server.url, name=""), 400, "missing required field: name")
    assert_error(http(server.url, "POST", "/proxies", '{"name":"x"}'), 400, "missing required field: upstream")
    assert_error(http(server.url, "POST", "/proxies", ""), 400, "bad request body: EOF")
    assert_error(http(server.url, "POST", "/proxies", "null"), 400, "missing required field: name")
    assert_error(http(server.url, "POST", "/proxies", '{"name":1,"upstream":"a:1"}'), 400,
                 "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string")
    assert new(server.url).status == 201
    assert_error(new(server.url), 409, "proxy already exists")
    taken = port_of(api.get_proxy("p1"))
    r = new(server.url, name="p2", listen=f"127.0.0.1:{taken}")
    assert_error(r, 500, f"listen tcp 127.0.0.1:{taken}: bind: address already in use")
    assert "p2" not in http(server.url, "GET", "/proxies").json()


def test_keys_case_insensitive_unknown_ignored_localhost_resolved(server, api):
    r = http(server.url, "POST", "/proxies",
             '{"Name":"p1","UPSTREAM":"127.0.0.1:9","listen":"localhost:0","bogus":1} trailing')
    assert r.status == 201
    assert r.json()["listen"].startswith("127.0.0.1:")


def test_disabled_proxy_keeps_literal_listen_then_keeps_port(server, api):
    p = new(server.url, enabled=False).json()
    assert p["listen"] == "127.0.0.1:0" and p["enabled"] is False
    p = http(server.url, "PATCH", "/proxies/p1", '{"enabled":true}').json()
    port = port_of(p)
    assert port != 0
    assert http(server.url, "POST", "/proxies/p1", '{"enabled":false}').json()["listen"] == p["listen"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert http(server.url, "POST", "/proxies/p1", '{"enabled":true}').json()["listen"] == p["listen"]


def test_update_partial_and_errors(server, api, echo):
    new(server.url, upstream=echo)
    r = http(server.url, "POST", "/proxies/p1", '{"upstream":"127.0.0.1:7","name":"renamed"}')
    assert r.status == 200
    p = r.json()
    assert p["name"] == "p1" and p["upstream"] == "127.0.0.1:7" and p["enabled"] is True
    assert_error(http(server.url, "POST", "/proxies/nope", '{"enabled":true}'), 404, "proxy not found")
    assert_error(http(server.url, "PATCH", "/proxies/p1", '{"enabled":"yes"}'), 400,
                 "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool")
    assert_error(http(server.url, "DELETE", "/proxies/nope"), 404, "proxy not found")
    assert_error(http(server.url, "GET", "/proxies/nope"), 404, "proxy not found")


def test_update_address_drops_connections(server, api, echo):
    p = new(server.url, upstream=echo).json()
    s = connect(p)
    s.sendall(b"hi")
    assert s.recv(2) == b"hi"
    http(server.url, "POST", "/proxies/p1", json.dumps({"upstream": echo.replace("127.0.0.1", "localhost")}))
    s.settimeout(3)
    assert s.recv(10) == b""


def test_unknown_path_and_wrong_method(server, api):
    for path in ("/nope", "/proxies/", "/version/"):
        r = http(server.url, "GET", path)
        assert (r.status, r.body) == (404, b"404 page not found\n")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert "x-toxiproxy-request-id" not in r.headers
    r = http(server.url, "PUT", "/proxies")
    assert (r.status, r.body) == (405, b"")
    assert "x-toxiproxy-request-id" not in r.headers


def test_browsers_refused(server, api):
    r = http(server.url, "GET", "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (r.status, r.body) == (403, b"User agent not allowed\n")
    assert "x-toxiproxy-request-id" in r.headers


def test_toxic_routes(server, api):
    new(server.url)
    r = http(server.url, "POST", "/proxies/p1/toxics", '{"type":"latency","attributes":{"latency":100}}')
    assert r.status == 200  # not 201
    assert r.body == (b'{"attributes":{"latency":100,"jitter":0},"name":"latency_downstream",'
                      b'"type":"latency","stream":"downstream","toxicity":1}')
    r = http(server.url, "POST", "/proxies/p1/toxics", '{"type":"latency","stream":"UPSTREAM","toxicity":0.5}')
    t = r.json()
    assert (t["name"], t["stream"], t["toxicity"], t["attributes"]) == (
        "latency_UPSTREAM", "UPSTREAM", 0.5, {"latency": 0, "jitter": 0})
    r = http(server.url, "POST", "/proxies/p1/toxics", '{"type":"noop","name":"n"}')
    assert r.json()["attributes"] == {}
    names = [t["name"] for t in http(server.url, "GET", "/proxies/p1/toxics").json()]
    assert names == ["latency_UPSTREAM", "latency_downstream", "n"]  # upstream first, then insertion order
    assert [t["name"] for t in http(server.url, "GET", "/proxies/p1").json()["toxics"]] == names
    r = http(server.url, "PATCH", "/proxies/p1/toxics/latency_downstream",
             '{"attributes":{"jitter":5},"name":"x","type":"noop","stream":"upstream"}')
    assert r.status == 200
    assert r.json() == {"attributes": {"latency": 100, "jitter": 5}, "name": "latency_downstream",
                        "type": "latency", "stream": "downstream", "toxicity": 1}
    r = http(server.url, "POST", "/proxies/p1/toxics/latency_downstream", '{"toxicity":0.25}')
    assert r.json()["toxicity"] == 0.25 and r.json()["attributes"]["jitter"] == 5
    assert http(server.url, "GET", "/proxies/p1/toxics/n").json()["type"] == "noop"
    r = http(server.url, "DELETE", "/proxies/p1/toxics/n")
    assert (r.status, r.body) == (204, b"")
    assert_error(http(server.url, "GET", "/proxies/p1/toxics/n"), 404, "toxic not found")


def test_toxic_errors(server, api):
    assert_error(http(server.url, "GET", "/proxies/nope/toxics"), 404, "proxy not found")
    assert_error(http(server.url, "POST", "/proxies/nope/toxics", '{"type":"noop"}'), 404, "proxy not found")
    assert_error(http(server.url, "GET", "/proxies/nope/toxics/t"), 404, "proxy not found")
    assert_error(http(server.url, "DELETE", "/proxies/nope/toxics/t"), 404, "proxy not found")
    new(server.url)
    post = lambda body: http(server.url, "POST", "/proxies/p1/toxics", body)  # noqa: E731
    assert_error(post('{"type":"latency","stream":"sideways"}'), 400,
                 "stream was invalid, can be either upstream or downstream")
    assert_error(post('{"type":"latency","stream":""}'), 400,
                 "stream was invalid, can be either upstream or downstream")
    assert_error(post('{"type":"nope"}'), 400, "invalid toxic type")
    assert_error(post('{}'), 400, "invalid toxic type")
    assert_error(post(""), 400, "bad request body: EOF")
    assert_error(post('{"type":"latency","attributes":{"latency":1.5}}'), 400,
                 "bad request body: json: cannot unmarshal number 1.5 into Go struct field "
                 "LatencyToxic.attributes.latency of type int64")
    assert_error(post('{"type":"latency","attributes":[1]}'), 400,
                 "bad request body: json: cannot unmarshal array into Go struct field "
                 "LatencyToxic.attributes of type toxics.LatencyToxic")
    assert post('{"type":"latency","attributes":{"latency":100.0}}').status == 200  # ours: integral floats
    assert_error(post('{"type":"latency"}'), 409, "toxic already exists")
    assert_error(post('{"type":"noop","name":"latency_downstream","stream":"upstream"}'), 409,
                 "toxic already exists")  # names are unique across directions
    assert post('{"type":"latency","stream":"upstream"}').status == 200
    assert_error(http(server.url, "DELETE", "/proxies/p1/toxics/zz"), 404, "toxic not found")
    assert_error(http(server.url, "PATCH", "/proxies/p1/toxics/zz", "{}"), 404, "toxic not found")


@pytest.mark.parametrize(("body", "message"), [
    ('{"type":"slicer"}', "slicer: average_size must be > 0"),
    ('{"type":"slicer","attributes":{"average_size":10,"size_variation":20}}',
     "slicer: size_variation must be >= 0 and < average_size"),
    ('{"type":"bandwidth"}', "bandwidth: rate must be > 0"),
    ('{"type":"bandwidth","attributes":{"rate":-5}}', "bandwidth: rate must be > 0"),
    ('{"type":"latency","attributes":{"latency":-1}}', "latency: latency must be >= 0"),
    ('{"type":"latency","attributes":{"jitter":-1}}', "latency: jitter must be >= 0"),
    ('{"type":"timeout","attributes":{"timeout":-1}}', "timeout: timeout must be >= 0"),
    ('{"type":"slow_close","attributes":{"delay":-1}}', "slow_close: delay must be >= 0"),
    ('{"type":"limit_data","attributes":{"bytes":-1}}', "limit_data: bytes must be >= 0"),
    ('{"type":"noop","toxicity":2.5}', "toxicity must be between 0 and 1"),
    ('{"type":"noop","toxicity":-0.1}', "toxicity must be between 0 and 1"),
])
def test_inputs_that_break_real_toxiproxy_get_400(server, api, body, message):
    new(server.url)
    assert_error(http(server.url, "POST", "/proxies/p1/toxics", body), 400, message)
    http(server.url, "POST", "/proxies/p1/toxics", '{"type":"slicer","attributes":{"average_size":10}}')
    assert_error(http(server.url, "POST", "/proxies/p1/toxics/slicer_downstream",
                      '{"attributes":{"size_variation":10}}'), 400,
                 "slicer: size_variation must be >= 0 and < average_size")


def test_populate(server, api, echo):
    r = http(server.url, "POST", "/populate", "[]")
    assert (r.status, r.json()) == (201, {"proxies": []})  # ours: [] not null
    body = [{"name": "a", "upstream": echo}, {"name": "b", "upstream": echo, "enabled": False}]
    r = http(server.url, "POST", "/populate", json.dumps(body))
    assert r.status == 201
    a, b = r.json()["proxies"]
    assert a["enabled"] and not b["enabled"]
    http(server.url, "POST", "/proxies/a/toxics", '{"type":"noop"}')
    s = connect(a)
    # same config: untouched (toxics, connections, enabled state kept)
    body2 = [{"name": "a", "upstream": echo, "listen": a["listen"], "enabled": False}]
    r = http(server.url, "POST", "/populate", json.dumps(body2))
    assert r.json()["proxies"][0]["toxics"] and r.json()["proxies"][0]["enabled"]
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    # different config: replaced without toxics, connections dropped
    r = http(server.url, "POST", "/populate", json.dumps([{"name": "a", "upstream": "127.0.0.1:9"}]))
    assert r.json()["proxies"][0]["toxics"] == []
    s.settimeout(3)
    assert s.recv(1) == b""
    assert sorted(http(server.url, "GET", "/proxies").json()) == ["a", "b"]  # never deletes


def test_populate_errors(server, api):
    assert_error(http(server.url, "POST", "/populate", '[{"name":"a","upstream":"x:1"},{"upstream":"x:1"}]'),
                 400, "missing required field: name at proxy 2", proxies=[])
    assert http(server.url, "GET", "/proxies").json() == {}  # validation first: nothing created
    assert_error(http(server.url, "POST", "/populate", '{"name":"a"}'), 400,
                 "bad request body: json: cannot unmarshal object into Go value of type []toxiproxy.Proxy",
                 proxies=[])
    r = http(server.url, "POST", "/populate",
             '[{"name":"a","upstream":"x:1"},{"name":"b","upstream":"x:1","listen":"999.1.1.1:1"}]')
    assert r.status == 500
    assert [p["name"] for p in r.json()["proxies"]] == ["a"]


def test_reset_reenables_and_removes_toxics_keeping_connections(server, api, echo):
    p = new(server.url, upstream=echo).json()
    http(server.url, "POST", "/proxies/p1/toxics", '{"type":"latency","attributes":{"latency":1}}')
    s = connect(p)
    s.sendall(b"a")
    assert s.recv(1) == b"a"
    new(server.url, name="p2", enabled=False)
    r = http(server.url, "POST", "/reset", "")
    assert (r.status, r.body) == (204, b"")
    proxies = http(server.url, "GET", "/proxies").json()
    assert proxies["p1"]["toxics"] == [] and proxies["p2"]["enabled"] is True
    s.sendall(b"b")
    assert s.recv(1) == b"b"


@pytest.mark.parametrize("body", ['{"not": "a list"}', "[{}]", "not json", '[{"name": "x", "upstream": 5}]'])
def test_a_failed_populate_carries_the_proxies_made_so_far(server, api, body):
    """Toxiproxy 2.12.0: every populate error body has "proxies": [...] ([] when none was made)."""
    r = http(server.url, "POST", "/populate", body)
    assert r.status == 400 and r.json()["proxies"] == [], r.text
