"""The facts a ``summarize`` pass produces: ``RunSummary`` and the value types it is made of."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reports.ledger.schema import (
    FAILED_OUTCOMES,
    GOOD_OUTCOMES,
    HALF_OPEN_DETECTORS,
    Backoff,
    PlannedFault,
    RecoveryMode,
)
from reports.quantile import nearest_rank
from reports.sketch import LogHistogram

__all__ = ["CloseKey", "ComponentSeries", "Dist", "Disconnect", "FaultWindow", "Finding", "Integrity", "RecoveryCounts", "RunInfo",
           "RunSummary", "Second", "TimelinePlay"]


@dataclass(frozen=True)
class Dist:
    """Quantiles of one measurement (None when there were no samples)."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, hist: LogHistogram) -> Dist:
        if not hist.count:
            return cls(0, None, None, None, None, None)
        return cls(hist.count, hist.mean, hist.quantile(0.5), hist.quantile(0.95), hist.quantile(0.99), hist.max)

    @classmethod
    def of_values(cls, values: Iterable[float]) -> Dist:
        """Exact quantiles (nearest rank) of a bounded list of values."""
        vals = sorted(values)
        if not vals:
            return cls(0, None, None, None, None, None)
        return cls(len(vals), sum(vals) / len(vals), nearest_rank(vals, 0.5), nearest_rank(vals, 0.95),
                   nearest_rank(vals, 0.99), vals[-1])


@dataclass(frozen=True)
class RunInfo:
    """What ``run_start``/``run_stop`` and the test events said about the run."""

    run_id: str | None = None
    profile: str | None = None
    seed: Any = None
    target: str | None = None
    digests: bool | None = None
    proxy: str | None = None
    users: int | None = None
    duration_s: float | None = None
    reconnect: Backoff | None = None  # the agents' backoff policy; None in older ledgers
    fault_plan: tuple[PlannedFault, ...] | None = None  # every planned fault window; None: not recorded
    cpu_count: int | None = None  # the cores the run could use; None in older ledgers
    agent_indices: tuple[int, ...] | None = None  # run_start.agents: the indices run (None: 1 .. users)
    interactive: bool = False  # a web UI swarm (its user count is the person's to change)
    started: bool = False
    stopped: bool = False
    stop_reason: str | None = None
    stop_error: str | None = None
    test_started: bool = False
    test_stopped: bool = False


@dataclass(frozen=True)
class FaultWindow:
    """One applied fault; times are seconds since the test start (``t0``)."""

    fault: str
    type: str
    share: float | None
    start: float
    end: float
    removed: bool
    planned_start_s: float | None
    planned_duration_s: float | None
    errors: tuple[str, ...] = ()
    standing: bool = False  # its type is in ``STANDING_FAULT_TYPES``: it holds agents back while it lasts


@dataclass(frozen=True)
class TimelinePlay:
    """One play of the profile's fault timeline: play 1 starts with the test, a later one when it was
    started again by hand (``timeline_start``); its windows are moved by ``start_s`` (seconds since the
    test start). ``stopped_s``: when it was stopped by hand (``timeline_stop``, ``manual``); None: it
    played until the test stopped."""

    play: int
    start_s: float
    stopped_s: float | None = None


