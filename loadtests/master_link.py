"""What a worker on another machine gets from its Locust master: the run's profile and its clock.

``agentsoak worker`` starts a Locust worker with no profile file and its own monotonic clock. At
``init`` (:func:`fetch`) it asks the master (``agentsoak_link_request``, Locust's custom messages) for
the resolved profile's text, and samples the master's ``time.monotonic()`` a few times: the reply with
the shortest round trip gives the offset to add to this worker's ``mono`` stamps, so that its ledger
sits on the master's clock, as every check compares ``mono`` across files. On the same kernel boot
(``--processes``, or containers on one node) the clocks are the same one and the offset is exactly 0.

:class:`~loadtests.sink.ShiftedSink` writes the events with that offset.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .ledger_collect import boot_id
from .run_state import runner_kind

__all__ = ["MasterLink", "fetch", "install"]

REQUEST = "agentsoak_link_request"
REPLY = "agentsoak_link_reply"
SAMPLES = 5
REPLY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MasterLink:
    """The master's profile text (None: it runs without one) and its clock minus this worker's."""

    profile_yaml: str | None
    clock_offset_s: float
    round_trip_s: float


@dataclass
class _Waiting:
    replies: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    events: dict[int, threading.Event] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))


_WAITING: dict[int, _Waiting] = {}


def install(environment: Any, profile_text: Any = None) -> None:
    """Register the link messages (master: answers with ``profile_text()``; worker: takes replies)."""
    runner = environment.runner
    kind = runner_kind(environment)
    if kind == "MasterRunner" and REQUEST not in runner.custom_messages:
        def on_request(environment: Any, msg: Any, **_kw: Any) -> None:
            text = profile_text() if profile_text is not None and msg.data.get("profile") else None
            runner.send_message(REPLY, {"request": msg.data["request"], "mono": time.monotonic(),
                                        "boot": boot_id(), "profile": text}, client_id=msg.node_id)

        runner.register_message(REQUEST, on_request)
    elif kind == "WorkerRunner" and REPLY not in runner.custom_messages:
        waiting = _WAITING.setdefault(id(environment), _Waiting())

        def on_reply(environment: Any, msg: Any, **_kw: Any) -> None:
            request = msg.data["request"]
            event = waiting.events.get(request)
            if event is not None:
                waiting.replies[request] = (time.monotonic(), msg.data)
                event.set()

        runner.register_message(REPLY, on_reply)


def fetch(environment: Any, *, want_profile: bool) -> MasterLink:
    """On a worker: the master's profile (when ``want_profile``) and clock offset; blocks for the replies.

    Raises:
        RuntimeError: the master did not answer within ``REPLY_TIMEOUT_S``.
    """
    install(environment)
    waiting = _WAITING[id(environment)]
    best: tuple[float, float] | None = None  # (round trip, offset)
    text = None
    same_boot = False
    for n in range(SAMPLES):
        request = next(waiting.ids)
        event = waiting.events[request] = threading.Event()
        sent = time.monotonic()
        environment.runner.send_message(REQUEST,
                                        {"request": request, "profile": want_profile and n == 0})
        if not event.wait(REPLY_TIMEOUT_S):
            raise RuntimeError(f"no answer from the Locust master within {REPLY_TIMEOUT_S:.0f} s "
                               "(is it an agentsoak master?)")
        got, data = waiting.replies.pop(request)
        waiting.events.pop(request, None)
        if n == 0:
            text = data.get("profile")
            same_boot = data.get("boot") is not None and data.get("boot") == boot_id()
        rtt = got - sent
        if best is None or rtt < best[0]:
            best = (rtt, float(data["mono"]) - (sent + got) / 2)
        if same_boot:
            break
    assert best is not None
    return MasterLink(profile_yaml=text, clock_offset_s=0.0 if same_boot else best[1], round_trip_s=best[0])
