"""The fault timeline: typed entries, planning into concrete windows, and a player.

``FaultSpec`` is one timeline entry as the profile loader validated it. ``plan()`` expands repeats
(``every``) into ``FaultWindow`` values; it is pure. ``FaultSchedule`` plays windows against two
backends, the Toxiproxy fault client (toxics and ``down``) and the reference server's admin API
(protocol faults), and records every apply and removal through ``sink`` (a ledger writer's
``write``; see docs/ledger.md, "Fault events").

This module must not import ``locust`` or ``loadtests``: it runs on the Locust master, whose
threads are greenlets once gevent has patched the process, so it uses only ``threading`` and a
``sleep`` callable, never asyncio.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reports.ledger import schema as ev

__all__ = [
    "AIMED_KINDS",
    "FAULT_KINDS",
    "AdminBackend",
    "INSTANT_KINDS",
    "PLAY_SEP",
    "PROTOCOL_KINDS",
    "FaultSchedule",
    "FaultSpec",
    "FaultWindow",
    "ToxicBackend",
    "plan",
    "planned_id",
    "replayed",
    "toxic_name",
    "window_count",
]

log = logging.getLogger(__name__)

#: Every fault kind. ``toxic`` and ``down`` act on the proxy; the rest are protocol faults played by
#: the reference server's admin API.
FAULT_KINDS = ("toxic", "down", "close", "limit", "evict", "wipe_store", "stall", "refuse", "wrong_state", "leak")
#: Protocol faults (need the embedded reference server).
PROTOCOL_KINDS = frozenset({"close", "limit", "evict", "wipe_store", "stall", "refuse", "wrong_state", "leak"})
#: Faults that happen at one instant; their removal is recorded right after the apply.
INSTANT_KINDS = frozenset({"close", "limit", "evict", "wipe_store"})
#: Protocol faults that pick connections, and so can be aimed at given agents (``FaultSpec.agents``).
AIMED_KINDS = frozenset({"close", "limit", "evict", "wrong_state"})


@dataclass(frozen=True)
class FaultSpec:
    """One timeline entry. Times are seconds relative to the test's real start.

    ``duration_s == 0`` means "instantaneous" for ``INSTANT_KINDS`` and "until the test ends" for
    the standing kinds (toxic, down, stall, refuse, wrong_state). Kind-specific fields are ``None``
    when unused.
    """

    name: str
    kind: str
    at_s: float
    duration_s: float = 0.0
    every_s: float | None = None
    share: float = 1.0
    # kind: toxic (Toxiproxy's toxic object)
    type: str | None = None
    stream: str = "downstream"
    toxicity: float | None = None
    attributes: Mapping[str, int] = field(default_factory=dict)
    # kind: close
    code: int | None = None
    # kind: stall
    where: str | None = None
    ms: int | None = None
    # kind: refuse
    status: int | None = None
    retry_after_s: float | None = None
    # kind: wrong_state (chained turns of ``share`` of the live connections served from another state)
    turns: int | None = None  # end after this many turns served wrong; None: until the window ends
    # kind: leak (a leak made on purpose: every new connection keeps this many bytes for the server's life)
    bytes: int | None = None
    # kinds close, limit, evict, wrong_state: aim at the connections of these agents only (ids such as
    # ``agent-0007``, as their connections name them: faults.identity); None: any connection
    agents: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind == "toxic" and not self.type:
            raise ValueError("a toxic fault needs a toxic type")
        if self.every_s is not None and self.every_s <= 0:
            raise ValueError("every_s must be > 0")
        if self.agents is not None and self.kind not in AIMED_KINDS:
            raise ValueError(f"a {self.kind} fault cannot be aimed at agents")

    @property
    def ledger_type(self) -> str:
        """The ``type`` recorded in the ledger: the toxic type, or the kind."""
        return self.type if self.kind == "toxic" and self.type else self.kind

    @property
    def effective_toxicity(self) -> float:
        """Toxicity sent to Toxiproxy: ``toxicity`` if given, else ``share``."""
        return self.share if self.toxicity is None else self.toxicity

    def ledger_attributes(self) -> dict[str, Any]:
        """The ``attributes`` recorded with ``fault_apply``."""
        if self.kind == "toxic":
            return {**self.attributes, "stream": self.stream, "toxicity": self.effective_toxicity}
        aimed = {} if self.agents is None else {"agents": list(self.agents)}
        if self.kind == "close":
            return {"code": self.code, **aimed}
        if self.kind == "stall":
            return {"where": self.where, "ms": self.ms}
        if self.kind == "refuse":
            return {"status": self.status, "retry_after_s": self.retry_after_s}
        if self.kind == "wrong_state":
            return {"turns": self.turns, **aimed}
        if self.kind == "leak":
            return {"bytes": self.bytes}
        return aimed


@dataclass(frozen=True)
class FaultWindow:
    """One concrete occurrence of a ``FaultSpec``: ``fault`` is ``<name>#<repeat>``."""

    fault: str
    start_s: float
    end_s: float | None  # None: instantaneous; a fault without a duration ends with the test
    spec: FaultSpec


