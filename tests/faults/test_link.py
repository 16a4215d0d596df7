"""Each toxic measured on real loopback TCP through the embedded proxy (spec §5-8).

Lower bounds are what the toxic promises and stay exact; the slack above them is the machine's
(scheduling on a loaded host), written in ``MS`` (tests/timing.py).
"""

from __future__ import annotations

import select
import socket
import time

import pytest

from tests.timing import MS

from .conftest import connect, port_of, read_until_closed, recv_exactly, roundtrip

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def proxy(api, echo):
    return api.create_proxy("echo", echo)


def test_passthrough(api, proxy):
    with connect(proxy) as s:
        assert roundtrip(s, b"x" * 100_000) < 1000 * MS


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_adds_the_set_delay(api, proxy, stream):
    with connect(proxy) as s:
        base = min(roundtrip(s, b"ping") for _ in range(3))
        api.add_toxic("echo", "latency", stream=stream, attributes={"latency": 100})  # live connection
        took = [roundtrip(s, b"ping") for _ in range(3)]
    assert base < 100 * MS
    assert all(0.095 <= t <= 0.100 + 200 * MS for t in took), took


def test_latency_jitter_spreads_around_the_delay(api, proxy):
    api.add_toxic("echo", "latency", attributes={"latency": 100, "jitter": 50})
    with connect(proxy) as s:
        took = [roundtrip(s, b"ping") for _ in range(8)]
    assert all(0.045 <= t <= 0.150 + 200 * MS for t in took), took
    assert max(took) - min(took) > 0.01, took


def test_latency_keeps_throughput_of_back_to_back_chunks(api, proxy):
    api.add_toxic("echo", "latency", attributes={"latency": 100})
    with connect(proxy) as s:
        t0 = time.monotonic()
        for _ in range(20):
            s.sendall(b"x" * 10)
            time.sleep(0.005)
        recv_exactly(s, 200)
        took = time.monotonic() - t0
    assert took < 0.100 + 0.1 + 600 * MS, took  # not 20 x 100 ms


def test_bandwidth_holds_the_rate(api, proxy):
    api.add_toxic("echo", "bandwidth", attributes={"rate": 200})  # 200 KB/s = 200,000 B/s
    payload = b"b" * 100_000
    with connect(proxy) as s:
        t0 = time.monotonic()
        s.sendall(payload)
        recv_exactly(s, len(payload))
        took = time.monotonic() - t0
    expected = len(payload) / 200_000
    # Never over the rate by 15% (the code's promise); under it only by what a loaded host adds.
    assert expected / 1.15 <= took <= expected / 0.85 + 300 * MS, (took, expected)


def _send_until_closed(s: socket.socket, payload: bytes) -> tuple[bytes, str, float]:
    """Send ``payload`` and read until the proxy closes: (data, how, seconds since the send)."""
    t0 = time.monotonic()
    s.sendall(payload)
    data, how = read_until_closed(s)
    return data, how, time.monotonic() - t0


def test_timeout_drops_data_and_closes_after_inactivity(api, proxy):
    api.add_toxic("echo", "timeout", attributes={"timeout": 300})
    with connect(proxy) as s:
        data, how, took = _send_until_closed(s, b"lost")
    assert (data, how) == (b"", "eof")
    assert 0.28 <= took <= 0.3 + 500 * MS, took


def test_timeout_zero_never_closes_and_removal_closes(api, proxy):
    api.add_toxic("echo", "timeout", attributes={"timeout": 0}, toxicity=0.0)  # draw: noop
    api.add_toxic("echo", "timeout", name="t0", stream="upstream", attributes={"timeout": 0})
    with connect(proxy, timeout=0.3) as s:
        s.sendall(b"x")
        assert read_until_closed(s) == (b"", "timeout")
        s.settimeout(3)
        api.remove_toxic("echo", "timeout_downstream")  # closes even where the draw was noop
        assert read_until_closed(s) == (b"", "eof")


def test_reset_peer_gives_econnreset(api, proxy):
    api.add_toxic("echo", "reset_peer", stream="upstream", attributes={"timeout": 100})
    with connect(proxy) as s:
        data, how, took = _send_until_closed(s, b"boom")
    assert (data, how) == (b"", "reset")
    assert 0.09 <= took <= 0.1 + 500 * MS, took


def test_reset_peer_waits_for_data_and_is_cancellable(api, proxy):
    timeout = 1.5  # long enough that a removal waiting for the timer cannot pass for a quick one
    api.add_toxic("echo", "reset_peer", stream="upstream", attributes={"timeout": int(timeout * 1000)})
    with connect(proxy) as s:
        time.sleep(timeout + 0.1)  # longer than the timeout, but no data yet: no reset
        assert select.select([s], [], [], 0)[0] == []
        s.sendall(b"first")  # dropped; reset scheduled in 1.5 s
        sent = time.monotonic()
        time.sleep(0.1)
        t0 = time.monotonic()
        api.remove_toxic("echo", "reset_peer_upstream")  # does not wait for the timer
        assert time.monotonic() - t0 < 0.2 + 500 * MS
        assert roundtrip(s, b"after") < 0.1 + 300 * MS
        time.sleep(max(0.0, sent + timeout + 0.3 - time.monotonic()))  # past the cancelled reset
        assert roundtrip(s, b"still") < 0.1 + 300 * MS


