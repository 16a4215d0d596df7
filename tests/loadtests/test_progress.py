"""The progress line of a run: its format, the counters read from the ledger, and when it is printed
(redrawn in place on a terminal, one line per interval elsewhere), with a fake clock and no run."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from loadtests.progress import (
    FaultNote,
    LedgerTail,
    ProgressPrinter,
    Snapshot,
    format_clock,
    format_fault,
    format_status,
)
from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev

T0 = 1000.0  # the fake monotonic clock's test start


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Ledger:
    """A real ledger file of the run being watched, written event by event (and flushed at once)."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "run" / "ledger"
        self.dir.mkdir(parents=True)
        self.w = LedgerWriter(ledger_path(self.dir, "locust", 7), flush_interval=3600)

    def __call__(self, *events: ev.Event) -> None:
        for e in events:
            self.w(e)
        self.w.flush()

    def close(self) -> None:
        self.w.close()


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path)
    yield led
    led.close()


def connect(agent: str, n: int, reason: ev.ConnectReason, mono: float = T0) -> ev.ConnectOk:
    return ev.ConnectOk(agent=agent, conn=f"{agent}/c{n}", attempt=1, reason=reason, duration_ms=1.0, mono=mono)


def drop(agent: str, n: int, mono: float = T0) -> ev.Disconnect:
    return ev.Disconnect(agent=agent, conn=f"{agent}/c{n}", code=1006, closed_by=ev.ClosedBy.NETWORK,
                         detected=ev.Detector.EOF, recoverable=True, in_flight=None, silent_ms=0.0, mono=mono)


def turn(agent: str, outcome: ev.Outcome) -> ev.TurnEnd:
    return ev.TurnEnd(agent=agent, conn=f"{agent}/c1", turn=f"{agent}-t", attempt=1, outcome=outcome,
                      response_id=None, error_code=None, ttft_ms=1.0, duration_ms=2.0, output_tokens=1,
                      input_tokens=1, cached_tokens=0, gap_p50_ms=None, gap_p99_ms=None, tokens_per_s=None,
                      client_digest=None, server_digest=None, cache=None)


def apply(fault: str, ftype: str, mono: float, affected: int | None = None) -> ev.FaultApply:
    return ev.FaultApply(fault=fault, type=ftype, share=1.0, start_s=mono - T0, duration_s=0.0, attributes={},
                         affected=affected, mono=mono)


def remove(fault: str, ftype: str, mono: float) -> ev.FaultRemove:
    return ev.FaultRemove(fault=fault, type=ftype, mono=mono)


# -- the line ----------------------------------------------------------------------------------------

def test_clock_keeps_one_width_all_night():
    assert [format_clock(s) for s in (0, 5.9, 3725, 7200, -3)] == ["0:00:00", "0:00:05", "1:02:05", "2:00:00",
                                                                   "0:00:00"]


def test_status_line_names_every_counter():
    snap = Snapshot(elapsed_s=750, total_s=7200, agents=1000, connected=998, turns=123456, failed_turns=12,
                    reconnects=2001, disconnects=2003, active_faults=(("slow#3", "latency"),), planned_faults=40)
    assert format_status(snap) == (
        "[agentsoak] 0:12:30/2:00:00  10% | agents 998/1,000 connected | turns 123,456 (12 failed) | "
        "reconnects 2,001 (disconnects 2,003) | faults 1 active: slow#3 (latency), 40 planned")


def test_status_line_before_the_test_starts_and_with_many_faults():
    quiet = Snapshot(elapsed_s=3, total_s=60, started=False)
    assert format_status(quiet) == ("[agentsoak] starting | agents 0/0 connected | turns 0 | "
                                    "reconnects 0 (disconnects 0) | faults none active")
    busy = Snapshot(elapsed_s=90, total_s=60, active_faults=tuple((f"f{i}", "latency") for i in range(5)))
    line = format_status(busy)
    assert "0:01:30/0:01:00 100%" in line  # an overrun stops at 100%
    assert line.endswith("faults 5 active: f0 (latency), f1 (latency), f2 (latency), +2 more")


