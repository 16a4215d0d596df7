"""The profile's fault timeline as one test plays it: from the test start, and again from each restart."""

from __future__ import annotations

from faults.schedule import FaultWindow, replayed

from .run_state import RunState

__all__ = ["timeline_windows"]


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
