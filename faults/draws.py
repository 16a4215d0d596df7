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
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import random
from dataclasses import dataclass

__all__ = ["ConnectionKey", "LocalOrdinals", "SharedOrdinals"]


@dataclass(frozen=True)
class ConnectionKey:
    """Who a connection is, for its draws."""

    seed: int | None
    proxy: str
    ordinal: int

    def _text(self, *parts: str) -> str:
        return "/".join([str(self.seed), self.proxy, str(self.ordinal), *parts])

    def rng(self, direction: str) -> random.Random:
        """The stream a link's toxics use (latency jitter, slicer cuts)."""
        return random.Random(self._text(direction)) if self.seed is not None else random.Random()

    def draw(self, direction: str, toxic: str) -> float:
        """The uniform draw in [0, 1) compared with the toxic's toxicity (kept across updates)."""
        if self.seed is None:
            return random.random()
        digest = hashlib.blake2b(self._text(direction, toxic).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


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
