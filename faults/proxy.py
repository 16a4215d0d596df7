"""One proxy's data plane: its listener, its live connections and its installed toxics.

The listener accepts, and each accepted client gets its own upstream dial task with a connect
timeout (ours, spec §5: Toxiproxy dials serially with none). Reading the client waits for the
dial, so nothing is lost. ``stop`` closes the listener and every live connection (spec §4.2);
the bound port is kept, so a later ``start`` reuses it.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
from collections.abc import Callable

from .draws import ConnectionKey
from .errors import ApiError
from .installed import Installed, find_toxic
from .link import Connection

__all__ = ["Proxy", "resolve_listen", "split_hostport"]

DIAL_TIMEOUT_S = 10.0
BACKLOG = 4096  # accept queue; asyncio's create_server would listen again with its own 100


def split_hostport(addr: str) -> tuple[str, str]:
    """Split ``host:port`` / ``[v6]:port`` like Go's net.SplitHostPort, with Go's error texts."""
    if ":" not in addr:
        raise ValueError(f"address {addr}: missing port in address")
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"address {addr}: too many colons in address")
    return host, port


def resolve_listen(listen: str) -> tuple[str, int, str]:
    """``listen`` → (bind host, port, the address to report). Ours: empty means 127.0.0.1:0."""
    if listen == "":
        listen = "127.0.0.1:0"
    try:
        host, port_s = split_hostport(listen)
    except ValueError as exc:
        raise ApiError(500, f"listen tcp: {exc}") from None
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ApiError(500, f"listen tcp: address {listen}: invalid port")
    port = int(port_s)
    if host in ("", "0.0.0.0"):
        return "0.0.0.0", port, f"0.0.0.0:{port}"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICSERV)
    except socket.gaierror:
        raise ApiError(500, f"listen tcp: lookup {host}: no such host") from None
    fam, _, _, _, sockaddr = info[0]
    ip = sockaddr[0]
    return ip, port, (f"[{ip}]:{port}" if fam == socket.AF_INET6 else f"{ip}:{port}")


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if fam == socket.AF_INET6 else f"{host}:{port}"
        text = (exc.strerror or str(exc)) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            text = "address already in use"
        raise ApiError(500, f"listen tcp {shown}: bind: {text[:1].lower()}{text[1:]}") from None
    return sock


class Proxy:
    """The runtime of one proxy in one process."""

    def __init__(self, name: str, listen: str, upstream: str, *, seed: int | None = None,
                 ordinal: Callable[[], int] | None = None, reuse_port: bool = False) -> None:
        self.name, self.listen, self.upstream = name, listen, upstream
        self.seed = seed
        self._ordinal = ordinal if ordinal is not None else itertools.count().__next__
        self.reuse_port = reuse_port
        self.toxics: list[Installed] = []
        self.conns: set[Connection] = set()
        self.server: asyncio.Server | None = None
        self.accepted = 0

    async def start(self) -> str:
        """Bind (port 0 resolves once, then is kept) and serve; returns the reported listen."""
        if self.server is not None:
            return self.listen
        host, port, shown = resolve_listen(self.listen)
        sock = _bind(host, port, self.reuse_port)
        port = sock.getsockname()[1]
        self.listen = shown.rsplit(":", 1)[0] + f":{port}"
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._accept, sock=sock, backlog=BACKLOG)
        return self.listen

    def stop(self) -> None:
        """Close the listener (new connects are refused) and every live connection."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.conns):
            conn.close()

    def forget(self, conn: Connection) -> None:
        self.conns.discard(conn)

    # toxics -----------------------------------------------------------------------------------
    def add_toxic(self, entry: Installed) -> None:
        self.toxics.append(entry)
        for conn in list(self.conns):
            conn.link(entry.direction).attach(entry)

    def update_toxic(self, name: str, toxicity: float, attributes: dict[str, int]) -> None:
        entry = find_toxic(self.toxics, name)
        for key, value in attributes.items():
            setattr(entry.toxic, key, value)
        entry.toxicity = toxicity
        for conn in list(self.conns):
            conn.link(entry.direction).update(entry)

    def remove_toxic(self, name: str) -> None:
        entry = find_toxic(self.toxics, name)
        self.toxics.remove(entry)
        for conn in list(self.conns):
            conn.link(entry.direction).detach(entry)

    # data path --------------------------------------------------------------------------------
    def _accept(self) -> asyncio.Protocol:
        conn = Connection(self, self.toxics, ConnectionKey(self.seed, self.name, self._ordinal()))
        self.conns.add(conn)
        self.accepted += 1
        conn.dial = asyncio.get_running_loop().create_task(self._dial(conn))
        return conn.client

    async def _dial(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_hostport(self.upstream)
            await asyncio.wait_for(loop.create_connection(lambda: conn.server, host, int(port)), DIAL_TIMEOUT_S)
        except (OSError, ValueError, asyncio.TimeoutError):
            conn.close()  # the client saw a successful connect, then reads EOF (spec §5)
            return
        finally:
            conn.dial = None
        if conn.closed:
            conn.server.close(False)
            return
        _nodelay(conn.server.transport)
        if conn.client.transport is not None:
            _nodelay(conn.client.transport)
            conn.client.transport.resume_reading()


def _nodelay(transport: asyncio.Transport | None) -> None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
