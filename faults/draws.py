"""Reproducible randomness per connection: what a connection draws depends on who it is, not when.

A connection's identity is ``(seed, proxy name, ordinal)``: the ordinal counts the connections that
proxy accepted, across every worker process, from 0 at the proxy's creation. With one process it
is the accept order; with ``--workers N`` the workers take ordinals from one shared counter, so a
client that connects in the same order gets the same ordinals whichever worker accepts it. (Accept
order per worker is not stable: the kernel spreads SO_REUSEPORT connections by a hash of the
client's port, and the client's port is not stable between runs either.)

The toxicity draw of a toxic is then a pure function of (seed, proxy, ordinal, direction, toxic
name), and each direction's stream for jitter and slices is seeded from (seed, proxy, ordinal,
direction). Without a seed everything is drawn fresh.

A connection that names itself (an agent's ``X-Agentsoak-Conn`` header, :mod:`faults.identity`)
is keyed by that client id instead of its ordinal: ``agent-0007/c3`` draws the same whether 30
agents or only agent 7 run, which is what an exact replay of some agents needs. The proxy reads
the id from the connection's first bytes, before any byte has passed a toxic, and draws again
(:meth:`faults.link.Connection.identify`). :func:`toxic_hit` is that draw, for readers of a ledger.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import random
import struct
from dataclasses import dataclass

__all__ = ["ConnectionKey", "LocalOrdinals", "SharedOrdinals", "toxic_hit"]


@dataclass(frozen=True)
class ConnectionKey:
    """Who a connection is, for its draws."""

    seed: int | None
    proxy: str
    ordinal: int
    client: str | None = None  # the client id the connection named itself by; it replaces the ordinal

    def _text(self, *parts: str) -> str:
        who = str(self.ordinal) if self.client is None else f"client={self.client}"
        return "/".join([str(self.seed), self.proxy, who, *parts])

    def rng(self, direction: str) -> random.Random:
        """The stream a link's toxics use (latency jitter, slicer cuts)."""
        return random.Random(self._text(direction)) if self.seed is not None else random.Random()

    def draw(self, direction: str, toxic: str) -> float:
        """The uniform draw in [0, 1) compared with the toxic's toxicity (kept across updates)."""
        if self.seed is None:
            return random.random()
        digest = hashlib.blake2b(self._text(direction, toxic).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


def toxic_hit(seed: int, proxy: str, client: str, direction: str, toxic: str, toxicity: float) -> bool:
    """Whether toxic ``toxic`` (its name in the proxy) is active on the connection of ``client``: the
    embedded proxy's own rule (``draw < toxicity``, :class:`faults.link.Slot`), with the toxicity as
    the proxy keeps it (a float32, as Toxiproxy's API decodes it)."""
    kept = struct.unpack("f", struct.pack("f", float(toxicity)))[0]
    return ConnectionKey(seed, proxy, -1, client).draw(direction, toxic) < kept


class LocalOrdinals:
    """Ordinals for proxies served by one process: a counter per proxy slot."""

    def __init__(self) -> None:
        self._counters: dict[int, itertools.count[int]] = {}

    def next(self, slot: int) -> int:
        return next(self._counters.setdefault(slot, itertools.count()))


class SharedOrdinals:
    """Ordinals shared by worker processes: 8-byte counters in one file, one per proxy slot.

    Each increment holds a POSIX record lock on the counter's 8 bytes. Every worker gets the API's
    commands in the same order, so the n-th proxy created has slot n in each of them.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def next(self, slot: int) -> int:
        at = slot * 8
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 8, at, os.SEEK_SET)
        try:
            raw = os.pread(self.fd, 8, at)
            value = int.from_bytes(raw, "little") if len(raw) == 8 else 0
            os.pwrite(self.fd, (value + 1).to_bytes(8, "little"), at)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 8, at, os.SEEK_SET)
        return value