@dataclass(frozen=True)
class Disconnect:
    """One disconnect and what followed it. ``at`` is seconds since ``t0``.

    ``ended``: ``reconnected``; ``gave_up`` (reconnect_giveup); ``agent_stopped`` (the agent stopped
    without reconnecting); ``run_ended`` (nothing followed before the ledger ends).
    """

    agent: str
    at: float
    code: int | None
    closed_by: str | None
    detected: str | None
    recoverable: bool | None
    silent_ms: float | None
    fault: str | None
    ended: str
    reconnect_ms: float | None
    attempts: int | None
    first_attempt_ms: float | None
    fault_end_at: float | None = None  # end of the standing fault window this disconnect fell in
    # Set only for a reconnect that came after the standing window it waited on had cleared:
    after_clear_ms: float | None = None  # the window's end -> the first attempt that started after it
    first_after_clear_ok: bool | None = None  # that first attempt is the one that connected
    connect_ms: float | None = None  # the successful handshake's own duration
    refused_wait_s: float | None = None  # the wait the last refused upgrade before the clear announced (Retry-After)

    @property
    def waited_on_fault(self) -> bool:
        """The reconnect came only after the standing fault it fell in had cleared."""
        return self.first_after_clear_ok is not None

    @property
    def clear_reconnect_ms(self) -> float | None:
        """Time to reconnect not counting time the fault still stood.

        A disconnect inside a standing fault window (a ``down``, a black-holing toxic) cannot reconnect
        before the fault clears, whatever the backoff; this measures from ``max(disconnect, window end)``
        when the reconnect came after the window ended, else the raw time.
        """
        if self.reconnect_ms is None:
            return None
        ok_at = self.at + self.reconnect_ms / 1000.0
        if self.fault_end_at is None or ok_at <= self.fault_end_at:
            return self.reconnect_ms
        return (ok_at - max(self.at, self.fault_end_at)) * 1000.0


@dataclass(frozen=True)
class Finding:
    """A count of offending items, the agents they belong to, a few example ids, and each agent's
    first example (``by_agent``: agent -> id)."""

    count: int = 0
    agents: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    by_agent: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Integrity:
    """Conversation-integrity evidence."""

    digests_compared: int
    digest_mismatches: Finding
    lost_turns: Finding
    never_ended_turns: int
    lost_how: Mapping[str, int]  # how the lost turns were lost ("cut 5 times, policy exhausted") -> count
    duplicated_turns: Finding
    chain_breaks: Finding
    not_found: int
    not_found_resent: int
    not_found_unanswered: Finding
    failed_recoveries: Finding
    # turns started after their agent fell back to another transport (transport_fallback)
    fallback_turns: int = 0
    fallback_completed: int = 0
    fallback_lost: Finding = Finding()
    fallback_duplicated: Finding = Finding()


@dataclass(frozen=True)
class RecoveryCounts:
    """Recoveries by mode (``recovery.mode``)."""

    cache_hit: int = 0
    store_hydrate: int = 0
    full_resend: int = 0
    failed: int = 0
    new_conversation: int = 0

    def of(self, mode: RecoveryMode) -> int:
        return getattr(self, mode.value)  # the field names are the mode values


class CloseKey(NamedTuple):
    """Who closed and with which code: the key of ``RunSummary.close_codes``."""

    closed_by: str
    code: int | None


@dataclass(frozen=True)
class Second:
    """One second of the run (``t`` seconds since ``t0``); histograms hold completed turns ending then."""

    t: int
    connected: int
    connects: int
    disconnects: int
    reconnects: int
    turns: int
    failures: int
    latency: LogHistogram
    ttft: LogHistogram
    cache_hit: int
    cache_store: int
    cache_miss: int
    recoveries: RecoveryCounts


@dataclass(frozen=True)
class Dispatch:
    """How many agents ran at once, and what Locust started beyond the run's agents.

    ``peak`` agents ran at once, first reached ``peak_at_s`` after the test start; ``started`` agents
    started in all; ``extra_agents`` started with an index outside the run's set; ``refused`` are the
    indices the master refused (``agent_refused``), started on ``refused_workers`` while Locust counted
    ``missing_workers`` as missing."""

    peak: int = 0
    peak_at_s: float | None = None
    started: int = 0
    extra_agents: tuple[str, ...] = ()
    refused: tuple[int, ...] = ()
    refused_workers: tuple[str, ...] = ()
    missing_workers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComponentSeries:
    """One component's ``health_sample`` series, in time order; ``t`` is seconds since the test start
    (negative before it). ``pids`` are the processes it was seen as (more than one: it was restarted)."""

    component: str
    pids: tuple[int, ...]
    t: tuple[float, ...]
    rss_bytes: tuple[int, ...]
    fds: tuple[int | None, ...]
    cpu_pct: tuple[float | None, ...]
    connections: tuple[int | None, ...]
    established: tuple[int | None, ...]

    @property
    def start_rss(self) -> int | None:
        return self.rss_bytes[0] if self.rss_bytes else None

    @property
    def end_rss(self) -> int | None:
        return self.rss_bytes[-1] if self.rss_bytes else None


