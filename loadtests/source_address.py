"""Which loopback address an agent connects from, and a TCP socket bound to it.

One source address gives one box about 28k sockets to one target (the ephemeral port range is per
4-tuple). ``load.source_addresses: N`` spreads agents over 127.0.0.1..127.0.0.N, agent ``i`` on
127.0.0.(1 + (i - 1) mod N), so N addresses give N times the ports. The socket is bound with
``IP_BIND_ADDRESS_NO_PORT``, so the kernel picks the port at connect time from the whole 4-tuple
rather than reserving one per source address at bind time.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

__all__ = ["MAX_SOURCE_ADDRESSES", "connect_from", "source_for"]

#: 127.0.0.1 .. 127.0.0.254: loopback only (every 127/8 address is on ``lo`` on Linux).
MAX_SOURCE_ADDRESSES = 254
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux 4.2+


def source_for(index: int, count: int) -> str | None:
    """The source address of agent ``index`` (1-based) over ``count`` addresses; None for one (the
    kernel's choice, as without the setting)."""
    if not 1 <= count <= MAX_SOURCE_ADDRESSES:
        raise ValueError(f"source addresses: expected 1..{MAX_SOURCE_ADDRESSES}, got {count}")
    if count == 1:
        return None
    return f"127.0.0.{1 + (max(index, 1) - 1) % count}"


def connect_from(source: str, host: str, port: int, timeout: float | None,
                 options: Iterable[tuple[int, int, int]] = ()) -> socket.socket:
    """A TCP connection to ``host:port`` from ``source`` (its port chosen at connect), with the socket
    ``options`` (level, name, value) set first, as a client library would set them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        for opt in options:
            sock.setsockopt(*opt)
        try:
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass  # not Linux: bind reserves the port, which still works below the per-address limit
        sock.bind((source, 0))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
