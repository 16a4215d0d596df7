"""The admin API client: loopback-only, request bodies per docs/admin-api.md, one error type.

These cover the pure parts (URL policy, request building, reply decoding) and a real refused TCP
connection; calls against the live reference server belong to the integration tests.
"""

from __future__ import annotations

import socket

import pytest

from faults.loopback import is_loopback
from faults.server_admin import (
    AdminRequest,
    ServerAdmin,
    ServerAdminError,
    close_request,
    parse_reply,
    refuse_request,
    stall_request,
)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.9.9.9:1/", "http://[::1]:8080", "http://localhost:9"]
)
def test_loopback_base_urls_are_accepted(url):
    assert ServerAdmin(url).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "http://example.com",
        "http://0.0.0.0:80",
        "https://127.0.0.1:1",
        "127.0.0.1:80",
        "",
    ],
)
def test_other_base_urls_are_refused(url):
    with pytest.raises(ServerAdminError) as info:
        ServerAdmin(url)
    assert info.value.status is None


def test_is_loopback_makes_no_dns_lookup():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("LOCALHOST")
    assert not is_loopback("localhost.example.com")
    assert not is_loopback(None)


def test_close_request_body():
    assert close_request(1006, 0.5) == AdminRequest("POST", "/admin/close", {"code": 1006, "share": 0.5})


@pytest.mark.parametrize("code", [1002, 1005, 4000, True, "1001"])
def test_close_rejects_codes_outside_the_api(code):
    with pytest.raises(ServerAdminError, match="close code"):
        close_request(code)


@pytest.mark.parametrize("share", [-0.1, 1.5, True, "1", float("nan")])
def test_share_must_be_a_fraction(share):
    with pytest.raises(ServerAdminError, match="share"):
        close_request(1001, share)


def test_stall_request_body_and_checks():
    assert stall_request("first_event", 3000) == AdminRequest(
        "POST", "/admin/stall", {"where": "first_event", "ms": 3000, "share": 1.0}
    )
    with pytest.raises(ServerAdminError, match="where"):
        stall_request("before_close", 10)
    with pytest.raises(ServerAdminError, match="ms"):
        stall_request("between_deltas", -1)
    with pytest.raises(ServerAdminError, match="ms"):
        stall_request("between_deltas", 2.5)


def test_refuse_request_body_and_checks():
    assert refuse_request(429, 5, 0.5).body == {"status": 429, "share": 0.5, "retry_after_s": 5}
    assert refuse_request(426).body == {"status": 426, "share": 1.0}
    with pytest.raises(ServerAdminError, match="status"):
        refuse_request(500)
    with pytest.raises(ServerAdminError, match="retry_after_s"):
        refuse_request(429, -1)


def test_parse_reply_returns_the_json_object():
    assert parse_reply(200, b'{"affected": 4}') == {"affected": 4}
    assert parse_reply(200, b"{}") == {}


def test_error_reply_names_the_field_and_keeps_the_status():
    with pytest.raises(ServerAdminError) as info:
        parse_reply(400, b'{"error": "share must be between 0 and 1"}')
    assert info.value.status == 400
    assert info.value.message == "share must be between 0 and 1"
    assert str(info.value) == "400: share must be between 0 and 1"


def test_non_json_replies_become_errors():
    with pytest.raises(ServerAdminError) as info:
        parse_reply(404, b"404: Not Found")
    assert info.value.status == 404 and "Not Found" in info.value.message
    with pytest.raises(ServerAdminError, match="not a JSON object"):
        parse_reply(200, b"[1, 2]")
    with pytest.raises(ServerAdminError) as info:
        parse_reply(403, b"")
    assert info.value.status == 403


def test_a_refused_connection_is_a_server_admin_error():
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    admin = ServerAdmin(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ServerAdminError) as info:
        admin.stats()
    assert info.value.status is None
    assert "GET /admin/stats failed" in str(info.value)