def window_count(spec: FaultSpec, duration_s: float) -> int:
    """How many windows ``spec`` yields in a test of ``duration_s`` (without building them)."""
    if spec.at_s >= duration_s:
        return 0
    if spec.every_s is None:
        return 1
    return max(1, math.ceil((duration_s - spec.at_s) / spec.every_s))


def plan(faults: Sequence[FaultSpec], duration_s: float) -> list[FaultWindow]:
    """Expand ``faults`` into windows that start before ``duration_s``, ordered by start time.

    A repeating entry (``every_s``) starts at ``at_s``, ``at_s + every_s``, ... until the test ends.
    A standing fault without a duration ends at ``duration_s``. Ties keep the timeline's order.
    """
    windows: list[tuple[float, int, int, FaultWindow]] = []
    for order, spec in enumerate(faults):
        for k in range(window_count(spec, duration_s)):
            start = spec.at_s + k * (spec.every_s or 0.0)
            if start >= duration_s:
                break
            if spec.kind in INSTANT_KINDS:
                end = None
            elif spec.duration_s > 0:
                end = start + spec.duration_s
            else:
                end = max(duration_s, start)  # standing until the test ends
            windows.append((start, order, k, FaultWindow(f"{spec.name}#{k}", start, end, spec)))
    windows.sort(key=lambda w: w[:3])
    return [w[3] for w in windows]


#: a fault id of the timeline played again in the same test: ``drop-all#0.p2`` is ``drop-all#0`` of its 2nd play
PLAY_SEP = ".p"


def replayed(windows: Sequence[FaultWindow], offset_s: float, play: int) -> list[FaultWindow]:
    """``windows`` (from ``plan()``) for the timeline started again ``offset_s`` after the test start.

    Their times stay relative to the test start (as ``fault_apply.start_s`` is), so they move by
    ``offset_s``; ``play`` (2, 3, ...) marks their ids, so each play's windows stay apart in the ledger.
    """
    return [FaultWindow(f"{w.fault}{PLAY_SEP}{play}", w.start_s + offset_s,
                        None if w.end_s is None else w.end_s + offset_s, w.spec) for w in windows]


def planned_id(fault_id: str) -> str:
    """The plan's id of a window, without the mark of a later play (``drop-all#0.p2`` -> ``drop-all#0``)."""
    base, sep, play = fault_id.rpartition(PLAY_SEP)
    return base if sep and play.isdigit() and "#" in base else fault_id


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def toxic_name(fault_id: str) -> str:
    """The toxic name for a fault id: safe in a URL path (``slow-link#0`` -> ``slow-link_0``)."""
    return _UNSAFE.sub("_", fault_id)


class ToxicBackend(Protocol):
    """What the schedule needs from ``faults.client`` (a Toxiproxy API client)."""

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def remove_toxic(self, proxy: str, name: str) -> None: ...

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]: ...


class AdminBackend(Protocol):
    """What the schedule needs from ``faults.server_admin.ServerAdmin``."""

    def close(self, code: int, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]: ...
    def limit(self, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]: ...
    def evict(self, share: float = 1.0, agents: Sequence[str] | None = None) -> dict[str, Any]: ...
    def wipe_store(self) -> dict[str, Any]: ...
    def stall(self, where: str, ms: int, share: float = 1.0) -> dict[str, Any]: ...
    def clear_stall(self) -> dict[str, Any]: ...
    def refuse(
        self, status: int, retry_after_s: float | None = None, share: float = 1.0
    ) -> dict[str, Any]: ...
    def clear_refuse(self) -> dict[str, Any]: ...
    def wrong_state(
        self, share: float = 1.0, turns: int | None = None, agents: Sequence[str] | None = None
    ) -> dict[str, Any]: ...
    def clear_wrong_state(self) -> dict[str, Any]: ...
    def leak(self, size: int) -> dict[str, Any]: ...
    def clear_leak(self) -> dict[str, Any]: ...


Sink = Callable[[ev.Event], None]
_TICK_S = 0.25  # longest single sleep, so stop() is noticed promptly


