"""Server-sent events of the HTTP Responses API (spec §9): ``event: <type>\\ndata: <json>\\n\\n``, no ``[DONE]``.

:func:`encode_event` frames one event for the server; :class:`SseDecoder` is the client's incremental
parser (WHATWG "server-sent events" rules: lines end in LF, CRLF or CR; ``data`` lines join with LF;
``:`` lines are comments; a blank line dispatches). Bytes in, :class:`SseMessage` values out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import RemoteProtocolError

__all__ = ["SseMessage", "SseDecoder", "encode_event", "MAX_SSE_LINE"]

MAX_SSE_LINE = 64 * 1024 * 1024  # one data line holds a whole response object: bound it all the same


def encode_event(event: dict[str, Any]) -> bytes:
    """One event as an SSE block: its ``type`` as the ``event:`` field, its JSON as one ``data:`` line."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched message: the ``event:`` name ("message" when absent) and the joined ``data``."""

    event: str
    data: str


class SseDecoder:
    """Feed bytes as they arrive; get the messages they complete."""

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self.bytes_in = 0

    def feed(self, chunk: bytes) -> list[SseMessage]:
        self.bytes_in += len(chunk)
        buf = self._buf + chunk if self._buf else chunk
        out: list[SseMessage] = []
        pos = 0
        while True:
            cut, skip = _line_end(buf, pos)
            if cut < 0:
                self._buf = buf[pos:]
                if len(self._buf) > MAX_SSE_LINE:
                    raise RemoteProtocolError(f"SSE line longer than {MAX_SSE_LINE} bytes")
                return out
            msg = self._line(buf[pos:cut].decode("utf-8", errors="replace"))
            pos = cut + skip
            if msg is not None:
                out.append(msg)

    def _line(self, line: str) -> SseMessage | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            msg = SseMessage(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return msg
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None  # id, retry and unknown fields carry nothing here

    @property
    def pending(self) -> bool:
        """True when a message was started but not dispatched (the body ended mid-message)."""
        return bool(self._data or self._buf.strip())


def _line_end(buf: bytes, pos: int) -> tuple[int, int]:
    """Index of the first line end in ``buf`` from ``pos`` and its length (CRLF is one), or (-1, 0)."""
    lf, cr = buf.find(b"\n", pos), buf.find(b"\r", pos)
    if cr < 0:
        return lf, 1 if lf >= 0 else 0
    if 0 <= lf < cr:
        return lf, 1
    if cr == len(buf) - 1:
        return -1, 0  # a CR at the end may be the first half of a CRLF
    return cr, 2 if buf[cr + 1 : cr + 2] == b"\n" else 1
