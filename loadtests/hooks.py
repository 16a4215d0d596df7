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
from typing import Any

from locust import events

from reports.ledger import LedgerWriter

from .sink import EventSink, MemorySink

__all__ = ["sink_for"]

_SINKS: dict[int, EventSink] = {}


def sink_for(environment: Any) -> EventSink:
    """The sink of this process for ``environment`` (created on first use)."""
    key = id(environment)
    sink = _SINKS.get(key)
    if sink is None:
        run_dir = getattr(getattr(environment, "parsed_options", None), "agentsoak_run_dir", None)
        if run_dir:
            role = "master" if _is_master(environment) else "locust"
            sink = LedgerWriter(os.path.join(run_dir, "ledger", f"{role}-{os.getpid()}.jsonl"))
        else:
            sink = MemorySink()
        _SINKS[key] = sink
    return sink


def _is_master(environment: Any) -> bool:
    runner = getattr(environment, "runner", None)
    return type(runner).__name__ == "MasterRunner"


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_kw: Any) -> None:
    group = parser  # Locust's parser: include_in_web_ui works only on it, not on argument groups
    group.add_argument("--agentsoak-run-dir", default=None, include_in_web_ui=False,
                       help="Run directory: each Locust process writes ledger/<role>-<pid>.jsonl there.")
    group.add_argument("--seed", type=int, default=None, include_in_web_ui=True,
                       help="Seed for the agents' random choices (sizes, think time, jitter).")


    group.add_argument("--agentsoak-profile", default=None, include_in_web_ui=False,
                       help="Resolved profile (YAML): agent behaviour and the fault timeline.")
    group.add_argument("--agentsoak-proxy-api", default=None, include_in_web_ui=False,
                       help="Toxiproxy API URL the fault schedule drives.")
    group.add_argument("--agentsoak-proxy-name", default="agentsoak", include_in_web_ui=False,
                       help="Name of the Toxiproxy proxy the agents connect through.")
    group.add_argument("--agentsoak-admin-url", default=None, include_in_web_ui=False,
                       help="Base URL of the reference server's admin API (protocol faults).")


_PROFILES: dict[int, Any] = {}
_SCHEDULES: dict[int, Any] = {}


def profile_for(environment: Any) -> Any:
    """The run's profile for this environment, or None when Locust runs without one."""
    key = id(environment)
    if key not in _PROFILES:
        path = getattr(environment.parsed_options, "agentsoak_profile", None) if environment.parsed_options else None
        if path:
            from .profile import load_profile

            _PROFILES[key] = load_profile(path, allow_remote=True)  # the orchestrator already vetted it
        else:
            _PROFILES[key] = None
    return _PROFILES[key]


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    profile = profile_for(environment)
    if profile is None:
        return
    from .users import configure_from_profile

    for user_class in environment.user_classes:
        configure_from_profile(user_class, profile)


def _is_worker(environment: Any) -> bool:
    return type(getattr(environment, "runner", None)).__name__ == "WorkerRunner"


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    sink = sink_for(environment)
    sink("test_start", users=getattr(environment.parsed_options, "num_users", None))
    profile = profile_for(environment)
    if profile is None or _is_worker(environment) or not profile.faults:
        return
    from faults.schedule import FaultSchedule, plan

    opts = environment.parsed_options
    toxics = admin = None
    if opts.agentsoak_proxy_api:
        from faults.client import FaultClient

        toxics = FaultClient(opts.agentsoak_proxy_api, allow_remote=True)  # vetted by the profile
    if opts.agentsoak_admin_url:
        from faults.server_admin import ServerAdmin

        admin = ServerAdmin(opts.agentsoak_admin_url)
    schedule = FaultSchedule(plan(profile.faults, profile.load.duration_s), toxics=toxics, admin=admin,
                             proxy_name=opts.agentsoak_proxy_name, sink=sink)
    _SCHEDULES[id(environment)] = schedule
    schedule.start()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    schedule = _SCHEDULES.pop(id(environment), None)
    if schedule is not None:
        schedule.stop()
    sink = sink_for(environment)
    sink("test_stop")
    flush = getattr(sink, "flush", None)
    if flush:
        flush()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    sink = _SINKS.pop(id(environment), None)
    close = getattr(sink, "close", None)
    if close:
        close()
