"""The server's cork: text frames written together, in order, with backpressure, over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from loadtests.frame_reader import TEXT, FrameReader
from loadtests.server.cork import Cork


class _Raw:
    """The reading end as FrameReader wants it (ws.sock), on a real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def pong(self, payload: bytes) -> None: ...

    def send_close(self) -> None: ...


async def _pair(*, small: bool = False) -> tuple[asyncio.Transport, socket.socket]:
    """A connected transport (the server's side) and the plain socket at the other end; ``small``:
    64 KB kernel buffers, so backpressure reaches the transport soon."""
    listener = socket.create_server(("127.0.0.1", 0))
    if small:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the accepted socket inherits it
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, *listener.getsockname())
    if small:
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer, _ = listener.accept()
    listener.close()
    return transport, peer  # type: ignore[return-value]


def _read(peer: socket.socket, n: int) -> list[tuple[int, bytes]]:
    reader = FrameReader(_Raw(peer))  # type: ignore[arg-type]
    return [reader.read() for _ in range(n)]


def test_frames_sent_in_one_loop_iteration_go_out_together_and_in_order():
    async def main() -> list[tuple[int, bytes]]:
        transport, peer = await _pair()
        cork = Cork(transport, asyncio.get_running_loop())
        payloads = [b'{"n":%d}' % i + b"x" * (i % 300) for i in range(2000)]
        for p in payloads[:100]:
            await cork.send(p)
        assert cork.pending > 0  # nothing written yet: the loop has not run
        for p in payloads[100:]:
            await cork.send(p)
        await asyncio.sleep(0)  # the loop runs: everything pending goes out
        assert cork.pending == 0
        got = await asyncio.to_thread(_read, peer, len(payloads))
        transport.close()
        peer.close()
        assert got == [(TEXT, p) for p in payloads]
        return got

    assert len(asyncio.run(main())) == 2000


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding_reads_back(size):
    async def main() -> list[tuple[int, bytes]]:
        transport, peer = await _pair()
        cork = Cork(transport, asyncio.get_running_loop())
        await cork.send(b"y" * size)
        cork.flush()
        got = await asyncio.to_thread(_read, peer, 1)
        transport.close()
        peer.close()
        return got

    assert asyncio.run(main()) == [(TEXT, b"y" * size)]


def test_a_closing_transport_refuses_like_aiohttp():
    async def main() -> None:
        transport, peer = await _pair()
        cork = Cork(transport, asyncio.get_running_loop())
        transport.close()
        with pytest.raises(ConnectionResetError):
            await cork.send(b"late")
        peer.close()

    asyncio.run(main())


def test_a_peer_that_does_not_read_holds_the_sender_with_a_bounded_buffer():
    """8 MB to a peer that reads nothing: the sender waits, the transport buffer stays near its mark."""

    async def main() -> None:
        transport, peer = await _pair(small=True)
        _, high = transport.get_write_buffer_limits()
        cork = Cork(transport, asyncio.get_running_loop())
        seen: list[int] = []

        async def flood() -> None:
            for _ in range(8 * 1024):
                await cork.send(b"z" * 1024)
                seen.append(transport.get_write_buffer_size())

        task = asyncio.create_task(flood())
        await asyncio.sleep(0.5)
        assert not task.done()  # held by backpressure (the kernel holds a few hundred KB at most)
        assert max(seen) <= high + 65536 + 2048
        drained = threading.Event()

        def drain() -> None:
            total = 0
            while total < 8 * 1024 * 1028:  # 8,192 frames of a 4-byte header and 1 KB
                chunk = peer.recv(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
            drained.set()

        threading.Thread(target=drain, daemon=True).start()
        await asyncio.wait_for(task, 30)
        cork.flush()
        await asyncio.to_thread(drained.wait, 30)
        assert drained.is_set()
        transport.close()
        peer.close()

    asyncio.run(main())

