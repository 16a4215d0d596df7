"""The profile's fault timeline as one test plays it: from the test start, and again from each restart."""

from __future__ import annotations

import time
from collections.abc import Callable

from faults.schedule import FaultWindow, replayed
from reports.ledger import schema as ev

from .run_state import RunState

__all__ = ["switch_timeline", "timeline_windows"]


def timeline_windows(state: RunState, now: float) -> tuple[list[FaultWindow], float]:
    """The windows of the profile's timeline started at ``now`` (monotonic), and the schedule's ``t0``.

    Its first play starts with the test. A later one (stopped and started again from the web UI) plays
    the same timeline from ``now``: its windows keep times relative to the test start (``fault_apply.
    start_s`` says when they fired) and ids of their own (``drop-all#0.p2``). Counts the play.
    """
    assert state.profile is not None
    state.timeline_plays += 1
    windows = state.profile.plan()
    if state.timeline_plays == 1 or state.test_start_mono is None:
        return windows, now
    offset = max(0.0, now - state.test_start_mono)
    return replayed(windows, offset, state.timeline_plays), state.test_start_mono


def switch_timeline(state: RunState, start: bool | None, play: Callable[[float], None],
                    clock: Callable[[], float] = time.monotonic) -> bool:
    """Stop (``start`` False) or start again (True) the playing timeline by hand; None only asks.

    A stop is recorded (``timeline_stop``, ``manual``) before the schedule removes its active faults, so
    the report knows the windows after it were not due; ``play(now)`` starts the timeline again from
    ``now`` (:func:`timeline_windows`), recorded as ``timeline_start`` (``manual``) with the same offset.
    Returns whether the timeline plays now.
    """
    if start is False and state.schedule is not None:
        state.sink(ev.TimelineStop(play=state.timeline_plays, at_s=_since_test_start(state, clock()), manual=True))
        state.schedule.stop()
        state.schedule = None
    elif start is True and state.schedule is None:
        now = clock()
        play(now)
        if state.schedule is not None:
            state.sink(ev.TimelineStart(play=state.timeline_plays, at_s=_since_test_start(state, now), manual=True))
    return state.schedule is not None


def _since_test_start(state: RunState, now: float) -> float:
    return 0.0 if state.test_start_mono is None else max(0.0, now - state.test_start_mono)
