"""The thin I/O layer of the HTTP transport: ``POST /v1/responses`` on a kept-alive ``http.client`` connection.

:class:`HttpClient` sends one body and hands back the response; :meth:`HttpClient.read` returns the
bytes that have arrived (``read1``: a streamed read, chunked encoding handled by ``http.client``) and
raises :class:`HttpDead` naming the detector when the stream dies: ``idle_timeout`` when no byte came
for ``idle_timeout`` seconds (a stalled SSE stream), ``reset``/``error`` otherwise. The connection is
kept alive between turns; ``connections`` counts the TCP connections opened (the ledger's ``conn`` ids).
No protocol here: SSE decoding and the conversation are the protocol core's.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from faults.identity import CLIENT_HEADER

from .protocol import ErrorEvent, error_envelope

__all__ = ["ConnectHook", "HttpClient", "HttpDead", "http_url", "error_from_body"]

#: called as (connection number, None, None) before a TCP connect and (number, ms, error or None) after
ConnectHook = Callable[[int, "float | None", "BaseException | None"], None]

READ_SIZE = 65536


class HttpDead(Exception):
    """The request or its stream failed; ``detected`` is the ledger's Detector value."""

    def __init__(self, detected: str, message: str) -> None:
        super().__init__(message)
        self.detected = detected


def http_url(url: str) -> str:
    """The ``POST`` URL for a WebSocket URL of ``/v1/responses`` (ws→http, wss→https)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def error_from_body(status: int, body: bytes) -> ErrorEvent:
    """The ``{"error": {...}}`` body of an HTTP error as an :class:`ErrorEvent` (any other body: a generic one)."""
    import orjson

    try:
        err = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        err = None
    if not isinstance(err, dict):
        return error_envelope(f"http_{status}", body[:200].decode("utf-8", "replace") or f"HTTP {status}",
                              status=status, error_type="server_error" if status >= 500 else "invalid_request_error")
    return ErrorEvent(code=err.get("code"), message=str(err.get("message", "")), status=status,
                      error_type=str(err.get("type", "invalid_request_error")), param=err.get("param"))


class HttpClient:
    """One agent's kept-alive HTTP connection to ``/v1/responses``."""

    def __init__(self, url: str, *, headers: dict[str, str], connect_timeout: float, idle_timeout: float,
                 on_connect: ConnectHook | None = None, agent: str | None = None,
                 source_address: str | None = None) -> None:
        parts = urlsplit(http_url(url))
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/v1/responses") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **headers}
        self.agent = agent  # names each connection agent/h<n> (faults.identity), as the ledger does
        self.connect_timeout = connect_timeout
        self.source_address = source_address  # the loopback address to connect from (None: the kernel's)
        self.idle_timeout = idle_timeout
        self.connections = 0
        self.on_connect = on_connect or (lambda *a: None)
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None

    @property
    def conn_seq(self) -> int:
        """The number of the connection the next request uses (a new one if none is open)."""
        return self.connections + (0 if self._conn is not None else 1)

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        source = None if self.source_address is None else (self.source_address, 0)
        conn = cls(self.host, self.port, timeout=self.connect_timeout, source_address=source)
        self.connections += 1
        self.on_connect(self.connections, None, None)
        started = time.monotonic()
        try:
            conn.connect()
        except OSError as exc:
            self.on_connect(self.connections, (time.monotonic() - started) * 1000.0, exc)
            raise HttpDead("error", f"connect failed: {exc}") from exc
        self.on_connect(self.connections, (time.monotonic() - started) * 1000.0, None)
        assert conn.sock is not None
        conn.sock.settimeout(self.idle_timeout)  # from now on: the idle timeout of every read
        return conn

    def post(self, body: bytes) -> http.client.HTTPResponse:
        """Send ``body``; returns the response once its status line and headers arrived."""
        reused = self._conn is not None
        for _ in range(2):  # a kept-alive connection the server closed meanwhile: once more on a new one
            if self._conn is None:
                self._conn = self._connect()
            try:
                headers = self.headers if self.agent is None else \
                    {**self.headers, CLIENT_HEADER: f"{self.agent}/h{self.connections}"}
                self._conn.request("POST", self.path, body=body, headers=headers)
                self._resp = self._conn.getresponse()
                return self._resp
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.reset()
                if not reused:
                    raise HttpDead("reset", f"{type(exc).__name__}: {exc}") from exc
                reused = False
            except TimeoutError as exc:
                self.reset()
                raise HttpDead("idle_timeout", f"no response within {self.idle_timeout:g}s") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.reset()
                raise HttpDead("error", f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def read(self, resp: http.client.HTTPResponse) -> bytes:
        """The next bytes of the body (b"" at its end)."""
        try:
            return resp.read1(READ_SIZE)
        except TimeoutError as exc:
            self.reset()
            raise HttpDead("idle_timeout", f"no byte for {self.idle_timeout:g}s") from exc
        except ConnectionResetError as exc:
            self.reset()
            raise HttpDead("reset", f"{type(exc).__name__}: {exc}") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: read on a closed response
            self.reset()
            raise HttpDead("error", f"{type(exc).__name__}: {exc}") from exc

    def finish(self, resp: http.client.HTTPResponse) -> None:
        """The turn is over: keep the connection when the body was read to its end, else drop it."""
        if resp.isclosed() and not resp.will_close:
            return
        if not resp.isclosed():
            try:
                rest = resp.read1(READ_SIZE) if resp.length != 0 else b""
            except Exception:  # noqa: BLE001 - whatever is left, the connection goes
                rest = b"x"
            if rest == b"" and resp.isclosed() and not resp.will_close:
                return
        self.reset()

    def reset(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        conn, self._conn, self._resp = self._conn, None, None
        if conn is not None:
            _close_quietly(conn)

    def abort(self) -> None:
        """Stop a read in progress from another greenlet/thread (agent stop)."""
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.reset()


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