def test_faults_fired_since_the_last_line_are_named_and_capped():
    fired = [FaultNote(T0, f"drop#{i}", "close", "fired") for i in range(7)]
    line = format_status(Snapshot(elapsed_s=30, total_s=60), fired)
    assert line.endswith("| since last line: drop#0 fired, drop#1 fired, drop#2 fired, drop#3 fired, "
                         "drop#4 fired, +2 more")
    assert format_fault(FaultNote(T0, "drop#0", "close", "fired", "20 affected"), 5.2) == (
        "[agentsoak] 0:00:05 fault drop#0 (close) fired (20 affected)")
    assert format_fault(FaultNote(T0, "slow#0", "latency", "failed", "HTTP 500"), 61) == (
        "[agentsoak] 0:01:01 fault slow#0 (latency) failed: HTTP 500")


# -- the counters ------------------------------------------------------------------------------------

def test_counters_come_from_the_ledger(ledger):
    tail = LedgerTail(ledger.dir)
    ledger(ev.TestStart(users=2, mono=T0), ev.AgentStart(agent="agent-0001"), ev.AgentStart(agent="agent-0002"),
           connect("agent-0001", 1, ev.ConnectReason.INITIAL), connect("agent-0002", 1, ev.ConnectReason.INITIAL),
           turn("agent-0001", ev.Outcome.COMPLETED), turn("agent-0002", ev.Outcome.FAILED),
           drop("agent-0001", 1), connect("agent-0001", 2, ev.ConnectReason.RECONNECT),
           drop("agent-0002", 1))
    tail.poll()
    snap = tail.snapshot(T0 + 20, 60, 2, fallback_start=0.0)
    assert (snap.agents, snap.connected, snap.turns, snap.failed_turns, snap.reconnects, snap.disconnects) == (
        2, 1, 2, 1, 1, 2)
    assert snap.started and snap.elapsed_s == 20
    ledger(ev.TestStop(mono=T0 + 60))
    tail.poll()
    assert tail.snapshot(T0 + 75, 60, 2, fallback_start=0.0).elapsed_s == 60  # the clock stops with the test


def test_an_instant_fault_fires_once_and_is_never_active(ledger):
    tail = LedgerTail(ledger.dir)
    ledger(apply("drop#0", "close", T0 + 5, affected=20))
    tail.poll()  # the poll falls between its apply and its remove
    assert tail.active_faults == {}
    ledger(remove("drop#0", "close", T0 + 5), apply("slow#0", "latency", T0 + 6))
    tail.poll()
    assert tail.active_faults == {"slow#0": "latency"}
    ledger(remove("slow#0", "latency", T0 + 9),
           ev.FaultError(fault="cut#0", type="down", error="proxy said 500", mono=T0 + 10))
    tail.poll()
    assert tail.active_faults == {}
    assert [(n.fault, n.what, n.detail) for n in tail.take_notes()] == [
        ("drop#0", "fired", "20 affected"), ("slow#0", "applied", ""), ("slow#0", "removed", ""),
        ("cut#0", "failed", "proxy said 500")]
    assert tail.take_notes() == []


# -- when it is printed ------------------------------------------------------------------------------

def printer(ledger: Ledger, out: io.StringIO, clock: Clock, **kw) -> ProgressPrinter:
    return ProgressPrinter(out, LedgerTail(ledger.dir), 60.0, planned_faults=1, clock=clock, started=T0, **kw)


