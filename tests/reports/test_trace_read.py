"""reports.trace.read: AGENT as an id or an index, and the tap that keeps one agent's events."""

from __future__ import annotations

import pytest

from reports.errors import ReportError, UnknownAgentError
from reports.ledger import iter_ledger
from reports.summary import summarize
from reports.trace.read import AgentSpec, AgentTap, read_trace


@pytest.mark.parametrize("text", ["agent-0007", "agent-7", "7", "0007", " 7 "])
def test_an_index_in_any_spelling(text):
    spec = AgentSpec.parse(text)
    assert spec.index == 7 and spec.name == "agent-0007"
    assert spec.matches("agent-0007", None) and spec.matches("a1-6", 7) and not spec.matches("agent-0007", 8)


def test_any_other_text_is_an_id():
    spec = AgentSpec.parse("a1-2")
    assert spec.index is None and spec.matches("a1-2", 3) and not spec.matches("a1-20", None)
    with pytest.raises(UnknownAgentError, match="AGENT is empty"):
        AgentSpec.parse("  ")


def test_an_index_finds_the_agent_its_agent_start_names(make_run):
    run = make_run()
    summary = summarize(iter_ledger(run))
    assert read_trace(run, "3", summary).agent == "a1-2"  # agent_start.index 3
    assert read_trace(run, "a1-2", summary).agent == "a1-2"


def test_an_unknown_agent_names_the_agents_there_are(make_run):
    run = make_run()
    with pytest.raises(UnknownAgentError) as err:
        read_trace(run, "agent-0099", summarize(iter_ledger(run)))
    assert isinstance(err.value, ReportError)
    assert str(err.value) == f"{run}: no agent 'agent-0099' in the ledger (4 agents: a1-0, a1-1, a1-2, a1-3)"


def test_the_tap_passes_every_event_through_and_keeps_only_its_agents(make_run):
    run = make_run()
    tap = AgentTap(["a1-1"])
    passed = list(tap.tap(iter_ledger(run)))
    assert len(passed) == len(list(iter_ledger(run)))
    assert tap.events["a1-1"] and {e.agent for e in tap.events["a1-1"]} == {"a1-1"}
    assert set(tap.events) == {"a1-1"} and tap.seen == {"a1-0", "a1-1", "a1-2", "a1-3"}
