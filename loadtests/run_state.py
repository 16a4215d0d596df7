"""What one Locust environment of this process holds for agentsoak; registers no listener.

Users and hooks both read it (users for the event sink, hooks for the profile and the fault
schedule), so neither imports the other for it. The state is made on first use from the
environment's parsed options: a ledger file in ``--agentsoak-run-dir`` (``<role>-<pid>.jsonl.zst``), or
without one the last events in memory (a bounded :class:`~loadtests.sink.RecentSink`), and the
resolved profile of ``--agentsoak-profile``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reports.ledger import LedgerWriter, ledger_path

from .profile import load_profile
from .sink import EventSink, RecentSink, ShiftedSink, SwitchSink
from .stats_bounds import StatsBounds

if TYPE_CHECKING:
    from faults.schedule import FaultSchedule

    from .profile import Profile

__all__ = ["RunState", "profile_for", "release", "runner_kind", "sink_for", "state_for"]


@dataclass
class RunState:
    """One environment's sink, profile and (master or local runner, while the test runs) fault schedule
    and the trimmer of Locust's own statistics.

    Not frozen: ``schedule`` and ``bounds`` live from ``test_start`` to ``test_stop``.
    """

    sink: EventSink
    profile: Profile | None
    schedule: FaultSchedule | None = None
    web: Any = None  # ``agentsoak ui`` (``--agentsoak-ui``): the loadtests.ui.session.WebSession
    test_start_mono: float | None = None  # when this process saw the test start (``time.monotonic()``)
    bounds: StatsBounds | None = None
    timeline_plays: int = 0  # how often the fault timeline started in this test (the web UI restarts it)
    refusals: int = 0  # users refused past the run's agent count (loadtests.agent_index)


_STATES: dict[int, RunState] = {}


def runner_kind(environment: Any) -> str:
    """``MasterRunner``, ``WorkerRunner``, ``LocalRunner`` or ``NoneType`` before a runner exists."""
    return type(getattr(environment, "runner", None)).__name__


def state_for(environment: Any, *, clock_offset_s: float = 0.0) -> RunState:
    """The state of ``environment`` in this process, made on first use.

    ``clock_offset_s`` (a worker on another machine, :mod:`loadtests.master_link`): what its ledger's
    ``mono`` stamps are moved by, onto the master's clock; it counts only on first use.
    """
    state = _STATES.get(id(environment))
    if state is None:
        opts = environment.parsed_options
        run_dir = getattr(opts, "agentsoak_run_dir", None)
        if getattr(opts, "agentsoak_ui", False):
            sink: EventSink = SwitchSink()  # each swarm's run gets its ledger at test_start (loadtests.ui)
        elif run_dir:
            role = getattr(opts, "agentsoak_ledger_role", None) or (
                "master" if runner_kind(environment) == "MasterRunner" else "locust")
            sink = LedgerWriter(ledger_path(os.path.join(run_dir, "ledger"), role))
            if clock_offset_s:
                sink = ShiftedSink(sink, clock_offset_s)
        else:
            sink = RecentSink()  # bounded: a web-UI session can run for days
        path = getattr(opts, "agentsoak_profile", None)
        profile = load_profile(path, allow_remote=True) if path else None  # the orchestrator vetted it
        state = _STATES[id(environment)] = RunState(sink=sink, profile=profile)
    return state


def release(environment: Any) -> RunState | None:
    """Forget ``environment``'s state and return it (the caller closes its sink)."""
    return _STATES.pop(id(environment), None)


def sink_for(environment: Any) -> EventSink:
    """The sink of this process for ``environment``: its ledger file, or memory without a run dir."""
    return state_for(environment).sink


def profile_for(environment: Any) -> Profile | None:
    """The run's profile for this environment, or None when Locust runs without one."""
    return state_for(environment).profile