@dataclass(frozen=True)
class RunSummary:
    """Everything the checks and renderers need, computed in one pass over the ledger."""

    run: RunInfo
    t0_mono: float | None
    duration_s: float
    events: int
    agent_events: int
    agents: int
    sessions: int
    turns: int
    turn_attempts: int
    outcomes: Mapping[str, int]
    ttft_ms: Dist
    latency_ms: Dist
    gap_p50_ms: Dist
    gap_p99_ms: Dist
    tokens_per_s: Dist
    output_tokens: int
    input_tokens: int
    cached_tokens: int
    cache: Mapping[str, int]  # turn_end.cache of completed turns: hit/store/miss/none
    recovery_modes: Mapping[str, int]
    faults: tuple[FaultWindow, ...]
    disconnects: tuple[Disconnect, ...]
    close_codes: Mapping[CloseKey, int]
    connect_failures: Mapping[str, int]
    integrity: Integrity
    timeline: tuple[Second, ...]
    transports: Mapping[str, int] = field(default_factory=dict)  # completed turns by turn_end.transport
    fallbacks: Mapping[str, int] = field(default_factory=dict)  # agent -> transport_fallback events
    #: component -> its health samples (``health_sample``), components in name order
    health: Mapping[str, ComponentSeries] = field(default_factory=dict)
    #: the fault timeline's plays, by play number (play 1 alone unless it was stopped or started by hand)
    timeline_plays: tuple[TimelinePlay, ...] = (TimelinePlay(1, 0.0),)
    dispatch: Dispatch = field(default_factory=Dispatch)

    @property
    def reconnect_times_ms(self) -> list[float]:
        return [d.reconnect_ms for d in self.disconnects if d.reconnect_ms is not None]

    @property
    def clear_reconnect_times_ms(self) -> list[float]:
        return [d.clear_reconnect_ms for d in self.disconnects if d.clear_reconnect_ms is not None]

    @property
    def output_tokens_per_s(self) -> float | None:
        """Aggregate output throughput over the run."""
        return self.output_tokens / self.duration_s if self.duration_s > 0 else None

    @property
    def completed_turns(self) -> int:
        """Turn ends with a good outcome (``completed`` or ``incomplete``)."""
        return sum(self.outcomes.get(o, 0) for o in GOOD_OUTCOMES)

    @property
    def failed_turns(self) -> int:
        """Turn ends with outcome ``failed`` or ``error``."""
        return sum(self.outcomes.get(o, 0) for o in FAILED_OUTCOMES)

    @property
    def cache_hit_ratio(self) -> float | None:
        """Cache hits over completed turns that reported hit, store or miss."""
        total = self.cache["hit"] + self.cache["store"] + self.cache["miss"]
        return self.cache["hit"] / total if total else None

    @property
    def applied_faults(self) -> tuple[FaultWindow, ...]:
        """Fault windows that applied (a ``fault_error`` with no ``fault_apply`` has type ``?``)."""
        return tuple(f for f in self.faults if f.type != "?")

    @property
    def half_open(self) -> list[Disconnect]:
        """Disconnects of half-open sockets (ping/idle timeout) with the silence before detection."""
        return [d for d in self.disconnects if d.detected in HALF_OPEN_DETECTORS and d.silent_ms is not None]

    @property
    def disconnects_by_fault(self) -> dict[str, Counter[str]]:
        """Fault (or ``(no fault)``) -> how its disconnects ended, in order of first disconnect."""
        by_fault: dict[str, Counter[str]] = {}
        for d in self.disconnects:
            by_fault.setdefault(d.fault or "(no fault)", Counter())[d.ended] += 1
        return by_fault
