"""Every Locust listener agentsoak uses, in one place.

- ``init_command_line_parser`` adds ``--agentsoak-run-dir`` (where this process writes its ledger file),
  ``--agentsoak-profile`` (the resolved profile), the proxy and admin URLs, and ``--seed``.
- ``init`` applies the profile's agent behaviour to the users (in every process).
- ``test_start`` (master or local runner only) starts the fault schedule from the test's real start;
  ``test_stop`` stops it, removing every active fault. Both are recorded in the ledger.
- ``quitting`` flushes and closes this process's ledger.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from locust import events

from reports.ledger import LedgerWriter
from reports.ledger import schema as ev

from .sink import EventSink, MemorySink

__all__ = ["sink_for", "profile_for"]


@dataclass
class _RunState:
    """What one Locust environment of this process holds for agentsoak."""

    sink: EventSink
    profile: Any  # loadtests.profile.Profile | None
    schedule: Any = None  # faults.schedule.FaultSchedule | None


_STATES: dict[int, _RunState] = {}


def _runner_kind(environment: Any) -> str:
    return type(getattr(environment, "runner", None)).__name__


def _state(environment: Any) -> _RunState:
    state = _STATES.get(id(environment))
    if state is None:
        opts = environment.parsed_options
        run_dir = getattr(opts, "agentsoak_run_dir", None)
        if run_dir:
            role = "master" if _runner_kind(environment) == "MasterRunner" else "locust"
            sink: EventSink = LedgerWriter(os.path.join(run_dir, "ledger", f"{role}-{os.getpid()}.jsonl"))
        else:
            sink = MemorySink()
        profile = None
        if getattr(opts, "agentsoak_profile", None):
            from .profile import load_profile

            profile = load_profile(opts.agentsoak_profile, allow_remote=True)  # the orchestrator vetted it
        state = _STATES[id(environment)] = _RunState(sink=sink, profile=profile)
    return state


def sink_for(environment: Any) -> EventSink:
    """The sink of this process for ``environment``: its ledger file, or memory without a run dir."""
    return _state(environment).sink


def profile_for(environment: Any) -> Any:
    """The run's profile for this environment, or None when Locust runs without one."""
    return _state(environment).profile


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_kw: Any) -> None:
    # Locust's own parser: ``include_in_web_ui`` works only there, not on argument groups.
    parser.add_argument("--agentsoak-run-dir", default=None, include_in_web_ui=False,
                        help="Run directory: each Locust process writes ledger/<role>-<pid>.jsonl there.")
    parser.add_argument("--seed", type=int, default=None, include_in_web_ui=True,
                        help="Seed for the agents' random choices (sizes, think time, jitter).")
    parser.add_argument("--agentsoak-profile", default=None, include_in_web_ui=False,
                        help="Resolved profile (YAML): agent behaviour and the fault timeline.")
    parser.add_argument("--agentsoak-proxy-api", default=None, include_in_web_ui=False,
                        help="Toxiproxy API URL the fault schedule drives.")
    parser.add_argument("--agentsoak-proxy-name", default="agentsoak", include_in_web_ui=False,
                        help="Name of the Toxiproxy proxy the agents connect through.")
    parser.add_argument("--agentsoak-admin-url", default=None, include_in_web_ui=False,
                        help="Base URL of the reference server's admin API (protocol faults).")


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    profile = profile_for(environment)
    if profile is None:
        return
    from .users import configure_from_profile

    for user_class in environment.user_classes:
        configure_from_profile(user_class, profile)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    state = _state(environment)
    state.sink(ev.TestStart(users=getattr(environment.parsed_options, "num_users", None)))
    profile = state.profile
    if profile is None or not profile.faults or _runner_kind(environment) == "WorkerRunner":
        return
    from faults.schedule import FaultSchedule

    opts = environment.parsed_options
    toxics = admin = None
    if opts.agentsoak_proxy_api:
        from faults.client import FaultClient

        toxics = FaultClient(opts.agentsoak_proxy_api, allow_remote=True)  # vetted by the profile
    if opts.agentsoak_admin_url:
        from faults.server_admin import ServerAdmin

        admin = ServerAdmin(opts.agentsoak_admin_url)
    state.schedule = FaultSchedule(profile.plan(), toxics=toxics, admin=admin,
                                   proxy_name=opts.agentsoak_proxy_name, sink=state.sink)
    state.schedule.start()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    state = _state(environment)
    if state.schedule is not None:
        state.schedule.stop()
        state.schedule = None
    state.sink(ev.TestStop())
    flush = getattr(state.sink, "flush", None)
    if flush:
        flush()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    state = _STATES.pop(id(environment), None)
    close = getattr(state.sink, "close", None) if state else None
    if close:
        close()