def test_on_a_terminal_one_line_is_redrawn_in_place_and_faults_get_lines_as_they_fire(ledger):
    out, clock = io.StringIO(), Clock()
    p = printer(ledger, out, clock, tty=True, width=lambda: 200)
    ledger(ev.TestStart(users=1, mono=T0), ev.AgentStart(agent="agent-0001"))
    clock.now = T0 + 0.5
    p.tick()
    assert out.getvalue() == ""  # not a second yet
    clock.now = T0 + 1.0
    p.tick()
    assert out.getvalue() == ("\r[agentsoak] 0:00:01/0:01:00   2% | agents 0/1 connected | turns 0 | "
                              "reconnects 0 (disconnects 0) | faults none active, 1 planned\x1b[K")
    ledger(apply("drop#0", "close", T0 + 1.2, affected=1), remove("drop#0", "close", T0 + 1.2))
    out.seek(0), out.truncate()
    clock.now = T0 + 2.0
    p.tick()
    # the fault is on a line of its own (the status line cleared first), then the status line is redrawn
    assert out.getvalue().startswith("\r\x1b[K[agentsoak] 0:00:01 fault drop#0 (close) fired (1 affected)\n\r")
    assert "\n" not in out.getvalue().split("fired (1 affected)\n", 1)[1]
    p.message("[agentsoak] stopping now")
    assert out.getvalue().endswith("\x1b[K\r\x1b[K[agentsoak] stopping now\n")
    out.seek(0), out.truncate()
    clock.now = T0 + 3.0
    p.finish()
    assert out.getvalue().startswith("\r[agentsoak] 0:00:03/0:01:00") and out.getvalue().endswith("\x1b[K\n")


def test_on_a_terminal_the_line_never_wraps(ledger):
    out, clock = io.StringIO(), Clock()
    p = printer(ledger, out, clock, tty=True, width=lambda: 40)
    clock.now = T0 + 1
    p.tick()
    drawn = out.getvalue().removeprefix("\r").removesuffix("\x1b[K")
    assert len(drawn) == 39 and drawn.endswith("…")


def test_elsewhere_one_line_per_interval_naming_the_faults_fired_since(ledger):
    out, clock = io.StringIO(), Clock()
    p = printer(ledger, out, clock, tty=False, every_s=30.0)
    ledger(ev.TestStart(users=1, mono=T0))
    for step in range(1, 601):  # a minute, ticked every 0.1 s as the run loop does
        clock.now = T0 + step / 10
        if step == 400:
            ledger(apply("drop#0", "close", clock.now), remove("drop#0", "close", clock.now))
        p.tick()
    p.finish()
    lines = out.getvalue().splitlines(keepends=True)
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert [line.split(" | ")[0] for line in lines] == ["[agentsoak] 0:00:30/0:01:00  50%",
                                                         "[agentsoak] 0:01:00/0:01:00 100%",
                                                         "[agentsoak] 0:01:00/0:01:00 100%"]
    assert "since last line" not in lines[0] and lines[1].rstrip().endswith("since last line: drop#0 fired")
    assert "since last line" not in lines[2]


def test_a_two_hour_night_prints_240_lines_and_a_short_run_still_prints_its_last(ledger):
    out, clock = io.StringIO(), Clock()
    p = printer(ledger, out, clock, tty=False)
    for step in range(1, 7201):
        clock.now = T0 + step
        p.tick()
    p.finish()
    assert out.getvalue().count("\n") == 241
    short, clock = io.StringIO(), Clock()
    p = printer(ledger, short, clock, tty=False)
    clock.now = T0 + 6
    p.tick()
    p.finish()
    assert short.getvalue().count("\n") == 1


def test_the_policy_follows_the_stream(ledger):
    assert not printer(ledger, io.StringIO(), Clock()).tty
    primary, secondary = os.openpty()
    try:
        with open(secondary, "w", closefd=False) as term:
            p = printer(ledger, term, Clock())  # type: ignore[arg-type]
            assert p.tty and p.interval_s == 1.0
    finally:
        os.close(primary)
        os.close(secondary)
    with pytest.raises(ValueError, match="every_s must be positive"):
        printer(ledger, io.StringIO(), Clock(), every_s=0)
