"""The preflight: one real handshake along the agents' route, and an error naming the target and why.

Real sockets on 127.0.0.1: the embedded proxy and the reference server as processes, and a one-shot
HTTP responder in a thread for a refused upgrade.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from faults.client import FaultClient
from loadtests.preflight import PreflightError, preflight
from loadtests.run import ReferenceServer
from tests.timing import MS

pytestmark = pytest.mark.timeout(60)
FAST_S = 1.0 + 2000 * MS  # "within seconds": no connect timeout is waited out


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxy() -> Iterator[FaultClient]:
    client = FaultClient.start_embedded(seed=1)
    try:
        yield client
    finally:
        client.close()


def test_a_dead_target_behind_the_proxy_is_connection_refused(proxy: FaultClient) -> None:
    """The proxy accepts, then resets (upstream refused): that is reported as the target's refusal."""
    port = _dead_port()
    route = proxy.create_proxy("pf", upstream=f"127.0.0.1:{port}", listen="127.0.0.1:0")
    target = f"ws://127.0.0.1:{port}/v1/responses"
    started = time.monotonic()
    with pytest.raises(PreflightError) as err:
        preflight(f"ws://{route['listen']}/v1/responses", target=target, via_proxy=True)
    assert time.monotonic() - started < FAST_S
    assert str(err.value) == f"target {target} not reachable through the proxy: connection refused"


def test_a_dead_target_without_a_proxy_is_connection_refused() -> None:
    target = f"ws://127.0.0.1:{_dead_port()}/v1/responses"
    with pytest.raises(PreflightError) as err:
        preflight(target, target=target, via_proxy=False)
    assert str(err.value) == f"target {target} not reachable: connection refused"


def _refusing_server(status: str) -> tuple[int, list[bytes], threading.Thread]:
    """Answers one upgrade request with ``status`` and records the request."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)
    seen: list[bytes] = []

    def serve() -> None:
        with srv:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                seen.append(data)
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv.getsockname()[1], seen, thread


def test_a_refused_upgrade_names_the_http_status_and_the_agents_headers_were_sent() -> None:
    port, seen, thread = _refusing_server("401 Unauthorized")
    target = f"ws://127.0.0.1:{port}/v1/responses"
    with pytest.raises(PreflightError) as err:
        preflight(target, target=target, via_proxy=False,
                  headers=["OpenAI-Beta: responses_websockets=2026-02-06", "Authorization: Bearer sk-test"])
    thread.join(10)
    assert str(err.value) == (f"target {target} not reachable: the WebSocket upgrade was refused with "
                              "HTTP 401 Unauthorized")
    request = seen[0].decode()
    assert request.startswith("GET /v1/responses HTTP/1.1")
    assert "Authorization: Bearer sk-test" in request and "OpenAI-Beta: responses_websockets" in request


def test_a_live_target_through_the_proxy_passes(proxy: FaultClient, tmp_path) -> None:
    server = ReferenceServer([], tmp_path / "server.log")
    try:
        route = proxy.create_proxy("pf-ok", upstream=f"127.0.0.1:{server.port}", listen="127.0.0.1:0")
        preflight(f"ws://{route['listen']}/v1/responses", target=server.url, via_proxy=True)
    finally:
        server.stop()
