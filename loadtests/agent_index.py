"""Global agent indices (``agent-0001`` …): the same set with one Locust process, ``--processes N`` or workers.

An agent's random streams derive from its index (:mod:`loadtests.agent_random`), so a run is
reproducible when each index 1..N is held by exactly one agent; which process holds it does not
matter. Locust gives a user no global spawn index, and the mapping from a worker's local users to
the master's round-robin dispatch is not knowable on the worker: workers are dispatched in order of
their ids (``hostname_uuid``), not of ``runner.worker_index``, and a worker joining late or a
ramp-down rebalances them. So the master hands indices out:

- a local runner (and a test with no runner) counts in its own process;
- a worker sends ``agentsoak_index_request`` to the master (Locust's custom messages) and waits for
  ``agentsoak_index_reply`` with the next index of the master's one counter.

:func:`install` registers both messages; call it from Locust's ``init`` event in every process.
Indices are never reused within one Locust run (a second test in the web UI continues the count).

A headless run has a fixed agent count (``-u``), and the master refuses an index past it: Locust
re-dispatches the users of a worker that missed its heartbeats (a CPU-starved worker is marked
``missing``, removed after 60 s, re-added when it heals) while that worker's own users still run, so
without the refusal a run holds more agents than its profile and its work is not the profile's. A
refused user gets ``None``, stops before it connects, and the master calls ``on_refuse`` (the ledger's
``agent_refused``; the report's ``load.extra_agents`` fails on it). The web UI's count is the person's
to change, so it has no limit.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faults.identity import agent_name, index_of  # the id format is the connections' (X-Agentsoak-Conn)

__all__ = ["agent_name", "index_of", "install", "limit_of", "next_index", "spawn_offset_s"]


REQUEST = "agentsoak_index_request"
REPLY = "agentsoak_index_reply"
REPLY_TIMEOUT_S = 30.0


def spawn_offset_s(index: int, spawn_rate: float) -> float:
    """When Locust starts the user of global ``index`` after the test start, at ``spawn_rate``.

    Locust's dispatcher (``locust/dispatch.py``, ``UsersDispatcher.new_dispatch``) adds
    ``max(1, floor(spawn_rate))`` users per iteration, iterations that many users / ``spawn_rate``
    seconds apart. A run of only some agents (``load.agents``) starts each of them at this offset,
    so it meets the fault timeline as it did in the run of all of them.
    """
    per_batch = max(1, math.floor(spawn_rate))
    return ((index - 1) // per_batch) * per_batch / spawn_rate


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    index: int | None = None  # None once done: the master refused it


@dataclass
class _Indices:
    """One environment's counter (local or master) and, on a worker, its requests awaiting a reply."""

    counter: Any = field(default_factory=lambda: itertools.count(1))
    requests: Any = field(default_factory=lambda: itertools.count(1))
    pending: dict[int, _Pending] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_refuse: Callable[[int, int, str | None], None] | None = None  # (index, limit, worker id or None)


_ATTR = "_agentsoak_indices"  # kept on the environment itself: it lives and dies with it


def _state(environment: Any) -> _Indices:
    """The environment's counter. Not a table keyed by ``id(environment)``: a freed environment's id is
    reused by the next one, which would then continue the old count."""
    state = getattr(environment, _ATTR, None)
    if state is None:
        state = _Indices()
        setattr(environment, _ATTR, state)
    return state


def _kind(environment: Any) -> str:
    return type(getattr(environment, "runner", None)).__name__


def limit_of(environment: Any) -> int | None:
    """The run's fixed agent count: Locust's ``-u`` in a headless run; None in the web UI."""
    opts = getattr(environment, "parsed_options", None)
    if opts is None or not getattr(opts, "headless", False) or getattr(opts, "agentsoak_ui", False):
        return None
    users = getattr(opts, "num_users", None)
    return users if isinstance(users, int) and users > 0 else None


def _take(environment: Any, state: _Indices, worker: str | None) -> int | None:
    """The next index of the counter, or None (and ``on_refuse``) past the run's agent count."""
    with state.lock:
        index = next(state.counter)
    limit = limit_of(environment)
    if limit is None or index <= limit:
        return index
    if state.on_refuse is not None:
        state.on_refuse(index, limit, worker)
    return None


def install(environment: Any, on_refuse: Callable[[int, int, str | None], None] | None = None) -> None:
    """Register the index messages on ``environment``'s runner (master: requests; worker: replies).

    ``on_refuse(index, limit, worker)`` is called on the master or local runner for each index refused
    past the run's agent count."""
    runner = environment.runner
    state = _state(environment)
    if on_refuse is not None:
        state.on_refuse = on_refuse
    kind = _kind(environment)
    if kind == "MasterRunner" and REQUEST not in runner.custom_messages:
        def on_request(environment: Any, msg: Any, **_kw: Any) -> None:
            index = _take(environment, state, msg.node_id)
            runner.send_message(REPLY, {"request": msg.data["request"], "index": index}, client_id=msg.node_id)

        runner.register_message(REQUEST, on_request)
    elif kind == "WorkerRunner" and REPLY not in runner.custom_messages:
        def on_reply(environment: Any, msg: Any, **_kw: Any) -> None:
            pending = state.pending.pop(msg.data["request"], None)
            if pending is not None:
                index = msg.data["index"]
                pending.index = None if index is None else int(index)
                pending.done.set()

        runner.register_message(REPLY, on_reply)


def next_index(environment: Any) -> int | None:
    """The next global agent index (1-based) for a user of ``environment``; None when the master
    refused it (past the run's agent count: the user must stop without starting an agent).

    Raises:
        RuntimeError: a worker got no reply from the master within ``REPLY_TIMEOUT_S``.
    """
    state = _state(environment)
    if _kind(environment) != "WorkerRunner":
        return _take(environment, state, None)
    install(environment)  # idempotent; the reply handler must exist before the request leaves
    pending = _Pending()
    with state.lock:
        request = next(state.requests)
        state.pending[request] = pending
    environment.runner.send_message(REQUEST, {"request": request})
    if not pending.done.wait(REPLY_TIMEOUT_S):
        state.pending.pop(request, None)
        raise RuntimeError(f"no agent index from the Locust master within {REPLY_TIMEOUT_S:.0f} s "
                           "(is agentsoak's init listener installed on the master?)")
    return pending.index
