"""Reading a server's WebSocket frames in bulk, on websocket-client's socket.

websocket-client parses every frame through several Python calls (header, length, mask, payload, an
``ABNF`` object, its validation): ~9 µs a frame, most of an agent's cost while a turn streams.
:class:`FrameReader` reads the socket in chunks of at least 64 KB and cuts the frames out of them.
Server frames are never masked (RFC 6455 §5.1) and no extension is negotiated, so a frame is a 2-10
byte header and its payload. websocket-client stays the transport: it connects, upgrades, sends,
pings and closes; only reading is done here (``agent.frame_reader: websocket-client`` reads with
websocket-client instead).

Like websocket-client's ``recv_data_frame(control_frame=True)``, :meth:`FrameReader.read` returns
whole messages (fragments joined) and control frames, answers a ping with a pong and a Close with a
Close. A frame that breaks RFC 6455 raises ``websocket.WebSocketProtocolException``; the end of the
stream raises ``websocket.WebSocketConnectionClosedException``.
"""

from __future__ import annotations

import websocket

__all__ = ["MAX_MESSAGE_BYTES", "FrameReader"]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CHUNK = 65536
#: the largest message accepted (a response.completed with a long output is a few hundred KB)
MAX_MESSAGE_BYTES = 64 * 2**20

_Protocol = websocket.WebSocketProtocolException


class FrameReader:
    """The frames of one connection: ``read()`` the next message or control frame."""

    __slots__ = ("_ws", "_buf", "_pos", "_frag_op", "_frags", "_frag_len")

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._buf = b""
        self._pos = 0
        self._frag_op: int | None = None
        self._frags: list[bytes] = []
        self._frag_len = 0

    def buffered(self) -> bool:
        """Whether bytes already read wait here (the next frame may be complete without the socket)."""
        return self._pos < len(self._buf)

    def read(self) -> tuple[int, bytes]:
        """The next whole message (TEXT or BINARY, fragments joined) or control frame: (opcode, payload)."""
        while True:
            op, fin, payload = self._frame()
            if op == TEXT or op == BINARY:
                if self._frag_op is not None:
                    raise _Protocol("a new message began inside a fragmented one")
                if fin:
                    return op, payload
                self._frag_op, self._frags, self._frag_len = op, [payload], len(payload)
            elif op == CONT:
                if self._frag_op is None:
                    raise _Protocol("a continuation frame with no message to continue")
                self._frags.append(payload)
                self._frag_len += len(payload)
                if self._frag_len > MAX_MESSAGE_BYTES:
                    raise _Protocol(f"a message over {MAX_MESSAGE_BYTES} bytes")
                if fin:
                    first, data = self._frag_op, b"".join(self._frags)
                    self._frag_op, self._frags, self._frag_len = None, [], 0
                    return first, data
            elif op == PING:
                self._ws.pong(payload)
                return op, payload
            elif op == PONG:
                return op, payload
            elif op == CLOSE:
                try:
                    self._ws.send_close()
                except (OSError, websocket.WebSocketException):
                    pass  # the peer may be gone already: the Close it sent is what counts
                return op, payload
            else:
                raise _Protocol(f"unknown opcode {op:#x}")

    def _frame(self) -> tuple[int, int, bytes]:
        """The next frame: (opcode, fin bit, payload)."""
        while True:
            buf, pos = self._buf, self._pos
            have = len(buf) - pos
            need = 2
            if have >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                size = b1 & 0x7F
                start = pos + 2
                if size == 126:
                    need = 4
                    if have >= 4:
                        size = (buf[pos + 2] << 8) | buf[pos + 3]
                        start = pos + 4
                elif size == 127:
                    need = 10
                    if have >= 10:
                        size = int.from_bytes(buf[pos + 2:pos + 10], "big")
                        start = pos + 10
                if have >= need:
                    if b0 & 0x70 or b1 & 0x80 or size > MAX_MESSAGE_BYTES:
                        raise _Protocol(_bad_header(b0, b1, size))
                    op = b0 & 0x0F
                    if op >= 8 and (size > 125 or not b0 & 0x80):
                        raise _Protocol(f"control frame {op:#x}: fragmented or over 125 bytes")
                    end = start + size
                    if end <= len(buf):
                        payload = buf[start:end]
                        if end == len(buf):
                            self._buf, self._pos = b"", 0  # an idle agent keeps no chunk
                        else:
                            self._pos = end
                        return op, b0 & 0x80, payload
                    need = end - pos
            self._fill(need)

    def _fill(self, need: int) -> None:
        """Read until ``need`` bytes from the current position are here."""
        sock = self._ws.sock
        if sock is None:
            raise websocket.WebSocketConnectionClosedException("socket is already closed.")
        parts = [self._buf[self._pos:]] if self._pos < len(self._buf) else []
        have = len(parts[0]) if parts else 0
        while have < need:
            chunk = sock.recv(max(CHUNK, need - have))
            if not chunk:
                raise websocket.WebSocketConnectionClosedException("Connection to remote host was lost.")
            parts.append(chunk)
            have += len(chunk)
        self._buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos = 0


def _bad_header(b0: int, b1: int, size: int) -> str:
    if b0 & 0x70:
        return f"reserved bits set ({b0 & 0x70:#x}) with no extension negotiated"
    if b1 & 0x80:
        return "a masked frame from the server (RFC 6455 §5.1)"
    return f"a frame of {size} bytes (over {MAX_MESSAGE_BYTES})"
