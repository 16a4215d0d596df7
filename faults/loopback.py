"""The one loopback test: traffic goes only to 127.0.0.0/8 and ::1 unless a user opts in."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["free_port", "is_loopback"]


def is_loopback(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8, ::1 and IPv4-mapped ``::ffff:127.x`` (no DNS lookup).

    Accepts a bare address, a bracketed IPv6 literal, or one with a ``%scope``; anything else,
    including other host names, is not loopback.
    """
    if not host:
        return False
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now at ``host`` (the kernel's pick), for a child to bind."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
