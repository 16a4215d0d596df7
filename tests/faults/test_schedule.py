"""The fault timeline: planning repeats into windows, and playing them in order at the right times.

The backends here are in-memory recorders of the calls the schedule makes (the real Toxiproxy client
and admin API are exercised by the live integration tests); time is a fake clock advanced by the
injected ``sleep``.
"""

from __future__ import annotations

import threading
import time

import msgspec
import orjson
import pytest

from faults.schedule import (
    FAULT_KINDS,
    INSTANT_KINDS,
    FaultSchedule,
    FaultSpec,
    plan,
    planned_id,
    replayed,
    toxic_name,
)
from reports.ledger import LedgerWriter
from tests.timing import MS, wait_until


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


class RecordingToxics:
    def __init__(self, clock: FakeClock, fail: set[str] = frozenset()) -> None:
        self.clock = clock
        self.calls: list[tuple] = []
        self.fail = fail

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise RuntimeError(f"{op} refused")

    def add_toxic(self, proxy, type, *, name=None, stream="downstream", toxicity=1.0, attributes=None):
        self.calls.append((self.clock(), "add", proxy, type, name, stream, toxicity, attributes))
        self._maybe_fail("add")
        return {"name": name}

    def remove_toxic(self, proxy, name):
        self.calls.append((self.clock(), "remove", proxy, name))
        self._maybe_fail("remove")

    def set_enabled(self, name, enabled):
        self.calls.append((self.clock(), "enabled", name, enabled))
        self._maybe_fail("enabled")
        return {"name": name, "enabled": enabled}


class RecordingAdmin:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple] = []

    def __getattr__(self, op):
        def call(*args):
            self.calls.append((self.clock(), op, *args))
            return {"affected": 3} if op in ("close", "limit", "evict", "wipe_store") else {"active": True}

        return call


class Sink:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.events: list[tuple[float, str, dict]] = []

    def __call__(self, event) -> None:
        fields = msgspec.structs.asdict(event)
        for key in ("v", "pid", "t", "mono", "call_ms"):  # real-clock stamps; checked in the threaded test
            fields.pop(key, None)
        for key in ("affected", "hit"):  # only protocol faults report them
            if fields.get(key, 0) is None:
                del fields[key]
        if fields.get("manual") is False:  # only the web UI's actions are manual (tested in test_apply_now_*)
            del fields["manual"]
        self.events.append((self.clock(), event.kind, fields))

    def kinds(self) -> list[tuple[float, str, str]]:
        return [(t - 1000.0, kind, f["fault"]) for t, kind, f in self.events]


