"""The fault timeline's windows for each time it starts in one test (the web UI stops and restarts it)."""

from __future__ import annotations

from loadtests.catalog import load_profile_arg
from loadtests.run_state import RunState
from loadtests.sink import RecentSink
from loadtests.timeline import timeline_windows


def test_the_timeline_started_again_moves_to_its_restart() -> None:
    """The web UI's timeline: its first play is the profile's plan from the test start; a later one plays
    it again from the restart, with times relative to the test start and ids of its own."""
    profile = load_profile_arg("smoke", [])
    assert not isinstance(profile, str)
    plan = profile.plan()
    state = RunState(sink=RecentSink(), profile=profile, test_start_mono=100.0)
    first, t0 = timeline_windows(state, 100.5)
    assert first == plan and t0 == 100.5
    again, t0 = timeline_windows(state, 130.0)
    assert t0 == 100.0
    assert [(w.fault, w.start_s) for w in again] == [(f"{w.fault}.p2", w.start_s + 30.0) for w in plan]
    third, _ = timeline_windows(state, 200.0)
    assert [w.fault for w in third] == [f"{w.fault}.p3" for w in plan]
