"""The per-environment state of a Locust process: where its events go."""

from __future__ import annotations

from types import SimpleNamespace

from loadtests.run_state import release, state_for
from reports.ledger import schema as ev

KEPT = 10_000  # the promise (loadtests/sink.py RECENT_EVENTS): the web UI keeps the last 10,000 events


def test_without_a_run_dir_the_sink_is_bounded() -> None:
    """The web UI (no ``--agentsoak-run-dir``) runs for days: its sink must not keep every event."""
    env = SimpleNamespace(parsed_options=SimpleNamespace(agentsoak_run_dir=None, agentsoak_profile=None),
                          runner=None)
    try:
        sink = state_for(env).sink
        extra = 123
        for i in range(KEPT + extra):
            sink(ev.AgentStart(agent=f"agent-{i}", index=i + 1))
        held = sink.events  # type: ignore[attr-defined]
        assert len(held) == KEPT
        assert held[0].index == extra + 1 and held[-1].index == KEPT + extra
    finally:
        release(env)
