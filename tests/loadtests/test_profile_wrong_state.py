"""The ``wrong_state`` fault kind in a profile: parsed, resolved back, and refused where it cannot play."""

from __future__ import annotations

import pytest
import yaml

from loadtests.profile import ProfileError, parse_profile

BASE = """\
name: ws
target: {kind: embedded}
proxy: {kind: embedded}
load: {users: 3, spawn_rate: 3, duration: 30s}
faults:
  - {name: stale, kind: wrong_state, at: 5s, duration: 10s, share: 0.1, turns: 1}
"""


def test_wrong_state_parses_plans_and_round_trips():
    p = parse_profile(BASE)
    (spec,) = p.faults
    assert (spec.kind, spec.share, spec.turns, spec.duration_s) == ("wrong_state", 0.1, 1, 10.0)
    (window,) = p.plan()
    assert (window.fault, window.start_s, window.end_s) == ("stale#0", 5.0, 15.0)
    again = parse_profile(yaml.safe_dump(p.to_dict()))
    assert again.faults == p.faults


@pytest.mark.parametrize(("overrides", "message"), [
    (["faults=[{kind: wrong_state, at: 1s, turns: 0}]"], "faults[0].turns"),
    (["faults=[{kind: wrong_state, at: 1s, code: 1006}]"], "faults[0].code"),
    (["target={kind: external, url: 'ws://127.0.0.1:9'}", "faults=[{kind: wrong_state, at: 1s}]"],
     "played by the reference server's admin API"),
    (["faults=[{kind: wrong_state, at: 1s, duration: 10s}, {kind: wrong_state, at: 5s, duration: 2s}]"],
     "only one wrong_state fault can be in effect at a time"),
])
def test_wrong_state_errors_name_the_key(overrides, message):
    with pytest.raises(ProfileError) as info:
        parse_profile(BASE, overrides=overrides)
    assert message in str(info.value)
