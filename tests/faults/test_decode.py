"""Body decoding as Go's encoding/json does it, plus a fuzz of every body-taking route."""

from __future__ import annotations

import json
import struct
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faults.decode import go_float32, parse_body
from faults.errors import ApiError

from .conftest import http

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "bad request body: EOF"),
    (b"   \n", "bad request body: EOF"),
    (b'{"name":', "bad request body: unexpected EOF"),
    (b"{x}", "bad request body: invalid character 'x' looking for beginning of object key string"),
    (b"NaN", "bad request body: invalid character 'N' looking for beginning of value"),
])
def test_syntax_errors(raw, message):
    with pytest.raises(ApiError) as err:
        parse_body(raw)
    assert (err.value.status, err.value.message) == (400, message)


def test_only_the_first_value_is_read():
    assert parse_body(b'{"a":1} {"b":2} garbage') == {"a": 1}


@pytest.mark.parametrize(("value", "shown"), [(1.0, 1), (0.5, 0.5), (0.1, 0.1), (0.3, 0.3), (0.0, 0)])
def test_float32_printed_like_go(value, shown):
    f32 = struct.unpack("f", struct.pack("f", value))[0]
    assert go_float32(f32) == shown


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "NAME", "listen", "upstream", "enabled", "type", "stream", "toxicity",
                         "attributes", "latency", "rate", "average_size", "x"]), inner, max_size=5),
    max_leaves=12,
)
bodies = json_values.map(json.dumps) | st.binary(max_size=40).map(lambda b: b.decode("latin-1"))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.sampled_from([
    ("POST", "/proxies"), ("POST", "/populate"), ("POST", "/proxies/fz"), ("POST", "/proxies/fz/toxics"),
    ("PATCH", "/proxies/fz/toxics/lat"),
]))
def test_fuzzed_bodies_get_a_reply_never_a_crash(server, body, route):
    """Every body gets a Toxiproxy-shaped answer: success, or {"error","status"} with a 4xx/5xx."""
    if "fz" not in {**server.collection.proxies}:
        http(server.url, "POST", "/proxies", '{"name":"fz","upstream":"127.0.0.1:9","enabled":false}')
        http(server.url, "POST", "/proxies/fz/toxics", '{"name":"lat","type":"latency"}')
    r = http(server.url, route[0], route[1], body)
    if r.status >= 400:
        assert r.status in (400, 404, 409, 500), r.body
        err = r.json()
        assert err["status"] == r.status and isinstance(err["error"], str) and err["error"]
        assert "Traceback" not in err["error"] and "Error:" not in err["error"], err
    else:
        assert r.status in (200, 201)
        json.loads(r.body)
    for name in list(server.collection.proxies):
        if name != "fz":
            # a fuzzed name may hold control characters: quote it as any HTTP client must
            gone = http(server.url, "DELETE", f"/proxies/{quote(name, safe='')}")
            assert gone.status == 204, (name, gone.status, gone.body)
    if route[1] == "/proxies/fz":  # keep fz disabled and pointing nowhere for the next example
        http(server.url, "POST", "/proxies/fz", '{"enabled":false,"upstream":"127.0.0.1:9"}')
    http(server.url, "POST", "/proxies/fz/toxics/lat", '{"attributes":{"latency":0,"jitter":0},"toxicity":1}')
