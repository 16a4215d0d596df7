"""``load.agents`` (run only some agent indices) and ``agents`` on faults that pick connections."""

from __future__ import annotations

import pytest

from loadtests.profile import ProfileError, parse_profile


def test_load_agents_runs_only_those_indices_and_round_trips():
    p = parse_profile("load: {users: 30, agents: [12, 7]}\n")
    assert p.load.agents == (7, 12) and p.load.running == 2 and p.load.users == 30
    again = parse_profile(__import__("yaml").safe_dump(p.to_dict()))
    assert again.load == p.load
    assert parse_profile("load: {users: 3}\n").load.running == 3
    assert "agents" not in parse_profile("").to_dict()["load"]


@pytest.mark.parametrize(("text", "message"), [
    ("load: {users: 3, agents: [4]}", "load.agents[0]: 4 is out of range; expected an integer between 1 and 3"),
    ("load: {agents: []}", "load.agents: got []; expected a non-empty list of agent indices"),
    ("load: {agents: [2, 2]}", "load.agents[1]: agent 2 is listed twice"),
    ("load: {agents: 7}", "load.agents: got 7"),
    ("faults: [{kind: stall, where: first_event, ms: 5, at: 1, agents: [1]}]", "faults[0].agents: unknown key"),
    ("faults: [{kind: close, code: 1006, at: 1, agents: [0]}]", "faults[0].agents[0]: 0 is out of range"),
])
def test_bad_agent_lists_name_the_field(text, message):
    with pytest.raises(ProfileError, match=None) as err:
        parse_profile(text)
    assert message in str(err.value)


def test_faults_aimed_at_agents_carry_their_ids_and_round_trip():
    p = parse_profile("""load: {users: 30}
faults:
  - {name: drop, kind: close, code: 1006, at: 1s, agents: [7, 3]}
  - {name: stale, kind: wrong_state, at: 1s, agents: [7], turns: 1}
  - {name: nobody, kind: evict, at: 2s, agents: []}
  - {name: all, kind: limit, at: 2s}
""")
    drop, stale, nobody, every = p.faults
    assert drop.agents == ("agent-0003", "agent-0007") and drop.ledger_attributes()["agents"] == list(drop.agents)
    assert stale.agents == ("agent-0007",) and nobody.agents == () and every.agents is None
    assert "agents" not in every.ledger_attributes()
    resolved = p.to_dict()["faults"]
    assert [f.get("agents") for f in resolved] == [[3, 7], [7], [], None]
    assert parse_profile(__import__("yaml").safe_dump(p.to_dict())).faults == p.faults
