"""Coalescing a connection's text frames into few socket writes.

aiohttp writes every frame with its own ``transport.write``, and with the transport's buffer empty
each one is a ``send()`` system call: at one token per delta, most of the server's cost per event.
A :class:`Cork` frames text messages itself (server frames are unmasked; with permessage-deflate,
RFC 7692 §6 lets a message go uncompressed, RSV1 clear) and writes what piled up in one go: when the
event loop next runs (a stream that sleeps, yields or waits), or once ``max_bytes`` are pending.

Whatever aiohttp sends itself (an error, a Close) must come after :meth:`Cork.flush`, so the wire
has the order the session sent in (control frames, as aiohttp's pings, may go anywhere). Backpressure
as aiohttp's: while the transport holds more than its high-water mark, a send waits for it to drain
to the low one.
"""

from __future__ import annotations

import asyncio
import struct

__all__ = ["Cork", "text_frame_header"]

_TEXT_FIN = 0x81
_DRAIN_POLL_S = 0.005


def text_frame_header(size: int) -> bytes:
    """The header of an unmasked, final text frame of ``size`` payload bytes (RFC 6455 §5.2)."""
    if size < 126:
        return bytes((_TEXT_FIN, size))
    if size < 65536:
        return struct.pack("!BBH", _TEXT_FIN, 126, size)
    return struct.pack("!BBQ", _TEXT_FIN, 127, size)


class Cork:
    """Text frames bound for one transport, written together."""

    __slots__ = ("_transport", "_loop", "_max", "_parts", "_size", "_scheduled", "_low", "_high")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, *,
                 max_bytes: int = 65536) -> None:
        self._transport = transport
        self._loop = loop
        self._max = max_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._low, self._high = transport.get_write_buffer_limits()

    @property
    def pending(self) -> int:
        """Bytes framed and not yet handed to the transport."""
        return self._size

    async def send(self, payload: bytes) -> None:
        """Frame ``payload`` as one text message; it goes out with the rest of this loop iteration's.

        Raises ConnectionResetError when the transport is closing (as aiohttp's send does)."""
        transport = self._transport
        if transport.is_closing():
            self._parts.clear()
            self._size = 0
            raise ConnectionResetError("Cannot write to closing transport")
        header = text_frame_header(len(payload))
        self._parts.append(header)
        self._parts.append(payload)
        self._size += len(header) + len(payload)
        if self._size >= self._max:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)
        if transport.get_write_buffer_size() > self._high:
            await self._drain()

    def flush(self) -> None:
        """Hand every pending frame to the transport now (before anything aiohttp sends itself)."""
        self._scheduled = False
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    async def _drain(self) -> None:
        transport = self._transport
        while transport.get_write_buffer_size() > self._low and not transport.is_closing():
            await asyncio.sleep(_DRAIN_POLL_S)
