"""Parked readers under gevent, as in Locust: an idle agent holds no greenlet and still sees everything.

Each case runs in a fresh interpreter patched by gevent (pytest's own process is never patched;
``import locust`` would patch it), against a real reference server or a silent WebSocket peer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadtests.parking import parker
from loadtests.run import ReferenceServer

_PROBE = r"""
from gevent import monkey; monkey.patch_all()
import base64, gc, hashlib, json, socket, sys, threading, time
import gevent, greenlet
from loadtests.agent import Agent, ReconnectPolicy, TransportConfig
from loadtests.protocol import Conversation
from loadtests.sink import MemorySink

mode, url = sys.argv[1], sys.argv[2]
USER = {"type": "message", "role": "user", "content": "hello"}

def live():
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead)

def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())

def turn(agent, i):
    return agent.run_turn([USER], turn_id=f"{agent.id}/s1/t{i}", session=1, index=i).ok

def silent_peer():
    # accepts the upgrade, then reads and never answers (no pong): a half-open socket's view
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
    def serve():
        conn, _ = srv.accept()
        req = b""
        while b"\r\n\r\n" not in req:
            req += conn.recv(4096)
        key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
        acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        while conn.recv(4096):
            pass
    threading.Thread(target=serve, daemon=True).start()
    return f"ws://127.0.0.1:{srv.getsockname()[1]}/v1/responses"

out = {}
if mode == "idle":
    n = 40
    sink = MemorySink()
    cfg = TransportConfig(url=url, ping_interval=0.2, ping_timeout=5.0,
                          reconnect=ReconnectPolicy(max_retries=20, base_delay=0.05, max_delay=0.5))
    before = live()
    agents = [Agent(f"agent-{i:04d}", cfg, sink, index=i, conversation_factory=lambda: Conversation(store=True))
              for i in range(1, n + 1)]
    for a in agents:
        a.start(wait=10)
    running = [gevent.spawn(turn, a, 0) for a in agents]  # at once: their readers park between frames
    gevent.joinall(running)
    out["first"] = sum(1 for g in running if g.value)
    out["parked"] = wait(lambda: all(a._link is not None and a._link.parker.parked for a in agents), 10)
    rx = [a._link.last_rx for a in agents]
    time.sleep(1.0)  # about five pings each; only a pong moves last_rx now, read by a resumed reader
    out["pinged"] = sum(1 for a, r in zip(agents, rx) if a._link.last_rx > r)
    out["extra_greenlets"] = live() - before
    out["still_parked"] = sum(1 for a in agents if a._link.parker.parked)
    out["second"] = sum(turn(a, 2) for a in agents)
    out["disconnects_before_kill"] = len(sink.of("disconnect"))
    print(json.dumps(out), flush=True)
    sys.stdin.readline()  # the test kills the server now: every parked reader must see its socket die
    out["seen"] = wait(lambda: len(sink.of("disconnect")) >= n, 15)
    out["reconnected"] = wait(lambda: sum(1 for e in sink.of("connect_ok") if e.reason == "reconnect") >= n, 30)
    out["third"] = sum(turn(a, 3) for a in agents)
    for a in agents:
        a.stop()
    # parked readers wake for the server's reply to our Close and finish the socket at once
    out["closed"] = wait(lambda: all(a._link is None for a in agents), 0.9)
elif mode == "silent":
    sink = MemorySink()
    cfg = TransportConfig(url=silent_peer(), ping_interval=0.2, ping_timeout=0.5,
                          reconnect=ReconnectPolicy(max_retries=0, base_delay=5, max_delay=5))
    agent = Agent("agent-0001", cfg, sink, index=1)
    agent.start(wait=10)
    out["parked"] = wait(lambda: agent._link is not None and agent._link.parker.parked, 5)
    out["seen"] = wait(lambda: sink.of("disconnect"), 10)
    d = sink.of("disconnect")[0]
    out["detected"], out["silent_ms"] = d.detected, d.silent_ms
    agent.stop()
print(json.dumps(out), flush=True)
"""


def _probe(mode: str, url: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _PROBE, mode, url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_without_gevent_there_is_nothing_to_park():
    assert parker() is None  # pytest's process is not patched: readers block on their own threads


def test_idle_agents_park_answer_pings_see_a_dead_server_and_reconnect():
    server = ReferenceServer(["--seed", "3", "--tokens-per-s", "4000"])
    proc = _probe("idle", server.url)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline() or "{}")
        assert first, proc.stderr.read() if proc.poll() is not None else "no output"
        assert first["first"] == 40 and first["parked"] is True
        assert first["pinged"] == 40, first  # the wheel pinged every socket and every pong was read
        assert first["extra_greenlets"] <= 5, first  # 40 idle agents: no reader or keepalive greenlet each
        assert first["second"] == 40 and first["disconnects_before_kill"] == 0
        server.kill()
        server.restart()
        proc.stdin.write("\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    last = json.loads(out.strip().splitlines()[-1])
    assert last["seen"] and last["reconnected"], err
    assert last["third"] == 40
    assert last["closed"], "a stopped agent's socket stayed open"


def test_a_parked_reader_is_woken_when_the_wheel_kills_a_silent_socket():
    """No pong: the wheel kills the socket, the parked reader wakes and records a ping_timeout."""
    proc = _probe("silent")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["parked"] is True and last["seen"]
    assert last["detected"] == "ping_timeout"
    assert last["silent_ms"] >= 500  # not before the pong's deadline
    assert last["silent_ms"] < 5000


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
