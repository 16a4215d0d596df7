"""One real WebSocket handshake along the agents' route, before any load starts.

A target nobody listens on used to be found only by the load itself: the run went its full length
and failed with a wall of connection resets. :func:`preflight` opens one connection exactly as an
agent does (its URL, through the proxy, with its headers and key), waits for the ``101``, and
closes it. It raises :class:`PreflightError` naming the target and why it was not reached.

Through a TCP proxy a refused upstream does not look refused: the proxy accepts the connection and
then resets it (the embedded proxy and Toxiproxy both do). So when the handshake through the proxy
dies without an HTTP answer, the target itself is probed with a plain TCP connect, and its error
(``connection refused``, ``timed out``, …) is the one reported.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import websocket

__all__ = ["PreflightError", "preflight"]

PREFLIGHT_TIMEOUT_S = 5.0


class PreflightError(RuntimeError):
    """The target could not be reached along the agents' route; the message says which and why."""


def preflight(url: str, *, target: str, via_proxy: bool, headers: Sequence[str] = (),
              timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Handshake with ``url`` (what agents connect to) and close at once.

    Args:
        url: the agents' ``ws(s)://`` URL (the proxy's listener when ``via_proxy``).
        target: the target's own URL, named in the error.
        via_proxy: ``url`` goes through a proxy to ``target``.
        headers: the agents' handshake headers (``Name: value``), the API key among them.
        timeout: seconds for the connect and for the handshake.

    Raises:
        PreflightError: "target ws://… not reachable [through the proxy]: <why>".
    """
    route = " through the proxy" if via_proxy else ""
    try:
        ws = websocket.create_connection(url, timeout=timeout, header=list(headers))
    except websocket.WebSocketBadStatusException as exc:
        status = f"HTTP {exc.status_code}" + (f" {exc.status_message}" if exc.status_message else "")
        raise PreflightError(f"target {target} not reachable{route}: the WebSocket upgrade was refused "
                             f"with {status}") from None
    except (OSError, websocket.WebSocketException) as exc:
        why = _why(exc)
        if via_proxy:
            direct = _tcp_probe(target, timeout)
            why = direct or f"{why} at the proxy {_netloc(url)} (the target itself accepts TCP connections)"
        raise PreflightError(f"target {target} not reachable{route}: {why}") from None
    try:
        ws.close(timeout=1)
    except (OSError, websocket.WebSocketException):
        pass  # the handshake is what counts


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


def _why(exc: BaseException) -> str:
    """A short cause: ``connection refused``, ``timed out``, ``connection reset``, …"""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError, websocket.WebSocketTimeoutException)):
        return "timed out"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return "connection closed before the handshake ended"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.errno is not None:
        return (exc.strerror or errno.errorcode.get(exc.errno, str(exc))).lower()
    return str(exc) or type(exc).__name__


def _tcp_probe(target: str, timeout: float) -> str | None:
    """Why a plain TCP connect to ``target`` fails, or None when it connects."""
    parts = urlsplit(target)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return None
    except OSError as exc:
        return _why(exc)
