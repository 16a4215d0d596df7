"""One proxied connection: two sockets and two one-way links, each a chain of toxics (spec §5).

``upstream`` carries client → server bytes, ``downstream`` server → client bytes. Each link keeps
its toxics in slots behind a hidden passthrough head: a slot holds the toxic (shared config),
this connection's state for it and one uniform draw ``u`` made when the toxic attached. The slot
is active while ``u < toxicity``. Toxicity is applied here, once, and nowhere else (ours, spec §7:
the draw is kept across updates; updating ``toxicity`` re-compares the same ``u``).

A connection is first keyed by its accept ordinal. Its first bytes from the client are read for the
client id an agent names itself by (``X-Agentsoak-Conn``, :mod:`faults.identity`); with one, the
connection is keyed by that id and every slot draws again, before those bytes enter a toxic (so no
byte ever went through a draw that is then replaced). Only a toxic's timer armed at attach (the
``timeout`` toxic's) restarts at that moment.

With no active slot and nothing queued, bytes are written straight through (the fast path).
Otherwise each read is stamped and queued, and one task per link runs chunks through the active
slots in order. Interrupting a link (an API change) releases the chunk in flight at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import struct
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .draws import ConnectionKey
from .identity import client_from_head
from .installed import Installed
from .toxics import Chunk

__all__ = ["Connection", "ConnectionOwner", "Link", "Side", "log_connections"]

log = logging.getLogger("agentsoak.proxy")


def log_connections() -> None:
    """Log, to stderr (a run's ``logs/proxy.log``), each connection that names its client
    (:mod:`faults.identity`) and the toxics on it; connections without a client id are not logged."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)


MAX_QUEUE = 1024  # chunks buffered per link before reading pauses (Toxiproxy's latency buffer)
_LINGER_0 = struct.pack("ii", 1, 0)


class Side(asyncio.Protocol):
    """One socket of a connection; feeds the link whose source it is."""

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role  # "client" or "server"
        self.transport: asyncio.Transport | None = None
        self._holds: set[str] = set()
        self._drained: asyncio.Future[None] | None = None
        self.paused = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.role == "client" and self.conn.server.transport is None:
            transport.pause_reading()  # type: ignore[attr-defined]  # until the upstream dial is done

    def data_received(self, data: bytes) -> None:
        if not self.conn.identified:
            self.conn.identify(data if self.role == "client" else b"")
        self.conn.out_of(self).feed(data)

    def eof_received(self) -> bool:
        self.conn.out_of(self).feed(None)
        return True  # keep it open; the link closes the whole connection when its chain is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._wake()
        self.conn.close()

    def pause_writing(self) -> None:
        self.paused = True
        self.conn.peer_of(self).hold("dst")

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()
        self.conn.peer_of(self).release("dst")

    # flow control
    def hold(self, reason: str) -> None:
        if not self._holds and self.transport is not None:
            self.transport.pause_reading()
        self._holds.add(reason)

    def release(self, reason: str) -> None:
        if reason not in self._holds:
            return  # the link calls this for every chunk it takes off the queue
        self._holds.remove(reason)
        if not self._holds and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _wake(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drained(self) -> None:
        if self.paused and self.transport is not None:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def close(self, abort: bool) -> None:
        t = self.transport
        if t is None:
            return
        if abort:
            sock = t.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
                except OSError:
                    pass
            t.abort()  # with linger 0 the kernel sends RST
        else:
            t.close()  # flushes what is buffered, then FIN


class Slot:
    """A toxic in one link's chain: shared config, per-connection state, the kept draw."""

    __slots__ = ("entry", "u", "state", "active")

    def __init__(self, entry: Installed, u: float) -> None:
        self.entry = entry
        self.u = u
        self.state: Any = entry.toxic.new_state()
        self.active = u < entry.toxicity


class Link:
    """One direction of a connection; also the ``ctx`` (``toxics.Pipe``) its toxics use."""

    def __init__(self, conn: Connection, src: Side, dst: Side, direction: str) -> None:
        self.conn, self.src, self.dst, self.direction = conn, src, dst, direction
        self.rng: random.Random = conn.key.rng(direction)
        self.slots: list[Slot] = []
        self.queue: deque[Chunk | None] = deque()
        self.task: asyncio.Task[None] | None = None
        self.loop = asyncio.get_running_loop()
        self._interrupted = False
        self._wake: asyncio.Future[bool] | None = None
        self._active = 0

    # -- chain changes (spec §7-8) --------------------------------------------------------------
    def attach(self, entry: Installed) -> None:
        slot = Slot(entry, self.conn.key.draw(self.direction, entry.name))
        self.slots.append(slot)
        if slot.active:
            self._active += 1
            entry.toxic.attach(slot.state, self)
            if self.conn.key.client is not None:
                log.info("%s: toxic %s (%s) on", self.conn.key.client, entry.name, self.direction)

    def update(self, entry: Installed) -> None:
        for slot in self.slots:
            if slot.entry is entry:
                self.interrupt()
                was, slot.active = slot.active, slot.u < entry.toxicity
                self._active += slot.active - was
                if slot.active and not was:
                    entry.toxic.attach(slot.state, self)
                elif was and not slot.active:
                    entry.toxic.detach(slot.state, self)
                elif slot.active:
                    entry.toxic.update(slot.state, self)

    def detach(self, entry: Installed) -> None:
        for slot in list(self.slots):
            if slot.entry is entry:
                self.slots.remove(slot)
                if slot.active:
                    self._active -= 1
                    entry.toxic.detach(slot.state, self)
                self.interrupt()
                if entry.toxic.close_on_remove:
                    self.conn.close()

    def redraw(self) -> None:
        """Draw every slot again with the connection's (new) key; no byte has passed the chain yet."""
        self.rng = self.conn.key.rng(self.direction)
        for slot in self.slots:
            entry = slot.entry
            was = slot.active
            slot.u = self.conn.key.draw(self.direction, entry.name)
            slot.active = slot.u < entry.toxicity
            self._active += slot.active - was
            if was and not slot.active:
                entry.toxic.detach(slot.state, self)
            elif slot.active and not was:
                entry.toxic.attach(slot.state, self)
            elif slot.active:  # restart what attach armed, as for a fresh attach
                entry.toxic.detach(slot.state, self)
                slot.state = entry.toxic.new_state()
                entry.toxic.attach(slot.state, self)

    def active_toxics(self) -> list[str]:
        return [slot.entry.name for slot in self.slots if slot.active]

    def detach_all(self) -> None:
        for slot in self.slots:
            if slot.active:
                slot.entry.toxic.detach(slot.state, self)
        self.slots.clear()
        self._active = 0

    def interrupt(self) -> None:
        if self.task is not None:
            self._interrupted = True
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(False)

    # -- data ----------------------------------------------------------------------------------
    def feed(self, data: bytes | None) -> None:
        if not self._active and not self.queue and self.task is None:
            if data is None:
                self.conn.close()
            elif self.dst.transport is not None:
                self.dst.transport.write(data)  # fast path: no toxic applies
            return
        self.queue.append(None if data is None else Chunk(data, self.loop.time()))
        if len(self.queue) >= MAX_QUEUE:
            self.src.hold("queue")
        if self.task is None:
            self.task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.queue and not self.conn.closed:
                item = self.queue.popleft()
                if len(self.queue) < MAX_QUEUE // 2:
                    self.src.release("queue")
                slots = [s for s in self.slots if s.active]
                if item is None:
                    for s in slots:
                        await s.entry.toxic.on_eof(s.state, self)
                    self.conn.close()
                    return
                await self._through(slots, 0, item)
                self._interrupted = False
        finally:
            self.task = None
            self._interrupted = False

    async def _through(self, slots: list[Slot], i: int, chunk: Chunk) -> None:
        if self.conn.closed:
            return
        if i == len(slots):
            t = self.dst.transport
            if t is not None and chunk.data:
                t.write(chunk.data)
                await self.dst.drained()
            return
        slot = slots[i]

        async def emit(c: Chunk) -> None:
            await self._through(slots, i + 1, c)

        await slot.entry.toxic.pipe(chunk, emit, slot.state, self)

    # -- ctx for toxics ------------------------------------------------------------------------
    def now(self) -> float:
        return self.loop.time()

    async def sleep(self, seconds: float) -> bool:
        return await self.sleep_until(self.loop.time() + seconds)

    async def sleep_until(self, deadline: float) -> bool:
        if self._interrupted:
            return False
        delay = deadline - self.loop.time()
        if delay <= 0:
            return True
        fut = self._wake = self.loop.create_future()
        handle = self.loop.call_later(delay, _resolve, fut, True)
        try:
            return await fut
        finally:
            handle.cancel()
            self._wake = None

    def call_later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self.loop.call_later(seconds, callback)

    def close(self, *, abort: bool = False) -> None:
        self.conn.close(abort=abort)


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


class ConnectionOwner(Protocol):
    """What a connection needs from the proxy that accepted it (the proxy imports this module)."""

    def forget(self, conn: Connection) -> None:
        """The connection has closed; drop it from the live set."""


class Connection:
    """A client socket, its upstream socket and the two links between them."""

    def __init__(self, owner: ConnectionOwner, toxics: list[Installed], key: ConnectionKey) -> None:
        self.owner = owner  # told when the connection ends
        self.key = key  # who it is: every draw of its links derives from this
        self.identified = False  # its first bytes were read for a client id
        self.closed = False
        self.client = Side(self, "client")
        self.server = Side(self, "server")
        self.upstream = Link(self, self.client, self.server, "upstream")
        self.downstream = Link(self, self.server, self.client, "downstream")
        for entry in toxics:
            self.link(entry.direction).attach(entry)
        self.dial: asyncio.Task[Any] | None = None

    def link(self, direction: str) -> Link:
        return self.upstream if direction == "upstream" else self.downstream

    def identify(self, first: bytes) -> None:
        """Key the connection by the client id in its first bytes from the client, if they carry one
        (``first`` is empty when the server spoke first: the ordinal key stays)."""
        self.identified = True
        client = client_from_head(first) if first else None
        if client is None:
            return
        self.key = dataclasses.replace(self.key, client=client)
        for link in (self.upstream, self.downstream):
            link.redraw()
        on = [f"{name} ({link.direction})" for link in (self.upstream, self.downstream)
              for name in link.active_toxics()]
        log.info("%s: connection #%d of proxy %s; toxics on: %s", client, self.key.ordinal, self.key.proxy,
                 ", ".join(on) or "none")

    def out_of(self, side: Side) -> Link:
        return self.upstream if side is self.client else self.downstream

    def peer_of(self, side: Side) -> Side:
        return self.server if side is self.client else self.client

    def close(self, *, abort: bool = False) -> None:
        """Close both sockets: FIN, or RST with ``abort`` (reset_peer). Idempotent."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for link in (self.upstream, self.downstream):
            link.detach_all()
            if link.task is not None and link.task is not current:
                link.task.cancel()
        if self.dial is not None and self.dial is not current:
            self.dial.cancel()
        self.client.close(abort)
        self.server.close(abort)
        self.owner.forget(self)
