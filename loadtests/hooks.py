"""Every Locust listener agentsoak uses, in one class; ``locustfile.py`` subscribes it.

Importing this module registers nothing (Locust's pattern for reusable listeners: a class that
subscribes in ``__init__``). :class:`AgentsoakHooks` listens to:

- ``init_command_line_parser``: adds ``--agentsoak-run-dir`` (where this process writes its ledger
  file), ``--agentsoak-profile`` (the resolved profile), the proxy and admin URLs, and ``--seed``;
- ``init``: registers the agent-index messages (:mod:`loadtests.agent_index`), applies the profile's
  agent behaviour to the users (in every process), and ties a ``--processes`` worker's life to its
  master's (a master that dies, even by SIGKILL, takes its workers with it; on their own they would
  notice only after Locust's 60 s heartbeat timeout);
- ``test_start`` (master or local runner only): starts the fault schedule from the test's real start,
  and :class:`~loadtests.stats_bounds.StatsBounds`, which keeps Locust's own statistics bounded on a
  long run; ``test_stop`` stops both, removing every active fault. Both are recorded in the ledger;
- ``quitting``: flushes and closes this process's ledger.

The per-environment state (sink, profile, schedule) is in :mod:`loadtests.run_state`.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

import gevent

from faults.child import tie_to_parent
from faults.identity import PROXY_NAME
from reports.ledger import schema as ev

from . import agent_index, ledger_collect, master_link
from .run_state import release, runner_kind, state_for
from .stats_bounds import StatsBounds
from .timeline import timeline_windows
from .users import configure_from_profile

__all__ = ["AgentsoakHooks"]

logger = logging.getLogger(__name__)

RESOLVED_PROFILE = "profile.resolved.yaml"


def _profile_text(environment: Any) -> str | None:
    """The master's resolved profile, as its workers load it."""
    path = getattr(environment.parsed_options, "agentsoak_profile", None)
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _link_to_master(environment: Any) -> float:
    """A worker: take the master's profile when it has none of its own; return its clock offset."""
    opts = environment.parsed_options
    link = master_link.fetch(environment, want_profile=not opts.agentsoak_profile)
    if not opts.agentsoak_profile and link.profile_yaml is not None and opts.agentsoak_run_dir:
        path = os.path.join(opts.agentsoak_run_dir, RESOLVED_PROFILE)
        os.makedirs(opts.agentsoak_run_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(link.profile_yaml)
        opts.agentsoak_profile = path
    return link.clock_offset_s


def _refused(environment: Any, index: int, limit: int, worker: str | None) -> None:
    """The master refused a user past the run's agent count: say so once, record every one."""
    state = state_for(environment)
    clients = getattr(environment.runner, "clients", None)
    missing = sorted(c.id for c in clients.missing) if clients is not None else []
    if not state.refusals:
        logger.warning("Locust started more users than the run's %d agents (it re-dispatches the users of a "
                       "worker that missed its heartbeats while they still run; missing: %s); agentsoak "
                       "refuses them, and the report's load.extra_agents fails",
                       limit, ", ".join(missing) or "none now")
    state.refusals += 1
    state.sink(ev.AgentRefused(index=index, limit=limit, worker=worker, missing=missing or None))


class AgentsoakHooks:
    """agentsoak's listeners, subscribed to ``events`` (``locust.events``, or a test's own ``Events()``)."""

    def __init__(self, events: Any) -> None:
        events.init_command_line_parser.add_listener(self.add_arguments)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.quitting.add_listener(self.on_quitting)

    @staticmethod
    def add_arguments(parser: Any, **_kw: Any) -> None:
        # Locust's own parser: ``include_in_web_ui`` works only there, not on argument groups.
        parser.add_argument("--agentsoak-run-dir", default=None, include_in_web_ui=False,
                            help="Run directory: each Locust process writes ledger/<role>-<pid>.jsonl there.")
        parser.add_argument("--seed", type=int, default=None, include_in_web_ui=True,
                            help="Seed for the agents' random choices (sizes, think time, jitter).")
        parser.add_argument("--agentsoak-profile", default=None, include_in_web_ui=False,
                            help="Resolved profile (YAML): agent behaviour and the fault timeline.")
        parser.add_argument("--agentsoak-proxy-api", default=None, include_in_web_ui=False,
                            help="Toxiproxy API URL the fault schedule drives.")
        parser.add_argument("--agentsoak-proxy-name", default=PROXY_NAME, include_in_web_ui=False,
                            help="Name of the Toxiproxy proxy the agents connect through.")
        parser.add_argument("--agentsoak-admin-url", default=None, include_in_web_ui=False,
                            help="Base URL of the reference server's admin API (protocol faults).")
        parser.add_argument("--agentsoak-ledger-role", default=None, include_in_web_ui=False,
                            help="Name of this process's ledger file before -<pid> (default: master or locust).")
        parser.add_argument("--agentsoak-health", default=None, include_in_web_ui=False,
                            help="agentsoak ui: the component processes to sample into each swarm's ledger "
                                 "(JSON of loadtests.health.HealthSampler.roots_json).")
        parser.add_argument("--agentsoak-ui", action="store_true", default=False, include_in_web_ui=False,
                            help="agentsoak ui: every swarm is a run of its own, with live gauges and fault "
                                 "controls in the web UI (loadtests.ui).")

    @staticmethod
    def on_init(environment: Any, **_kw: Any) -> None:
        agent_index.install(environment, on_refuse=lambda index, limit, worker: _refused(environment, index,
                                                                                          limit, worker))
        ledger_collect.install(environment)
        master_link.install(environment, profile_text=lambda: _profile_text(environment))
        offset = 0.0
        if runner_kind(environment) == "WorkerRunner":
            if getattr(environment.parsed_options, "processes", None):
                _tie_worker_to_master(environment)  # forked by its master (or by `locust --worker --processes N`)
            offset = _link_to_master(environment)
        state = state_for(environment, clock_offset_s=offset)
        if getattr(environment.parsed_options, "agentsoak_ui", False):
            from .ui.session import install

            state.web = install(environment, state, start_timeline=AgentsoakHooks.start_timeline)
        profile = state.profile
        if profile is None:
            return
        for user_class in environment.user_classes:
            configure_from_profile(user_class, profile)

    @staticmethod
    def on_test_start(environment: Any, **_kw: Any) -> None:
        state = state_for(environment)
        if state.web is not None:
            state.web.begin()  # this swarm's run directory and ledger
        start = ev.TestStart(users=getattr(environment.parsed_options, "num_users", None))
        state.test_start_mono = start.mono
        state.timeline_plays = 0
        state.sink(start)
        stats = getattr(getattr(environment, "runner", None), "stats", None)
        if stats is not None and runner_kind(environment) != "WorkerRunner" and state.bounds is None:
            state.bounds = StatsBounds(stats).start()
        if runner_kind(environment) != "WorkerRunner":
            AgentsoakHooks.start_timeline(environment)

    @staticmethod
    def start_timeline(environment: Any, now: float | None = None) -> None:
        """Play the profile's fault timeline from ``now`` (monotonic; default: now), on the master or
        local runner, as ``state.schedule``."""
        state = state_for(environment)
        profile = state.profile
        if profile is None or not profile.faults or state.schedule is not None:
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
        windows, t0 = timeline_windows(state, time.monotonic() if now is None else now)
        state.schedule = FaultSchedule(windows, toxics=toxics, admin=admin,
                                       proxy_name=opts.agentsoak_proxy_name, sink=state.sink)
        state.schedule.start(t0)

    @staticmethod
    def on_test_stop(environment: Any, **_kw: Any) -> None:
        state = state_for(environment)
        if state.bounds is not None:
            state.bounds.stop()
            state.bounds = None
        if state.schedule is not None:
            state.schedule.stop()
            state.schedule = None
        if state.web is not None:
            state.web.stopping()  # removes the faults added by hand
        state.sink(ev.TestStop())
        flush = getattr(state.sink, "flush", None)
        if flush:
            flush()
        if state.web is not None:
            state.web.end()  # closes the run and (master) verifies it
        elif runner_kind(environment) == "MasterRunner" and environment.parsed_options.agentsoak_run_dir:
            ledger_collect.collect(environment, os.path.join(environment.parsed_options.agentsoak_run_dir, "ledger"))

    @staticmethod
    def on_quitting(environment: Any, **_kw: Any) -> None:
        state = release(environment)
        if state is not None and state.web is not None:
            state.web.quit()  # waits for the last run's verification
        close = getattr(state.sink, "close", None) if state else None
        if close:
            close()


#: the signal a forked worker gets when its master dies (SIGTERM would cut short an orderly quit)
_MASTER_GONE = signal.SIGUSR2
_QUIT_MARGIN_S = 10.0


def _tie_worker_to_master(environment: Any) -> None:
    """A worker forked by its master (``--processes``) ends when the master dies, without cutting short
    an orderly quit: Locust's master exits as soon as it has told its workers to quit, while they may
    still be stopping their users (up to ``--stop-timeout``) and closing their ledgers, and a worker
    that was busy (missing heartbeats) may get the quit message only after the master is gone. So a
    worker gets its stop timeout and a margin to end by itself, then Locust's own SIGTERM shutdown
    (the orchestrator bounds the whole group's end in any case).
    """
    if not tie_to_parent(os.getppid(), _MASTER_GONE):
        return
    grace_s = float(getattr(environment.parsed_options, "stop_timeout", 0) or 0) + _QUIT_MARGIN_S

    def terminate() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    gevent.signal_handler(_MASTER_GONE, lambda: gevent.spawn_later(grace_s, terminate))
