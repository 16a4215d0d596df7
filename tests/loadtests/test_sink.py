"""Sinks: the test sink keeps everything; the no-run-dir sink keeps a bounded tail and counts."""

from __future__ import annotations

from loadtests.sink import MemorySink, RecentSink, ShiftedSink
from reports.ledger import schema as ev


def test_recent_sink_keeps_the_last_n_events_and_counts_every_one() -> None:
    """After N + k events memory holds exactly the last N, in order; the counts cover all N + k."""
    n, k = 50, 37
    sink = RecentSink(n)
    for i in range(n + k):
        sink(ev.AgentStart(agent=f"agent-{i:04d}", index=i + 1))
    sink(ev.TestStop())
    kept = sink.events
    assert len(kept) == n
    assert [e.index for e in kept[:-1]] == list(range(k + 2, n + k + 1))
    assert kept[-1].kind == "test_stop"
    assert sink.counts == {"agent_start": n + k, "test_stop": 1} and sink.total == n + k + 1


def test_memory_sink_still_keeps_everything_for_tests() -> None:
    sink = MemorySink()
    for i in range(3):
        sink(ev.AgentStart(agent=f"a{i}", index=i + 1))
    assert [e.agent for e in sink.of("agent_start")] == ["a0", "a1", "a2"]


def test_a_shifted_sink_moves_every_monotonic_stamp_and_nothing_else():
    inner = MemorySink()
    sink = ShiftedSink(inner, 100.0)
    start = ev.TestStart(users=3)
    rec = ev.Recovery(agent="agent-0001", conn="c", turn="t", mode=ev.RecoveryMode("cache_hit"),
                      disconnect_mono=5.0, reconnect_ms=12.0, attempts=1)
    sink(start)
    sink(rec)
    got_start, got_rec = inner.events
    assert got_start.mono == start.mono + 100.0 and got_start.t == start.t and got_start.users == 3
    assert got_rec.disconnect_mono == 105.0 and got_rec.reconnect_ms == 12.0 and got_rec.mono == rec.mono + 100.0
    assert start.mono != got_start.mono  # the caller's event is left as it was
