"""The keepalive wheel: one thread runs every socket's checks when they are due."""

from __future__ import annotations

import threading
import time

from loadtests.keepalive import KeepaliveWheel, send_aside, shared_wheel
from tests.timing import MS, wait_until


def test_a_check_runs_at_its_deadline_and_again_when_it_says():
    wheel = KeepaliveWheel()
    runs: list[float] = []
    start = time.monotonic()

    def check(now: float) -> float | None:
        runs.append(now)
        return now + 0.05 if len(runs) < 3 else None  # three runs, then its socket is gone

    wheel.add(check, start + 0.1)
    wait_until(lambda: len(runs) == 3, 2 + 500 * MS)
    assert runs[0] >= start + 0.1  # never before it is due
    assert all(b - a >= 0.05 for a, b in zip(runs, runs[1:], strict=False))
    wait_until(lambda: len(wheel) == 0, 1 + 500 * MS, message="a check that returns None is dropped")
    time.sleep(0.2)
    assert len(runs) == 3


def test_an_earlier_deadline_wakes_a_sleeping_wheel():
    """The wheel sleeps until its earliest deadline (here up to 30 s); adding an earlier one wakes it."""
    wheel = KeepaliveWheel(max_sleep=30.0)
    late, early = threading.Event(), threading.Event()
    wheel.add(lambda now: late.set(), time.monotonic() + 20)
    time.sleep(0.1)  # the wheel is asleep on the 20 s deadline
    added = time.monotonic()
    wheel.add(lambda now: early.set(), added + 0.05)
    assert early.wait(1 + 500 * MS)
    assert time.monotonic() - added < 1 + 500 * MS
    assert not late.is_set()


def test_a_failing_check_does_not_stop_the_others():
    wheel = KeepaliveWheel()
    ran = threading.Event()

    def broken(now: float) -> float | None:
        raise RuntimeError("a bug in one agent's check")

    wheel.add(broken, time.monotonic())
    wheel.add(lambda now: ran.set(), time.monotonic() + 0.05)
    assert ran.wait(2 + 500 * MS)
    assert len(wheel) == 0


def test_many_sockets_cost_one_thread():
    """1,000 sockets checked every 20 ms: one wheel thread, every check run on time-ish."""
    wheel = KeepaliveWheel()
    counts = [0] * 1000
    before = threading.active_count()

    def make(i: int):
        def check(now: float) -> float | None:
            counts[i] += 1
            return now + 0.02 if counts[i] < 5 else None
        return check

    for i in range(1000):
        wheel.add(make(i), time.monotonic())
    wait_until(lambda: min(counts) == 5, 5 + 2000 * MS)
    assert threading.active_count() <= before + 1


def test_send_aside_runs_off_the_wheel_and_swallows_a_dead_socket():
    done = threading.Event()
    caller = threading.get_ident()
    seen: list[int] = []

    def send() -> None:
        seen.append(threading.get_ident())
        done.set()
        raise OSError("broken pipe")  # the reader sees the same failure; the wheel must not

    send_aside(send)
    assert done.wait(2)
    assert seen and seen[0] != caller


def test_the_shared_wheel_is_one_per_process():
    assert shared_wheel() is shared_wheel()
