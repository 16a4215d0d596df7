"""Fixtures: one embedded server per session (on a thread), loopback echo/sink servers, raw HTTP."""

from __future__ import annotations

import http.client as httpc
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from faults.client import FaultClient
from faults.server import ServerThread, start_in_thread


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    srv = start_in_thread(seed=1234)
    yield srv
    srv.stop()


@pytest.fixture()
def api(server: ServerThread) -> Iterator[FaultClient]:
    client = FaultClient(server.url, timeout=5)
    yield client
    for name in list(client.proxies()):
        client.delete_proxy(name)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(url: str, method: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    """One raw HTTP request (no client library between the test and the server)."""
    host, port = url.removeprefix("http://").split(":")
    conn = httpc.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a loopback port in a thread; yields ``host:port``."""
    srv = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="session")
def echo() -> Iterator[str]:
    """A loopback TCP echo server; yields ``host:port``."""
    yield from _serve(_Echo)


def port_of(proxy: dict[str, Any]) -> int:
    return int(proxy["listen"].rsplit(":", 1)[1])


def connect(proxy: dict[str, Any], timeout: float = 5) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port_of(proxy)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def roundtrip(s: socket.socket, payload: bytes) -> float:
    """Send ``payload`` to an echo upstream, read it back; seconds taken."""
    t0 = time.monotonic()
    s.sendall(payload)
    recv_exactly(s, len(payload))
    return time.monotonic() - t0


def read_until_closed(s: socket.socket) -> tuple[bytes, str]:
    """Read to the end; returns (data, how): ``eof``, ``reset`` or ``timeout``."""
    buf = b""
    try:
        while chunk := s.recv(65536):
            buf += chunk
    except ConnectionResetError:
        return buf, "reset"
    except TimeoutError:
        return buf, "timeout"
    return buf, "eof"


class _Closer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"bye")
        self.request.close()


@pytest.fixture(scope="session")
def closer() -> Iterator[str]:
    """A loopback server that sends ``bye`` and closes at once; yields ``host:port``."""
    yield from _serve(_Closer)