def make(specs, duration=100.0, *, fail=frozenset(), admin=True):
    clock = FakeClock()
    toxics = RecordingToxics(clock, fail)
    adm = RecordingAdmin(clock) if admin else None
    sink = Sink(clock)
    sched = FaultSchedule(
        plan(specs, duration), toxics=toxics, admin=adm, proxy_name="agents", sink=sink,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    return sched, toxics, adm, sink, clock


# -- plan ------------------------------------------------------------------------------------------


def test_plan_expands_repeats_until_the_test_ends():
    """An `every` entry repeats from `at` until the test's duration; ids count the repeats."""
    spec = FaultSpec("lat", "toxic", at_s=10, duration_s=5, every_s=30, type="latency")
    windows = plan([spec], 100)
    assert [(w.fault, w.start_s, w.end_s) for w in windows] == [
        ("lat#0", 10, 15), ("lat#1", 40, 45), ("lat#2", 70, 75),
    ]  # fmt: skip


def test_plan_orders_by_start_and_keeps_timeline_order_on_ties():
    a = FaultSpec("a", "close", at_s=20, code=1006)
    b = FaultSpec("b", "evict", at_s=5)
    c = FaultSpec("c", "limit", at_s=20)
    assert [w.fault for w in plan([a, b, c], 60)] == ["b#0", "a#0", "c#0"]


def test_plan_drops_late_faults_and_ends_open_ones_with_the_test():
    """Instant faults have no end; a standing fault without a duration ends with the test."""
    specs = [
        FaultSpec("late", "close", at_s=60, code=1001),
        FaultSpec("drop", "close", at_s=1, code=1006),
        FaultSpec("forever", "toxic", at_s=2, type="timeout"),
    ]
    windows = plan(specs, 60)
    assert [(w.fault, w.end_s) for w in windows] == [("drop#0", None), ("forever#0", 60)]


def test_toxic_name_is_safe_in_a_url_path():
    assert toxic_name("slow-link#0") == "slow-link_0"
    assert toxic_name("a/b c#12") == "a_b_c_12"


# -- playing ---------------------------------------------------------------------------------------


def test_toxic_is_added_at_start_and_removed_at_end_with_share_as_toxicity():
    spec = FaultSpec(
        "slow", "toxic", at_s=15, duration_s=10, share=0.4, type="latency", attributes={"latency": 250}
    )
    sched, toxics, _, sink, _ = make([spec])
    sched.run()
    assert toxics.calls == [
        (1015.0, "add", "agents", "latency", "slow_0", "downstream", 0.4, {"latency": 250}),
        (1025.0, "remove", "agents", "slow_0"),
    ]
    assert sink.kinds() == [(15.0, "fault_apply", "slow#0"), (25.0, "fault_remove", "slow#0")]
    apply = sink.events[0][2]
    assert apply == {
        "fault": "slow#0", "type": "latency", "share": 0.4, "start_s": 15, "duration_s": 10,
        "attributes": {"latency": 250, "stream": "downstream", "toxicity": 0.4},
    }  # fmt: skip
    assert sink.events[1][2] == {"fault": "slow#0", "type": "latency"}


def test_explicit_toxicity_wins_over_share():
    spec = FaultSpec(
        "t", "toxic", at_s=0, duration_s=1, share=1.0, toxicity=0.25, type="timeout", stream="upstream"
    )
    sched, toxics, _, _, _ = make([spec])
    sched.run()
    assert toxics.calls[0][5:7] == ("upstream", 0.25)


def test_down_disables_then_reenables_the_proxy():
    sched, toxics, _, sink, _ = make([FaultSpec("outage", "down", at_s=5, duration_s=3)])
    sched.run()
    assert toxics.calls == [(1005.0, "enabled", "agents", False), (1008.0, "enabled", "agents", True)]
    assert sink.kinds() == [(5.0, "fault_apply", "outage#0"), (8.0, "fault_remove", "outage#0")]


def test_instant_protocol_faults_record_apply_then_remove_at_once():
    specs = [
        FaultSpec("drop", "close", at_s=1, code=1006, share=0.5),
        FaultSpec("lim", "limit", at_s=2, share=0.25),
        FaultSpec("ev", "evict", at_s=3),
        FaultSpec("wipe", "wipe_store", at_s=4),
    ]
    sched, _, admin, sink, _ = make(specs)
    sched.run()
    assert admin.calls == [
        (1001.0, "close", 1006, 0.5), (1002.0, "limit", 0.25), (1003.0, "evict", 1.0), (1004.0, "wipe_store"),
    ]  # fmt: skip
    assert [k[:2] for k in sink.kinds()] == [
        (1.0, "fault_apply"), (1.0, "fault_remove"), (2.0, "fault_apply"), (2.0, "fault_remove"),
        (3.0, "fault_apply"), (3.0, "fault_remove"), (4.0, "fault_apply"), (4.0, "fault_remove"),
    ]  # fmt: skip
    first = sink.events[0][2]
    assert first["type"] == "close" and first["duration_s"] == 0.0 and first["affected"] == 3
    assert first["attributes"] == {"code": 1006}


def test_standing_protocol_faults_are_cleared_at_their_end():
    specs = [
        FaultSpec("st", "stall", at_s=10, duration_s=5, where="between_deltas", ms=3000, share=0.1),
        FaultSpec("rf", "refuse", at_s=20, duration_s=5, status=429, retry_after_s=5.0),
    ]
    sched, _, admin, _, _ = make(specs)
    sched.run()
    assert admin.calls == [
        (1010.0, "stall", "between_deltas", 3000, 0.1), (1015.0, "clear_stall"),
        (1020.0, "refuse", 429, 5.0, 1.0), (1025.0, "clear_refuse"),
    ]  # fmt: skip


def test_a_removal_precedes_an_apply_at_the_same_instant():
    """Back-to-back windows of one standing mode must not clear the new one."""
    specs = [
        FaultSpec("a", "stall", at_s=0, duration_s=10, where="first_event", ms=100),
        FaultSpec("b", "stall", at_s=10, duration_s=10, where="first_event", ms=200),
    ]
    sched, _, admin, _, _ = make(specs)
    sched.run()
    assert [c[1] for c in admin.calls] == ["stall", "clear_stall", "stall", "clear_stall"]
    assert [c[0] for c in admin.calls] == [1000.0, 1010.0, 1010.0, 1020.0]


def test_a_failing_apply_is_recorded_and_the_schedule_continues():
    specs = [
        FaultSpec("bad", "toxic", at_s=1, duration_s=2, type="latency"),
        FaultSpec("next", "close", at_s=5, code=1001),
    ]
    sched, _, admin, sink, _ = make(specs, fail={"add"})
    sched.run()
    assert [k[1:] for k in sink.kinds()] == [
        ("fault_error", "bad#0"), ("fault_apply", "next#0"), ("fault_remove", "next#0"),
    ]  # fmt: skip
    assert "add refused" in sink.events[0][2]["error"]
    assert sink.events[0][2]["type"] == "latency"
    assert admin.calls == [(1005.0, "close", 1001, 1.0)]


def test_a_failing_removal_is_recorded_as_an_error():
    sched, _, _, sink, _ = make([FaultSpec("t", "toxic", at_s=1, duration_s=2, type="noop")], fail={"remove"})
    sched.run()
    assert [k[1] for k in sink.kinds()] == ["fault_apply", "fault_error"]
    assert sched.active() == []


def test_protocol_fault_without_admin_api_is_an_error_not_a_crash():
    sched, _, _, sink, _ = make([FaultSpec("c", "close", at_s=0, code=1001)], admin=False)
    sched.run()
    assert sink.events[0][1] == "fault_error"
    assert "admin" in sink.events[0][2]["error"]


def test_a_failing_sink_does_not_stop_the_timeline():
    clock = FakeClock()
    toxics = RecordingToxics(clock)

    def broken_sink(kind, **fields):
        raise OSError("disk full")

    specs = [FaultSpec("a", "down", at_s=1, duration_s=1), FaultSpec("b", "down", at_s=5, duration_s=1)]
    sched = FaultSchedule(
        plan(specs, 10),
        toxics=toxics,
        admin=None,
        proxy_name="p",
        sink=broken_sink,
        clock=clock,
        sleep=clock.sleep,
    )
    sched.run()
    assert len(toxics.calls) == 4


def test_stop_removes_active_faults_once_and_ends_the_timeline():
    specs = [
        FaultSpec("forever", "toxic", at_s=1, type="timeout"),  # until the test ends
        FaultSpec("later", "down", at_s=50, duration_s=5),
    ]
    sched, toxics, _, sink, clock = make(specs)
    orig_sleep = clock.sleep

    def sleep(seconds):
        orig_sleep(seconds)
        if clock.now >= 1010:
            sched.stop()

    sched._sleep = sleep
    sched.run()
    assert sched.active() == []
    sched.stop()  # idempotent: nothing more is removed or recorded
    assert [k[1:] for k in sink.kinds()] == [("fault_apply", "forever#0"), ("fault_remove", "forever#0")]
    assert [c[1] for c in toxics.calls] == ["add", "remove"]
    assert sink.events[0][2]["duration_s"] == 99  # planned: until the test's end at 100 s


def test_active_lists_faults_in_effect():
    specs = [
        FaultSpec("a", "toxic", at_s=0, duration_s=10, type="noop"),
        FaultSpec("b", "down", at_s=5, duration_s=10),
    ]
    sched, _, _, _, clock = make(specs)
    seen = []
    orig_sleep = clock.sleep

    def sleep(seconds):
        seen.append((clock.now - 1000, tuple(sched.active())))
        orig_sleep(seconds)

    sched._sleep = sleep
    sched.run()
    assert (0.0, ("a#0",)) in seen and (5.0, ("a#0", "b#0")) in seen and (10.0, ("b#0",)) in seen
    assert sched.active() == []


def test_start_runs_in_a_thread_from_the_real_start_and_stop_interrupts_it(tmp_path):
    """With real time and a real ledger: an early fault is applied, stop() removes it at once."""
    toxics = RecordingToxics(FakeClock())
    specs = [
        FaultSpec("now", "toxic", at_s=0.05, type="latency"),
        FaultSpec("much-later", "down", at_s=60, duration_s=1),
    ]
    with LedgerWriter(tmp_path / "faults.jsonl") as ledger:
        sched = FaultSchedule(plan(specs, 120), toxics=toxics, admin=None, proxy_name="p", sink=ledger.write)
        t0 = time.monotonic()
        sched.start()
        wait_until(sched.active, 5, interval=0.005, message="the first fault is applied")
        assert sched.active() == ["now#0"]
        assert time.monotonic() - t0 >= 0.05
        sched.stop()
        assert time.monotonic() - t0 < 0.05 + 2000 * MS, "stop must not wait for the next window (at 60 s)"
        assert not any(t.name == "fault-schedule" and t.is_alive() for t in threading.enumerate())
        with pytest.raises(RuntimeError):
            sched.start()
    lines = [orjson.loads(line) for line in (tmp_path / "faults.jsonl").read_bytes().splitlines()]
    assert [(e["kind"], e["fault"]) for e in lines] == [("fault_apply", "now#0"), ("fault_remove", "now#0")]
    assert lines[0]["mono"] >= t0 + 0.05 and lines[1]["mono"] >= lines[0]["mono"]
    assert lines[0]["call_ms"] >= 0


def test_apply_is_stamped_before_the_backend_call():
    """An effect observed during the call (e.g. a disconnect) must not precede fault_apply in the ledger."""
    seen: dict[str, float] = {}

    class SlowToxics(RecordingToxics):
        def set_enabled(self, name, enabled):
            seen[f"during-{enabled}"] = time.monotonic()
            time.sleep(0.02)
            return super().set_enabled(name, enabled)

    events: list = []
    clock = FakeClock()
    specs = [FaultSpec("outage", "down", at_s=1, duration_s=1)]
    sched = FaultSchedule(
        plan(specs, 10),
        toxics=SlowToxics(clock),
        admin=None,
        proxy_name="p",
        sink=events.append,
        clock=clock,
        sleep=clock.sleep,
    )
    sched.run()
    apply, remove = events
    assert (apply.kind, remove.kind) == ("fault_apply", "fault_remove")
    assert apply.mono <= seen["during-False"] and remove.mono <= seen["during-True"]
    assert apply.call_ms >= 20


def test_fault_spec_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        FaultSpec("x", "explode", at_s=0)
    with pytest.raises(ValueError, match="a toxic fault needs a toxic type"):  # not some other ValueError
        FaultSpec("x", "toxic", at_s=0)


def test_wrong_state_is_a_standing_protocol_fault_cleared_at_its_end():
    specs = [FaultSpec("ws", "wrong_state", at_s=10, duration_s=5, share=0.2, turns=1)]
    sched, _, admin, sink, _ = make(specs)
    sched.run()
    assert admin.calls == [(1010.0, "wrong_state", 0.2, 1), (1015.0, "clear_wrong_state")]
    apply = sink.events[0][2]
    assert (apply["type"], apply["share"], apply["attributes"]) == ("wrong_state", 0.2, {"turns": 1})
    assert sink.kinds() == [(10.0, "fault_apply", "ws#0"), (15.0, "fault_remove", "ws#0")]


def test_the_standing_fault_types_are_fault_kinds_or_toxic_types():
    """The one list the report judges standing windows by names only types a fault_apply can carry."""
    from faults.toxics import TOXICS
    from reports.ledger.schema import STANDING_FAULT_TYPES

    assert STANDING_FAULT_TYPES <= (set(FAULT_KINDS) | set(TOXICS)), STANDING_FAULT_TYPES
    assert not STANDING_FAULT_TYPES & INSTANT_KINDS


def test_apply_now_records_a_manual_fault_and_ends_a_timed_one_after_its_duration() -> None:
    """The web UI's actions: applied at once, recorded like a window with ``manual``, a timed one removed
    after its duration (``stop`` removes what is left, still as manual)."""
    from reports.ledger import schema as ev

    class Toxics:
        def __init__(self) -> None:
            self.live: set[str] = set()

        def add_toxic(self, proxy, type, *, name=None, stream="downstream", toxicity=1.0, attributes=None):
            self.live.add(name)
            return {}

        def remove_toxic(self, proxy, name):
            self.live.discard(name)

        def set_enabled(self, name, enabled):
            return {}

    toxics, events = Toxics(), []
    sched = FaultSchedule((), toxics=toxics, admin=None, proxy_name="p", sink=events.append)
    sched.t0 = time.monotonic()
    timed = FaultSpec(name="a", kind="toxic", at_s=0, duration_s=0.05, type="latency", attributes={"latency": 1})
    standing = FaultSpec(name="b", kind="toxic", at_s=0, type="latency", attributes={"latency": 1})
    assert sched.apply_now(timed, "a#m1") and sched.apply_now(standing, "b#m2")
    wait_until(lambda: "a_m1" not in toxics.live, 5, message="the timed toxic removed")
    sched.stop()
    assert not toxics.live
    assert [(e.kind, e.fault, e.manual) for e in events] == [
        ("fault_apply", "a#m1", True), ("fault_apply", "b#m2", True),
        ("fault_remove", "a#m1", True), ("fault_remove", "b#m2", True)]
    assert [e.duration_s for e in events if isinstance(e, ev.FaultApply)] == [0.05, 0.0]


def test_a_timeline_played_again_fires_from_its_restart_with_times_of_the_test() -> None:
    """Started again 40 s into the test: slow-link (at 15 s for 10 s) fires at 55 s and says so."""
    clock = FakeClock()  # 1000.0 is the test start
    toxics, sink = RecordingToxics(clock), Sink(clock)
    spec = FaultSpec(name="slow-link", kind="toxic", type="latency", at_s=15.0, duration_s=10.0,
                     attributes={"latency": 100})
    windows = replayed(plan([spec], 100.0), 40.0, 2)
    assert [(w.fault, w.start_s, w.end_s) for w in windows] == [("slow-link#0.p2", 55.0, 65.0)]
    clock.now = 1040.0  # the restart
    sched = FaultSchedule(windows, toxics=toxics, admin=None, proxy_name="agents", sink=sink,
                          clock=clock, sleep=clock.sleep)
    sched.t0 = 1000.0
    sched.run()
    assert sink.kinds() == [(55.0, "fault_apply", "slow-link#0.p2"), (65.0, "fault_remove", "slow-link#0.p2")]
    assert sink.events[0][2]["start_s"] == 55.0 and sink.events[0][2]["duration_s"] == 10.0
    assert toxics.calls[0][4] == toxic_name("slow-link#0.p2")


def test_planned_id_strips_only_a_plays_mark() -> None:
    assert planned_id("drop-all#0.p2") == "drop-all#0"
    assert planned_id("drop-all#3.p12") == "drop-all#3"
    assert planned_id("drop-all#0") == "drop-all#0"
    assert planned_id("my.pipe#0") == "my.pipe#0"
    assert planned_id("drop-all#m3") == "drop-all#m3"
