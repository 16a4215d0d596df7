"""Reference server throughput: server events/s (one core) and the client's parsed events/s (one core).

Usage: ``python benchmarks/bench_server.py [--connections 4] [--duration 3] [--tokens 20000]``

1. Server events/s: one server process (pinned to one core, pacing off: ``--tokens-per-s 1e9``, one
   token per delta) streams large text turns to N connections held by a separate load process (pinned
   to another core when there is one). The load process reads frames with a minimal raw-socket frame
   counter, so the client is not the bottleneck. Median of ``--runs`` runs.
2. Client parsed events/s: ``loadtests.protocol.Conversation.receive_text`` over a captured stream,
   pure CPU, median of 5.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TERMINAL = (b'"response.completed"', b'"response.incomplete"', b'"error"')


def _pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(pid, {core})


def start_server(extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    argv = [
        sys.executable,
        "-m",
        "loadtests.server",
        "--port",
        "0",
        "--tokens-per-s",
        "1e9",
        "--tokens-per-delta",
        "1",
        "--ttft-base-ms",
        "0",
        "--ttft-per-1k-uncached-ms",
        "0",
        "--ttft-per-1k-cached-ms",
        "0",
        "--log-level",
        "WARNING",
        "--seed",
        "1",
        *extra,
    ]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    _pin(proc.pid, 0)
    return proc, int(line.rsplit(":", 1)[1])


class RawConnection:
    """A minimal WebSocket client: handshake, masked text sends, and a frame counter (no JSON parsing)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("handshake failed")
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        self.sock.setblocking(False)
        self.frames = 0
        self.capture: list[bytes] | None = None

    def send_text(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        header = bytes([0x81]) + (
            bytes([0x80 | n])
            if n < 126
            else bytes([0x80 | 126]) + n.to_bytes(2, "big")
            if n < 65536
            else bytes([0x80 | 127]) + n.to_bytes(8, "big")
        )
        self.sock.setblocking(True)
        self.sock.sendall(header + b"\x00\x00\x00\x00" + data)  # a zero mask leaves the payload as is
        self.sock.setblocking(False)

    def pump(self) -> int:
        """Read what is available; returns how many turns ended."""
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return 0
        if not chunk:
            raise ConnectionError("server closed")
        buf = self.buf + chunk
        pos, ended, size = 0, 0, len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            self.frames += 1
            head = buf[start : start + 40]
            if self.capture is not None:
                self.capture.append(buf[start:end])
            if any(t in head for t in TERMINAL):
                ended += 1
            pos = end
        self.buf = buf[pos:]
        return ended


def _create(tokens: int) -> str:
    return json.dumps(
        {
            "type": "response.create",
            "model": "bench",
            "input": "go",
            "store": False,
            "metadata": {"agentsoak_output_tokens": tokens, "agentsoak_tool_call": "no"},
        }
    )


def load(port: int, connections: int, duration: float, tokens: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Keep one turn in flight per connection for ``duration`` seconds; report (frames, seconds)."""
    _pin(os.getpid(), 1)
    conns = [RawConnection(port) for _ in range(connections)]
    create = _create(tokens)
    for c in conns:
        c.send_text(create)
    by_fd = {c.sock.fileno(): c for c in conns}
    start = time.perf_counter()
    deadline = start + duration
    while time.perf_counter() < deadline:
        ready, _, _ = select.select(list(by_fd), [], [], 0.5)
        for fd in ready:
            conn = by_fd[fd]
            for _ in range(conn.pump()):
                conn.send_text(create)
    elapsed = time.perf_counter() - start
    out.put((sum(c.frames for c in conns), elapsed))
    for c in conns:
        c.sock.close()


def server_events_per_s(args: argparse.Namespace) -> list[float]:
    rates = []
    for _ in range(args.runs):
        proc, port = start_server(args.server_arg or [])
        try:
            out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
            worker = mp.Process(target=load, args=(port, args.connections, args.duration, args.tokens, out))
            worker.start()
            frames, elapsed = out.get(timeout=args.duration + 30)
            worker.join(10)
            rates.append(frames / elapsed)
        finally:
            proc.kill()
            proc.wait()
    return rates


def capture_turn(tokens: int) -> list[bytes]:
    proc, port = start_server([])
    try:
        conn = RawConnection(port)
        conn.capture = []
        conn.send_text(_create(tokens))
        ended = 0
        while not ended:
            select.select([conn.sock], [], [], 5)
            ended = conn.pump()
        return conn.capture
    finally:
        proc.kill()
        proc.wait()


def client_events_per_s(frames: list[bytes], repeats: int) -> list[float]:
    from loadtests.protocol import Conversation

    _pin(os.getpid(), 1)
    texts = [f.decode() for f in frames]
    rates = []
    for _ in range(5):
        conv = Conversation(store=False)
        start = time.perf_counter()
        for i in range(repeats):
            conv.begin_turn([{"type": "message", "role": "user", "content": "go"}], 0.0, turn_id=f"t{i}")
            result = None
            for text in texts:
                result = conv.receive_text(text, 0.0)
            assert result is not None and result.outcome == "completed", result
        rates.append(len(texts) * repeats / (time.perf_counter() - start))
    return rates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=4, help="concurrent connections (default %(default)s)")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per run (default %(default)s)")
    p.add_argument("--tokens", type=int, default=20000, help="output tokens per turn (default %(default)s)")
    p.add_argument(
        "--runs", type=int, default=3, help="server runs; the median is reported (default %(default)s)"
    )
    p.add_argument("--server-arg", action="append", help="extra flag for the server (repeatable)")
    args = p.parse_args(argv)
    rates = server_events_per_s(args)
    print(
        f"server events/s (1 core, {args.connections} connections, {args.tokens}-token turns, K=1): "
        f"median {statistics.median(rates):,.0f}  runs {', '.join(f'{r:,.0f}' for r in rates)}"
    )
    frames = capture_turn(2000)
    client = client_events_per_s(frames, repeats=20)
    print(
        f"client parsed events/s (Conversation.receive_text, 1 core, {len(frames)}-event turns): "
        f"median {statistics.median(client):,.0f}  runs {', '.join(f'{r:,.0f}' for r in client)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