class FaultSchedule:
    """Plays fault windows once, from the test's real start, recording each apply and removal.

    Args:
        windows: from ``plan()``.
        toxics: the Toxiproxy client (needed for ``toxic`` and ``down`` windows).
        admin: the reference server's admin client (needed for protocol faults), or None.
        proxy_name: the Toxiproxy proxy the agents connect through.
        sink: ``sink(event)`` taking a ``reports.ledger.schema`` event, e.g. ``LedgerWriter.write``.
        clock, sleep: injectable for tests; ``clock`` must be monotonic seconds.

    A failing apply or removal records ``fault_error`` and the schedule carries on. ``fault_apply``
    and ``fault_remove`` carry ``t``/``mono`` taken just before the backend call (so effects follow
    them in the ledger); ``fault_apply`` adds ``call_ms`` (how long the call took) and, for protocol
    faults, ``affected`` (the server's count) and ``hit`` (the client ids of the connections it picked).
    """

    def __init__(
        self,
        windows: Sequence[FaultWindow],
        *,
        toxics: ToxicBackend | None,
        admin: AdminBackend | None,
        proxy_name: str,
        sink: Sink,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.windows = tuple(windows)
        self._toxics = toxics
        self._admin = admin
        self._proxy = proxy_name
        self._sink = sink
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._active: dict[str, FaultWindow] = {}
        self._manual: set[str] = set()  # ids applied by apply_now
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.t0: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, t0: float | None = None) -> None:
        """Start playing in a daemon thread; ``t0`` is the test's start on ``clock`` (default now)."""
        if self._thread is not None:
            raise RuntimeError("the fault schedule runs once")
        self.t0 = self._clock() if t0 is None else t0
        self._thread = threading.Thread(target=self.run, name="fault-schedule", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Play the whole timeline in the calling thread (``start()`` runs this in a thread)."""
        if self.t0 is None:
            self.t0 = self._clock()
        for at_s, is_apply, window in self._events():
            if not self._wait_until(at_s):
                return
            with self._lock:
                if self._stopped:
                    return
                if is_apply:
                    self._apply(window)
                elif window.fault in self._active:
                    self._remove(window)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop playing and remove every active fault (recording removals). Idempotent."""
        with self._lock:
            self._stopped = True
            for window in list(self._active.values()):
                self._remove(window, manual=window.fault in self._manual)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def active(self) -> list[str]:
        """Ids of the faults in effect now, in apply order."""
        with self._lock:
            return list(self._active)

    # -- by hand (the web UI's Faults tab) ---------------------------------------------------------
    def apply_now(self, spec: FaultSpec, fault_id: str, *, manual: bool = True) -> bool:
        """Apply ``spec`` now as window ``fault_id``, recorded like a scheduled one (``manual``).

        A timed standing fault (``duration_s > 0``) is removed after its duration. Returns whether the
        apply succeeded (a failure is recorded as ``fault_error``).
        """
        start = 0.0 if self.t0 is None else max(0.0, self._clock() - self.t0)
        end = None if spec.kind in INSTANT_KINDS else (start + spec.duration_s if spec.duration_s > 0 else None)
        window = FaultWindow(fault_id, start, end, spec)
        with self._lock:
            if manual:
                self._manual.add(fault_id)
            ok = self._apply(window, manual=manual)
        if ok and end is not None:
            threading.Thread(target=self._remove_later, args=(window, spec.duration_s), daemon=True,
                             name=f"fault-{fault_id}").start()
        return ok

    def remove_now(self, fault_id: str) -> bool:
        """Remove the active fault ``fault_id`` now; False when it is not active."""
        with self._lock:
            window = self._active.get(fault_id)
            if window is None:
                return False
            self._remove(window, manual=True)
        return True

    def record(self, event: ev.Event) -> None:
        """Write ``event`` to the schedule's sink (an action on the proxy taken outside a window)."""
        self._record(event)

    def _remove_later(self, window: FaultWindow, seconds: float) -> None:
        deadline = self._clock() + seconds
        while not self._stopped:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            self._sleep(min(remaining, _TICK_S))
        with self._lock:
            if self._active.get(window.fault) is window:
                self._remove(window, manual=True)

    # -- internals -----------------------------------------------------------------------------
    def _events(self) -> list[tuple[float, bool, FaultWindow]]:
        events: list[tuple[float, int, int, bool, FaultWindow]] = []
        for i, w in enumerate(self.windows):
            events.append((w.start_s, 1, i, True, w))
            if w.end_s is not None:
                events.append((w.end_s, 0, i, False, w))  # removals sort before applies at a tie
        events.sort(key=lambda e: e[:3])
        return [(e[0], e[3], e[4]) for e in events]

    def _wait_until(self, at_s: float) -> bool:
        assert self.t0 is not None
        deadline = self.t0 + at_s
        while not self._stopped:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return True
            self._sleep(min(remaining, _TICK_S))
        return False

    def _record(self, event: ev.Event) -> None:
        try:
            self._sink(event)
        except Exception:  # the ledger must never stop the timeline
            log.exception("fault schedule: could not record %s", event.kind)

    def _apply(self, w: FaultWindow, *, manual: bool = False) -> bool:
        spec = w.spec
        t, mono = time.time(), time.monotonic()  # before the call, so every effect of the fault follows it
        try:
            reply = self._do_apply(w)
        except Exception as exc:
            self._record(ev.FaultError(fault=w.fault, type=spec.ledger_type, error=_describe(exc), manual=manual))
            return False
        duration = 0.0 if w.end_s is None else w.end_s - w.start_s  # planned; 0 for instant faults
        affected = reply.get("affected") if isinstance(reply, dict) else None
        clients = reply.get("clients") if isinstance(reply, dict) else None
        self._record(ev.FaultApply(
            t=t,
            mono=mono,
            fault=w.fault,
            type=spec.ledger_type,
            share=spec.effective_toxicity if spec.kind == "toxic" else spec.share,
            start_s=w.start_s,
            duration_s=duration,
            attributes=spec.ledger_attributes(),
            call_ms=round((time.monotonic() - mono) * 1000, 3),
            affected=affected if type(affected) is int else None,
            manual=manual,
            hit=[c for c in clients if isinstance(c, str)] if isinstance(clients, list) else None,
        ))
        if spec.kind in INSTANT_KINDS:
            self._record(ev.FaultRemove(fault=w.fault, type=spec.ledger_type, manual=manual))
        else:
            self._active[w.fault] = w
        return True

    def _remove(self, w: FaultWindow, *, manual: bool = False) -> None:
        self._active.pop(w.fault, None)
        t, mono = time.time(), time.monotonic()  # as for apply: effects of the removal follow it
        try:
            self._do_remove(w)
        except Exception as exc:
            self._record(ev.FaultError(fault=w.fault, type=w.spec.ledger_type, error=_describe(exc), manual=manual))
            return
        self._record(ev.FaultRemove(t=t, mono=mono, fault=w.fault, type=w.spec.ledger_type, manual=manual))

    def _need_toxics(self) -> ToxicBackend:
        if self._toxics is None:
            raise RuntimeError("no proxy: this fault needs the Toxiproxy client")
        return self._toxics

    def _need_admin(self) -> AdminBackend:
        if self._admin is None:
            raise RuntimeError("no admin API: protocol faults need the embedded reference server")
        return self._admin

    def _do_apply(self, w: FaultWindow) -> Any:
        s = w.spec
        if s.kind == "toxic":
            assert s.type is not None
            return self._need_toxics().add_toxic(
                self._proxy,
                s.type,
                name=toxic_name(w.fault),
                stream=s.stream,
                toxicity=s.effective_toxicity,
                attributes=dict(s.attributes),
            )
        if s.kind == "down":
            return self._need_toxics().set_enabled(self._proxy, False)
        admin = self._need_admin()
        # unaimed calls keep their old shape, so any AdminBackend of before still plays them
        aim = {} if s.agents is None else {"agents": s.agents}
        if s.kind == "close":
            assert s.code is not None
            return admin.close(s.code, s.share, **aim)
        if s.kind == "limit":
            return admin.limit(s.share, **aim)
        if s.kind == "evict":
            return admin.evict(s.share, **aim)
        if s.kind == "wipe_store":
            return admin.wipe_store()
        if s.kind == "stall":
            assert s.where is not None and s.ms is not None
            return admin.stall(s.where, s.ms, s.share)
        if s.kind == "refuse":
            assert s.status is not None
            return admin.refuse(s.status, s.retry_after_s, s.share)
        if s.kind == "wrong_state":
            return admin.wrong_state(s.share, s.turns, **aim)
        if s.kind == "leak":
            assert s.bytes is not None
            return admin.leak(s.bytes)
        raise ValueError(f"unknown fault kind {s.kind!r}")  # pragma: no cover - FaultSpec checks kind

    def _do_remove(self, w: FaultWindow) -> None:
        kind = w.spec.kind
        if kind == "toxic":
            self._need_toxics().remove_toxic(self._proxy, toxic_name(w.fault))
        elif kind == "down":
            self._need_toxics().set_enabled(self._proxy, True)
        elif kind == "stall":
            self._need_admin().clear_stall()
        elif kind == "refuse":
            self._need_admin().clear_refuse()
        elif kind == "wrong_state":
            self._need_admin().clear_wrong_state()
        elif kind == "leak":
            self._need_admin().clear_leak()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
