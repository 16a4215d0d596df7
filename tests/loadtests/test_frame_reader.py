"""The bulk frame reader: every message websocket-client would return, from any split of the stream."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtests.frame_reader import BINARY, CLOSE, CONT, PING, PONG, TEXT, FrameReader


def frame(op: int, payload: bytes, *, fin: bool = True, masked: bool = False, rsv: int = 0) -> bytes:
    """One frame as a server sends it (unmasked unless told)."""
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    mask = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, mask | n])
    elif n < 65536:
        head = bytes([b0, mask | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask | 127]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if masked else b"") + payload


class Peer:
    """A real socketpair: the reader's end reads at most ``sizes`` bytes per recv, in turn."""

    def __init__(self, sizes: list[int] | None = None) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.sizes = list(sizes or [])
        self.pongs: list[bytes] = []
        self.closes = 0
        self.sock = self  # FrameReader reads ws.sock

    def recv(self, n: int) -> bytes:
        if self.sizes:
            n = min(n, self.sizes.pop(0) or 1)
        return self.ours.recv(n)

    def pong(self, payload: bytes) -> None:
        self.pongs.append(payload)

    def send_close(self) -> None:
        self.closes += 1

    def feed(self, data: bytes) -> None:
        threading.Thread(target=self._send, args=(data,), daemon=True).start()  # larger than the buffer

    def _send(self, data: bytes) -> None:
        try:
            self.theirs.sendall(data)
            self.theirs.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the reader stopped early (a protocol error) and closed its end

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()


def read_all(peer: Peer) -> list[tuple[int, bytes]]:
    reader = FrameReader(peer)  # type: ignore[arg-type]
    out = []
    try:
        for _ in range(10_000):
            out.append(reader.read())
    except websocket.WebSocketConnectionClosedException:
        pass
    return out


message = st.tuples(st.sampled_from([TEXT, BINARY]), st.binary(max_size=300), st.integers(1, 4))
control = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(message, control), max_size=12), st.lists(st.integers(1, 70), max_size=200))
def test_any_stream_split_anywhere_reads_back_as_sent(items, sizes):
    """Messages (fragmented into up to 4 frames, a ping or pong between them) survive any recv split."""
    wire, expected = b"", []
    for item in items:
        if item[0] in (PING, PONG):
            wire += frame(item[0], item[1])
            expected.append(item[:2])
            continue
        op, data, parts = item
        cuts = [len(data) * i // parts for i in range(parts + 1)]
        pieces = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        for i, piece in enumerate(pieces):
            wire += frame(op if i == 0 else CONT, piece, fin=i == len(pieces) - 1)
            if i == 0 and len(pieces) > 1:
                wire += frame(PING, b"mid")  # control frames may come between fragments
                expected.append((PING, b"mid"))
        expected.append((op, data))
    peer = Peer(sizes)
    try:
        peer.feed(wire)
        got = read_all(peer)
    finally:
        peer.close()
    assert got == expected  # the in-between ping comes back before the message it interrupted
    assert peer.pongs == [p for op, p in got if op == PING]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 1_000_000])
def test_every_length_encoding(size):
    peer = Peer()
    try:
        peer.feed(frame(TEXT, b"x" * size) + frame(CLOSE, struct.pack("!H", 1000)))
        got = read_all(peer)
    finally:
        peer.close()
    assert got == [(TEXT, b"x" * size), (CLOSE, struct.pack("!H", 1000))]
    assert peer.closes == 1  # a Close is answered with a Close


@pytest.mark.parametrize("wire, says", [
    (frame(TEXT, b"hi", masked=True), "masked"),
    (frame(TEXT, b"hi", rsv=0x40), "reserved bits"),
    (frame(PING, b"x" * 126), "control frame"),
    (frame(PING, b"x", fin=False), "control frame"),
    (frame(CONT, b"x"), "continuation"),
    (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "new message"),
    (frame(0x3, b"x"), "unknown opcode"),
])
def test_a_frame_that_breaks_rfc_6455_is_a_protocol_error_that_says_why(wire, says):
    peer = Peer()
    try:
        peer.feed(wire)
        with pytest.raises(websocket.WebSocketProtocolException, match=says):
            FrameReader(peer).read()  # type: ignore[arg-type]
    finally:
        peer.close()


def test_an_idle_reader_keeps_no_chunk():
    peer = Peer()
    try:
        peer.feed(frame(TEXT, b"a") + frame(TEXT, b"b"))
        reader = FrameReader(peer)  # type: ignore[arg-type]
        assert reader.read() == (TEXT, b"a")
        assert reader.buffered()  # the second frame came in the same recv
        assert reader.read() == (TEXT, b"b")
        assert not reader.buffered() and reader._buf == b""
    finally:
        peer.close()
