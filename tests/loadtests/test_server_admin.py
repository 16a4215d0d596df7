"""Reference server admin API (docs/admin-api.md): protocol faults seen by a real client."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
import urllib.error
import urllib.request

import pytest
import websocket

from faults.loopback import is_loopback

from .conftest import connect, recv_close, recv_event, run_turn, send_create

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 11}


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013, 1000, 1008])
def test_close_sends_a_close_frame_with_the_code(reference_server, code):
    server = reference_server(**FAST)
    ws = connect(server)
    run_turn(ws)
    assert server.admin("POST", "/admin/close", {"code": code}) == (200, {"affected": 1, "clients": []})
    assert recv_close(ws) == code


def test_close_1006_drops_the_connection_without_a_close_frame(reference_server):
    server = reference_server(tokens_per_s=200, ttft_base_ms=1)
    ws = connect(server)
    send_create(ws, metadata={"agentsoak_output_tokens": 1000})  # mid-stream
    assert recv_event(ws)["type"] == "response.created"
    assert server.admin("POST", "/admin/close", {"code": 1006})[1] == {"affected": 1, "clients": []}
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        for _ in range(10_000):
            opcode, frame = ws.recv_data_frame(True)
            assert opcode != websocket.ABNF.OPCODE_CLOSE, "got a Close frame"
    assert server.admin("GET", "/admin/stats")[1]["connections"] == 0


def test_close_share_is_seeded_and_rounded(reference_server):
    """share 0.5 of 4 live connections closes 2; the same seed picks the same ones."""
    picks = []
    for _ in range(2):
        server = reference_server(**FAST)
        sockets = [connect(server) for _ in range(4)]
        for ws in sockets:
            run_turn(ws)
        assert server.admin("POST", "/admin/close", {"code": 1012, "share": 0.5})[1] == {"affected": 2, "clients": []}
        closed = []
        for i, ws in enumerate(sockets):
            ws.settimeout(0.5)
            try:
                if recv_close(ws) == 1012:
                    closed.append(i)
            except websocket.WebSocketTimeoutException:
                pass
        picks.append(closed)
        for ws in sockets:
            ws.close()
    assert len(picks[0]) == 2 and picks[0] == picks[1]


def test_limit_sends_the_exact_error_now_then_close_1001(reference_server):
    server = reference_server(**FAST, limit_close_delay_s=0.2)
    ws = connect(server)
    run_turn(ws)
    assert server.admin("POST", "/admin/limit", {"share": 1.0})[1] == {"affected": 1, "clients": []}
    err = recv_event(ws)
    assert err["error"]["code"] == "websocket_connection_limit_reached" and err["status"] == 400
    assert err["error"]["message"].startswith("Responses websocket connection limit reached (60 minutes).")
    assert recv_close(ws) == 1001


def test_evict_empties_the_connection_cache(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    rid = run_turn(ws, store=False)[-1]["response"]["id"]
    assert server.admin("POST", "/admin/evict", {})[1] == {"affected": 1, "clients": []}
    err = run_turn(ws, previous_response_id=rid, store=False)[-1]
    assert err["error"]["code"] == "previous_response_not_found"
    ws.close()


def test_evict_then_stored_response_hydrates_and_wipe_store_drops_it(reference_server):
    server = reference_server(**FAST, hydrate_delay_ms=1)
    ws = connect(server)
    rid = run_turn(ws, store=True)[-1]["response"]["id"]
    server.admin("POST", "/admin/evict", {})
    follow = run_turn(ws, previous_response_id=rid)[-1]
    assert follow["agentsoak"]["cache"] == "store"
    server.admin("POST", "/admin/evict", {})
    assert server.admin("POST", "/admin/wipe_store", {})[1] == {"affected": 2}
    err = run_turn(ws, previous_response_id=follow["response"]["id"])[-1]
    assert err["error"]["code"] == "previous_response_not_found"
    ws.close()


def test_stall_first_event_delays_response_created(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    assert server.admin("POST", "/admin/stall", {"where": "first_event", "ms": 600})[1] == {"active": True}
    start = time.monotonic()
    send_create(ws)
    assert recv_event(ws)["type"] == "response.created"
    assert time.monotonic() - start >= 0.6
    while recv_event(ws)["type"] != "response.completed":
        pass
    assert server.admin("GET", "/admin/stats")[1]["faults"]["stall"]["ms"] == 600
    assert server.admin("DELETE", "/admin/stall")[1] == {"active": False}
    start = time.monotonic()
    run_turn(ws)
    assert time.monotonic() - start < 0.45
    ws.close()


def test_stall_between_deltas_opens_a_gap_after_the_first_delta(reference_server):
    server = reference_server(**FAST)
    ws = connect(server)
    server.admin("POST", "/admin/stall", {"where": "between_deltas", "ms": 300, "share": 1.0})
    send_create(ws, metadata={"agentsoak_output_tokens": 5})
    stamps = []
    while True:
        event = recv_event(ws)
        if event["type"] == "response.output_text.delta":
            stamps.append(time.monotonic())
        if event["type"] == "response.completed":
            break
    assert len(stamps) == 5 and stamps[1] - stamps[0] >= 0.28
    ws.close()


def test_refuse_answers_upgrades_with_the_status_and_retry_after(reference_server):
    server = reference_server(**FAST)
    assert server.admin("POST", "/admin/refuse", {"status": 429, "retry_after_s": 2})[1] == {"active": True}
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server)
    assert info.value.status_code == 429
    assert info.value.resp_headers.get("retry-after") == "2"
    server.admin("POST", "/admin/refuse", {"status": 426})
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server)
    assert info.value.status_code == 426
    assert server.admin("DELETE", "/admin/refuse")[1] == {"active": False}
    connect(server).close()


def test_reset_ends_every_standing_fault_and_stats_report_them(reference_server):
    server = reference_server(**FAST)
    server.admin("POST", "/admin/refuse", {"status": 401, "share": 0.0})
    server.admin("POST", "/admin/stall", {"where": "first_event", "ms": 1})
    stats = server.admin("GET", "/admin/stats")[1]
    assert set(stats["faults"]) == {"refuse", "stall"}
    ws = connect(server)  # share 0: never refused
    run_turn(ws)
    stats = server.admin("GET", "/admin/stats")[1]
    assert stats["connections"] == 1 and stats["responses"] == 1 and stats["store_size"] == 1
    assert stats["turns_in_flight"] == 0
    assert server.admin("POST", "/admin/reset") == (200, {})
    assert server.admin("GET", "/admin/stats")[1]["faults"] == {}
    ws.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/admin/close", {"code": 1234}, 400, "code"),
        ("POST", "/admin/close", {"code": 1001, "share": 2}, 400, "share"),
        ("POST", "/admin/stall", {"where": "nowhere"}, 400, "where"),
        ("POST", "/admin/stall", {"where": "first_event", "ms": -1}, 400, "ms"),
        ("POST", "/admin/refuse", {"status": 200}, 400, "status"),
        ("POST", "/admin/close", {"code": [1001]}, 400, "code"),  # not hashable: still a JSON 400
        ("POST", "/admin/close", {"code": True}, 400, "code"),
        ("POST", "/admin/refuse", {"status": {"429": 1}}, 400, "status"),
        ("POST", "/admin/stall", {"where": ["first_event"]}, 400, "where"),
        ("POST", "/admin/nothing", {}, 404, "no admin route"),
    ],
)
def test_bad_admin_calls_get_json_errors(reference_server, method, path, body, status, field):
    server = reference_server(**FAST)
    code, reply = server.admin(method, path, body)
    assert code == status and field in reply["error"]


def test_invalid_json_body_is_a_400(reference_server):
    server = reference_server(**FAST)
    req = urllib.request.Request(server.http_url + "/admin/evict", data=b"{oops", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400 and "body" in json.loads(info.value.read())["error"]


def _non_loopback_ipv4() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outgoing address
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fd00::2", False),
        (None, False),
        ("", False),
        ("not-an-ip", False),
    ],
)
def test_only_loopback_peers_count_as_loopback(peer, allowed):
    assert is_loopback(peer) is allowed


@pytest.mark.skipif(
    os.environ.get("AGENTSOAK_TEST_NON_LOOPBACK") != "1",
    reason="binds 0.0.0.0; opt in with AGENTSOAK_TEST_NON_LOOPBACK=1",
)
def test_admin_refuses_non_loopback_peers(reference_server):
    """Over the network: a peer on a non-loopback address gets 403 from /admin/."""
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    server = reference_server(**FAST, host="0.0.0.0")
    try:
        with urllib.request.urlopen(f"http://{address}:{server.port}/admin/stats", timeout=5):
            raise AssertionError("expected 403")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
    assert server.admin("GET", "/admin/stats")[0] == 200  # loopback still works
