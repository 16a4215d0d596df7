"""Every Locust listener agentsoak uses, in one place.

- ``init_command_line_parser`` adds ``--agentsoak-run-dir`` (where this process writes its ledger file)
  and ``--seed``.
- ``init`` opens this process's sink: a ledger file in the run directory when one is given, otherwise
  an in-memory sink.
- ``test_start`` / ``test_stop`` are recorded; ``quitting`` flushes and closes the ledger.
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
    group = parser.add_argument_group("agentsoak")
    group.add_argument("--agentsoak-run-dir", default=None, include_in_web_ui=False,
                       help="Run directory: each Locust process writes ledger/<role>-<pid>.jsonl there.")
    group.add_argument("--seed", type=int, default=None, include_in_web_ui=True,
                       help="Seed for the agents' random choices (sizes, think time, jitter).")


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    sink_for(environment)("test_start", users=getattr(environment.parsed_options, "num_users", None))


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
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