def test_slicer_splits_writes(api, proxy):
    # 40 ms between writes: a reader late by less than that still sees each write on its own.
    api.add_toxic("echo", "slicer", attributes={"average_size": 10, "size_variation": 4, "delay": 40_000})
    payload = bytes(range(100))
    with connect(proxy) as s:
        s.sendall(payload)
        reads: list[bytes] = []
        for _ in range(len(payload)):  # at most one read per byte
            if sum(map(len, reads)) >= len(payload):
                break
            reads.append(s.recv(4096))
            assert reads[-1], f"EOF after {reads}"
    assert b"".join(reads) == payload
    assert len(reads) >= 6, [len(r) for r in reads]
    assert max(map(len, reads)) <= 30, [len(r) for r in reads]


def test_limit_data_closes_after_n_bytes(api, proxy):
    api.add_toxic("echo", "limit_data", attributes={"bytes": 10})
    with connect(proxy) as s:
        s.sendall(b"0123456789abcdef")
        assert read_until_closed(s) == (b"0123456789", "eof")


def test_limit_data_zero_forwards_nothing(api, proxy):
    api.add_toxic("echo", "limit_data", stream="upstream", attributes={"bytes": 0})
    with connect(proxy) as s:
        s.sendall(b"abc")
        assert read_until_closed(s) == (b"", "eof")


def test_slow_close_delays_the_close(api, closer):
    p = api.create_proxy("closer", closer)
    with connect(p) as s:
        t0 = time.monotonic()
        assert read_until_closed(s) == (b"bye", "eof")
        fast = time.monotonic() - t0
    api.add_toxic("closer", "slow_close", attributes={"delay": 300})
    with connect(p) as s:
        t0 = time.monotonic()
        assert read_until_closed(s) == (b"bye", "eof")
        slow = time.monotonic() - t0
    assert fast < 250 * MS and 0.28 <= slow <= 0.3 + 500 * MS, (fast, slow)


def test_down_refuses_new_and_cuts_live_connections(api, proxy):
    live = connect(proxy)
    assert roundtrip(live, b"x") < 500 * MS
    timer = api.down_for("echo", 1.5)  # a window wide enough to be inside on a loaded host
    assert read_until_closed(live) == (b"", "eof")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port_of(proxy)), timeout=1)
    assert timer.wait(5)
    assert api.get_proxy("echo")["listen"] == proxy["listen"]
    with connect(proxy) as s:
        assert roundtrip(s, b"back") < 500 * MS
    live.close()


def test_unreachable_upstream_closes_the_client(api):
    p = api.create_proxy("dead", "127.0.0.1:1")
    with connect(p) as s:
        assert read_until_closed(s) == (b"", "eof")


SEEDED_LATENCY_MS = 800


def _slow_pattern(socks: list[socket.socket]) -> tuple[bool, ...]:
    """Echo one byte on each socket: which replies are still missing at half the toxic's latency.

    A reply without the toxic needs well under 400 ms even on a loaded host; one with it needs 800 ms.
    All replies are then read.
    """
    for s in socks:
        s.sendall(b"?")
    time.sleep(SEEDED_LATENCY_MS / 2000)
    ready, _, _ = select.select(socks, [], [], 0)
    out = tuple(s not in ready for s in socks)
    for s in socks:
        s.settimeout(2)
        s.recv(1)
    return out


def test_toxicity_is_drawn_per_connection_seeded_and_kept_across_updates(api, echo):
    def run() -> tuple[bool, ...]:
        p = api.create_proxy("seeded", echo)
        api.add_toxic("seeded", "latency", toxicity=0.5, attributes={"latency": SEEDED_LATENCY_MS})
        socks = [connect(p) for _ in range(16)]
        pattern = _slow_pattern(socks)
        for s in socks:
            s.close()
        api.delete_proxy("seeded")
        return pattern

    first, second = run(), run()
    assert first == second  # same seed, same proxy name: same draws
    assert 2 <= sum(first) <= 14, first

    p = api.create_proxy("kept", echo)
    api.add_toxic("kept", "latency", toxicity=0.5, attributes={"latency": SEEDED_LATENCY_MS})
    socks = [connect(p) for _ in range(12)]
    before = _slow_pattern(socks)
    assert 0 < sum(before) < len(socks), before  # mixed, so a redraw would show
    api.update_toxic("kept", "latency_downstream", attributes={"latency": SEEDED_LATENCY_MS + 100})
    assert _slow_pattern(socks) == before  # the draw is kept across an update
    api.update_toxic("kept", "latency_downstream", toxicity=0.0)
    assert not any(_slow_pattern(socks))
    for s in socks:
        s.close()


def test_update_releases_the_chunk_in_flight(api, proxy):
    api.add_toxic("echo", "latency", attributes={"latency": 3000})
    with connect(proxy) as s:
        t0 = time.monotonic()
        s.sendall(b"x")
        time.sleep(0.1)
        api.update_toxic("echo", "latency_downstream", attributes={"latency": 0})
        recv_exactly(s, 1)
        assert time.monotonic() - t0 < 0.1 + 800 * MS  # not the 3 s latency
        api.update_toxic("echo", "latency_downstream", attributes={"latency": 3000})
        s.sendall(b"y")
        time.sleep(0.1)
        api.remove_toxic("echo", "latency_downstream")  # removal flushes without delay
        recv_exactly(s, 1)
        assert time.monotonic() - t0 < 0.2 + 1600 * MS


def test_stacked_latencies_add_up(api, proxy):
    api.add_toxic("echo", "latency", name="a", attributes={"latency": 60})
    api.add_toxic("echo", "latency", name="b", attributes={"latency": 60})
    with connect(proxy) as s:
        assert 0.115 <= roundtrip(s, b"x") <= 0.120 + 200 * MS
