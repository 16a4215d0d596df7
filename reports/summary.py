"""One streaming pass over the ledger into a ``RunSummary``: the facts every check and chart needs.

``summarize`` is pure (events in, summary out) and order-independent where the ledger is not
ordered: files arrive one after another, so run and fault events may come after the agent events
they frame. Memory is bounded by agents, turns (a small int per turn id), reconnects and seconds of
run time, never by events: latencies go into log-bucket histograms (``reports.sketch``), and the
time series into one bucket per second.

Assumption (docs/ledger.md): every event of one agent comes from one process, hence one file, in
the order it was written; the response-id chain is followed per agent on that basis.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.sketch import LogHistogram

__all__ = [
    "Dist",
    "Disconnect",
    "FaultWindow",
    "Integrity",
    "RunInfo",
    "RunSummary",
    "Second",
    "nearest_rank",
    "summarize",
]

GOOD_OUTCOMES = frozenset({"completed", "incomplete"})
FAILED_OUTCOMES = frozenset({"failed", "error"})
HALF_OPEN_DETECTORS = frozenset({"ping_timeout", "idle_timeout"})
RECOVERY_MODES = ("cache_hit", "store_hydrate", "full_resend", "failed")
NOT_FOUND = "previous_response_not_found"
#: a disconnect up to this long after a fault window closed is still attributed to that fault
FAULT_ATTRIBUTION_TAIL_S = 10.0
_EXAMPLES = 50  # example ids kept per finding (counts and agent sets stay exact)

# per-agent connection timeline entry codes, ordered so that equal times sort sensibly
_DISC, _ATTEMPT, _OK, _GIVEUP, _STOP = 0, 1, 2, 3, 4


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of a non-empty, sorted sequence."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


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
    """A count of offending items, the agents they belong to and a few example ids."""

    count: int = 0
    agents: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Integrity:
    """Conversation-integrity evidence."""

    digests_compared: int
    digest_mismatches: Finding
    lost_turns: Finding
    never_ended_turns: int
    duplicated_turns: Finding
    chain_breaks: Finding
    not_found: int
    not_found_resent: int
    not_found_unanswered: Finding
    failed_recoveries: Finding


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
    recoveries: tuple[int, int, int, int]  # in RECOVERY_MODES order


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
    close_codes: Mapping[tuple[str, int | None], int]  # (closed_by, code) -> count
    connect_failures: Mapping[str, int]
    integrity: Integrity
    timeline: tuple[Second, ...]

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


class _Bucket:
    __slots__ = ("conn", "disc", "reco", "turns", "fail", "lat", "ttft", "hit", "store", "miss", "rec")

    def __init__(self) -> None:
        self.conn = self.disc = self.reco = self.turns = self.fail = 0
        self.hit = self.store = self.miss = 0
        self.lat = LogHistogram()
        self.ttft = LogHistogram()
        self.rec = [0, 0, 0, 0]


class _FindingAcc:
    __slots__ = ("count", "agents", "examples")

    def __init__(self) -> None:
        self.count = 0
        self.agents: set[str] = set()
        self.examples: list[str] = []

    def add(self, agent: str | None, example: str | None) -> None:
        self.count += 1
        if agent is not None:
            self.agents.add(agent)
        if example is not None and len(self.examples) < _EXAMPLES:
            self.examples.append(example)

    def freeze(self) -> Finding:
        return Finding(self.count, tuple(sorted(self.agents)), tuple(sorted(self.examples)))


# a tuple, not a set: ``kind`` may be any JSON value, and a list or object is not hashable
_CONNECTION_KINDS = ("connect_ok", "connect_attempt", "disconnect", "reconnect_giveup", "agent_stop",
                     "connect_fail", "agent_start", "recovery")
_NUMBER = (int, float)  # exact types: bool is not a number here; JSON has no NaN/inf
_UNHASHABLE = (list, dict)  # JSON arrays and objects, as orjson decodes them


def _num(v: Any) -> float | None:
    return v if type(v) in _NUMBER else None


def _key(v: Any) -> Any:
    """``v`` made usable as a dict key or set member: a malformed array/object value becomes its text."""
    return str(v) if type(v) in _UNHASHABLE else v


def summarize(events: Iterable[Mapping[str, Any]]) -> RunSummary:
    """Aggregate ledger events (any file order) into a ``RunSummary``. Pure; one pass."""
    acc = _Accumulator()
    feed = acc.feed
    for ev in events:
        feed(ev)
    return acc.finish()


class _Accumulator:
    """The mutable state of one ``summarize`` pass (kept compact: see the module docstring)."""

    def __init__(self) -> None:
        self.events = 0
        self.agent_events = 0
        self.seq = 0
        self.min_mono = math.inf
        self.max_mono = -math.inf
        self.run_start: Mapping[str, Any] | None = None
        self.run_stop: Mapping[str, Any] | None = None
        self.test_start: float | None = None
        self.test_stop: float | None = None
        self.fault_apply: list[Mapping[str, Any]] = []
        self.fault_remove: dict[str, float] = {}
        self.fault_errors: dict[str, list[str]] = {}
        self.agents: set[str] = set()
        self.sessions: set[tuple[str, Any]] = set()
        self.turn_state: dict[str, int] = {}  # bit0 started, bit1 stopped, bit2 ended, +8 per good end
        self.turn_starts = 0
        self.outcomes: Counter[str] = Counter()
        self.gap50 = LogHistogram()
        self.gap99 = LogHistogram()
        self.tps = LogHistogram()
        self.out_tokens = 0
        self.in_tokens = 0
        self.cached_tokens = 0
        self.digests_compared = 0
        self.mismatch = _FindingAcc()
        self.chain_breaks = _FindingAcc()
        self.nf_unanswered = _FindingAcc()
        self.failed_recoveries = _FindingAcc()
        self.not_found = 0
        self.not_found_resent = 0
        self.chain: dict[str, list[Any]] = {}  # agent -> [session, last good response id, not_found pending]
        self.conn_log: dict[str, list[tuple[Any, ...]]] = {}
        self.recovery_modes: Counter[str] = Counter()
        self.close_codes: Counter[tuple[str, int | None]] = Counter()
        self.connect_failures: Counter[str] = Counter()
        # per-second buckets; also the only store of turn latency, TTFT and cache counts (summed in finish)
        self.buckets: dict[int, _Bucket] = {}

    def _bucket(self, mono: float) -> _Bucket:
        key = int(mono // 1)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = _Bucket()
        return b

    def feed(self, ev: Mapping[str, Any]) -> None:  # noqa: C901 - one flat dispatch, hot loop
        self.events += 1
        mono = ev.get("mono")
        if not isinstance(mono, (int, float)) or isinstance(mono, bool) or not math.isfinite(mono):
            return  # without a monotonic time an event cannot be placed; readers skip it
        if mono < self.min_mono:
            self.min_mono = mono
        if mono > self.max_mono:
            self.max_mono = mono
        kind = ev.get("kind")
        if kind == "turn_end":
            self._turn_end(ev, mono)
        elif kind == "turn_start":
            self._turn_start(ev)
        elif kind in _CONNECTION_KINDS:
            self._connection(kind, ev, mono)
        elif kind == "run_start":
            self.run_start = ev
        elif kind == "run_stop":
            self.run_stop = ev
        elif kind == "test_start":
            self.test_start = mono if self.test_start is None else min(self.test_start, mono)
        elif kind == "test_stop":
            self.test_stop = mono if self.test_stop is None else max(self.test_stop, mono)
        elif kind == "fault_apply":
            self.fault_apply.append(ev)
        elif kind == "fault_remove":
            self.fault_remove[str(ev.get("fault"))] = mono
        elif kind == "fault_error":
            self.fault_errors.setdefault(str(ev.get("fault")), []).append(str(ev.get("error")))

    def _turn_start(self, ev: Mapping[str, Any]) -> None:
        self.agent_events += 1
        self.turn_starts += 1
        turn = ev.get("turn")
        agent = ev.get("agent")
        if not isinstance(turn, str) or not isinstance(agent, str):
            return
        ts = self.turn_state
        ts[turn] = ts.get(turn, 0) | 1
        session = ev.get("session")
        if type(session) in _UNHASHABLE:  # _key(), inlined: the hot loop
            session = str(session)
        self.sessions.add((agent, session))
        st = self.chain.get(agent)
        if st is None:
            self.agents.add(agent)
            st = self.chain[agent] = [session, None, False]
        elif st[0] != session:
            st[0], st[1] = session, None
        prev = ev.get("previous_response_id")
        if st[2]:
            st[2] = False
            if prev is None and ev.get("input_mode") == "full":
                self.not_found_resent += 1
            else:
                self.nf_unanswered.add(agent, turn)
        elif prev is not None and prev != st[1]:
            self.chain_breaks.add(agent, turn)

    def _turn_end(self, ev: Mapping[str, Any], mono: float) -> None:
        self.agent_events += 1
        turn = ev.get("turn")
        agent = ev.get("agent")
        outcome = ev.get("outcome")
        if type(outcome) in _UNHASHABLE:  # _key(), inlined: the hot loop
            outcome = str(outcome)
        self.outcomes[outcome] += 1
        if not isinstance(turn, str) or not isinstance(agent, str):
            return
        ts = self.turn_state
        if outcome in GOOD_OUTCOMES:
            ts[turn] = (ts.get(turn, 0) + 8) | 4
            st = self.chain.get(agent)
            if st is not None and ev.get("response_id") is not None:
                st[1] = ev.get("response_id")
            b = self._bucket(mono)
            b.turns += 1
            v = ev.get("duration_ms")
            if type(v) in _NUMBER:
                b.lat.add(v)
            v = ev.get("ttft_ms")
            if type(v) in _NUMBER:
                b.ttft.add(v)
            v = ev.get("gap_p50_ms")
            if type(v) in _NUMBER:
                self.gap50.add(v)
            v = ev.get("gap_p99_ms")
            if type(v) in _NUMBER:
                self.gap99.add(v)
            v = ev.get("tokens_per_s")
            if type(v) in _NUMBER:
                self.tps.add(v)
            v = ev.get("output_tokens")
            if type(v) in _NUMBER:
                self.out_tokens += v
            v = ev.get("input_tokens")
            if type(v) in _NUMBER:
                self.in_tokens += v
            v = ev.get("cached_tokens")
            if type(v) in _NUMBER:
                self.cached_tokens += v
            cache = ev.get("cache")
            if cache == "hit":
                b.hit += 1
            elif cache == "store":
                b.store += 1
            elif cache == "miss":
                b.miss += 1
            server = ev.get("server_digest")
            client = ev.get("client_digest")
            if server is not None and client is not None:
                self.digests_compared += 1
                if server != client:
                    self.mismatch.add(agent, turn)
        elif outcome == "stopped":
            ts[turn] = ts.get(turn, 0) | 6
        else:
            ts[turn] = ts.get(turn, 0) | 4
            if outcome in FAILED_OUTCOMES:
                self._bucket(mono).fail += 1
        if ev.get("error_code") == NOT_FOUND:
            self.not_found += 1
            st = self.chain.get(agent)
            if st is not None:
                st[2] = True

    def _connection(self, kind: str, ev: Mapping[str, Any], mono: float) -> None:
        self.agent_events += 1
        agent = ev.get("agent")
        if not isinstance(agent, str):
            return
        self.seq += 1
        log = self.conn_log.get(agent)
        if log is None:
            self.agents.add(agent)
            log = self.conn_log[agent] = []
        if kind == "connect_ok":
            reason = ev.get("reason")
            log.append((mono, _OK, self.seq, ev.get("attempt"), reason))
            b = self._bucket(mono)
            b.conn += 1
            if reason == "reconnect":
                b.reco += 1
        elif kind == "disconnect":
            code = _key(ev.get("code"))
            closed_by = ev.get("closed_by")
            log.append((mono, _DISC, self.seq, code, closed_by, _key(ev.get("detected")),
                        ev.get("recoverable"), _num(ev.get("silent_ms"))))
            self._bucket(mono).disc += 1
            self.close_codes[(str(closed_by), code)] += 1
        elif kind == "connect_attempt":
            if ev.get("reason") == "reconnect" and ev.get("attempt") == 1:
                log.append((mono, _ATTEMPT, self.seq))
        elif kind == "recovery":
            mode = ev.get("mode")
            self.recovery_modes[str(mode)] += 1
            if mode in RECOVERY_MODES:
                self._bucket(mono).rec[RECOVERY_MODES.index(mode)] += 1
            if mode == "failed":
                example = ev.get("turn") or ev.get("conn")
                self.failed_recoveries.add(agent, None if example is None else str(example))
        elif kind == "reconnect_giveup":
            log.append((mono, _GIVEUP, self.seq))
        elif kind == "agent_stop":
            log.append((mono, _STOP, self.seq))
        elif kind == "connect_fail":
            status = ev.get("status")
            self.connect_failures[f"HTTP {status}" if status is not None else str(ev.get("error"))[:80]] += 1

    # -- finishing --------------------------------------------------------------------------

    def finish(self) -> RunSummary:
        have_time = self.min_mono <= self.max_mono
        t0 = self.test_start
        if t0 is None and self.run_start is not None:
            t0 = _num(self.run_start.get("mono"))
        if t0 is None and have_time:
            t0 = self.min_mono
        end = self.test_stop
        if end is None and self.run_stop is not None:
            end = _num(self.run_stop.get("mono"))
        if end is None and have_time:
            end = self.max_mono
        base = t0 or 0.0
        faults = self._faults(base)
        disconnects = self._disconnects(base, faults)
        seconds = self.buckets.values()
        hit, store, miss = (sum(b.hit for b in seconds), sum(b.store for b in seconds),
                            sum(b.miss for b in seconds))
        return RunSummary(
            run=self._run_info(),
            t0_mono=t0,
            duration_s=max(0.0, (end or 0.0) - base) if t0 is not None else 0.0,
            events=self.events,
            agent_events=self.agent_events,
            agents=len(self.agents),
            sessions=len(self.sessions),
            turns=len(self.turn_state),
            turn_attempts=self.turn_starts,
            outcomes={str(k): v for k, v in sorted(self.outcomes.items(), key=lambda kv: str(kv[0]))},
            ttft_ms=Dist.of(LogHistogram.merged(b.ttft for b in seconds)),
            latency_ms=Dist.of(LogHistogram.merged(b.lat for b in seconds)),
            gap_p50_ms=Dist.of(self.gap50),
            gap_p99_ms=Dist.of(self.gap99),
            tokens_per_s=Dist.of(self.tps),
            output_tokens=int(self.out_tokens),
            input_tokens=int(self.in_tokens),
            cached_tokens=int(self.cached_tokens),
            cache={"hit": hit, "store": store, "miss": miss,
                   "none": sum(b.turns for b in seconds) - hit - store - miss},
            recovery_modes={m: self.recovery_modes.get(m, 0) for m in RECOVERY_MODES}
            | {k: v for k, v in self.recovery_modes.items() if k not in RECOVERY_MODES},
            faults=faults,
            disconnects=disconnects,
            close_codes=dict(sorted(self.close_codes.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))),
            connect_failures=dict(self.connect_failures.most_common()),
            integrity=self._integrity(),
            timeline=self._timeline(base),
        )

    def _run_info(self) -> RunInfo:
        rs = self.run_start or {}
        stop = self.run_stop or {}
        digests = rs.get("digests")
        users = _num(rs.get("users"))
        return RunInfo(
            run_id=rs.get("run_id"),
            profile=rs.get("profile"),
            seed=rs.get("seed"),
            target=rs.get("target"),
            digests=digests if isinstance(digests, bool) else None,
            proxy=rs.get("proxy"),
            users=int(users) if users is not None else None,
            duration_s=_num(rs.get("duration_s")),
            started=self.run_start is not None,
            stopped=self.run_stop is not None,
            stop_reason=stop.get("reason"),
            stop_error=stop.get("error"),
            test_started=self.test_start is not None,
            test_stopped=self.test_stop is not None,
        )

    def _faults(self, base: float) -> tuple[FaultWindow, ...]:
        out = []
        for ev in sorted(self.fault_apply, key=lambda e: e["mono"]):
            fid = str(ev.get("fault"))
            start = ev["mono"]
            removed = self.fault_remove.get(fid)
            if removed is None or removed < start:
                planned = _num(ev.get("duration_s"))
                end = start + planned if planned is not None else self.max_mono
                end = min(end, self.max_mono)
            else:
                end = removed
            out.append(FaultWindow(
                fault=fid,
                type=str(ev.get("type")),
                share=_num(ev.get("share")),
                start=start - base,
                end=max(start, end) - base,
                removed=removed is not None,
                planned_start_s=_num(ev.get("start_s")),
                planned_duration_s=_num(ev.get("duration_s")),
                errors=tuple(self.fault_errors.get(fid, ())),
            ))
        # errors of faults that never applied still count
        applied = {f.fault for f in out}
        for fid, errs in self.fault_errors.items():
            if fid not in applied:
                out.append(FaultWindow(fid, "?", None, 0.0, 0.0, False, None, None, tuple(errs)))
        return tuple(out)

    def _disconnects(self, base: float, faults: tuple[FaultWindow, ...]) -> tuple[Disconnect, ...]:
        out: list[Disconnect] = []

        def fault_of(at: float) -> str | None:
            best = None
            for f in faults:
                if f.start <= at <= f.end + FAULT_ATTRIBUTION_TAIL_S and (best is None or f.start >= best.start):
                    best = f
            return best.fault if best is not None else None

        def standing_end(at: float) -> float | None:
            ends = [f.end for f in faults if f.end > f.start and f.start <= at <= f.end]
            return max(ends) if ends else None

        for agent, log in self.conn_log.items():
            log.sort(key=lambda e: (e[0], e[2]))
            pending: tuple[Any, ...] | None = None
            first_attempt: float | None = None

            def close(ended: str, ok: tuple[Any, ...] | None = None, _agent: str = agent) -> None:
                nonlocal pending, first_attempt
                assert pending is not None
                mono, _, _, code, closed_by, detected, recoverable, silent = pending
                at = mono - base
                attempts = ok[3] if ok is not None and isinstance(ok[3], int) else None
                out.append(Disconnect(
                    agent=_agent, at=at, code=code if isinstance(code, int) else None,
                    closed_by=closed_by, detected=detected,
                    recoverable=recoverable if isinstance(recoverable, bool) else None,
                    silent_ms=silent, fault=fault_of(at), ended=ended,
                    reconnect_ms=(ok[0] - mono) * 1000.0 if ok is not None else None,
                    attempts=attempts,
                    first_attempt_ms=(first_attempt - mono) * 1000.0 if first_attempt is not None else None,
                    fault_end_at=standing_end(at),
                ))
                pending = None
                first_attempt = None

            for entry in log:
                code = entry[1]
                if code == _DISC:
                    if pending is not None:
                        close("run_ended")  # a second disconnect without a connect_ok between
                    pending = entry
                elif pending is None:
                    continue
                elif code == _OK:
                    close("reconnected", entry)
                elif code == _ATTEMPT:
                    if first_attempt is None:
                        first_attempt = entry[0]
                elif code == _GIVEUP:
                    close("gave_up")
                elif code == _STOP:
                    close("agent_stopped")
            if pending is not None:
                close("run_ended")
        out.sort(key=lambda d: (d.at, d.agent))
        return tuple(out)

    def _integrity(self) -> Integrity:
        lost = _FindingAcc()
        dup = _FindingAcc()
        never_ended = 0
        for turn, state in self.turn_state.items():
            good = state >> 3
            if state & 1 and not good and not state & 2:
                lost.add(turn.split("/", 1)[0], turn)
                if not state & 4:  # no turn_end at all: in flight when the ledger ends
                    never_ended += 1
            if good > 1:
                dup.add(turn.split("/", 1)[0], turn)
        return Integrity(
            digests_compared=self.digests_compared,
            digest_mismatches=self.mismatch.freeze(),
            lost_turns=lost.freeze(),
            never_ended_turns=never_ended,
            duplicated_turns=dup.freeze(),
            chain_breaks=self.chain_breaks.freeze(),
            not_found=self.not_found,
            not_found_resent=self.not_found_resent,
            not_found_unanswered=self.nf_unanswered.freeze(),
            failed_recoveries=self.failed_recoveries.freeze(),
        )

    def _timeline(self, base: float) -> tuple[Second, ...]:
        if not self.buckets:
            return ()
        keys = self.buckets.keys()
        lo, hi = min(keys), max(keys)
        if hi - lo > 14 * 86_400:  # a bogus clock: do not fill weeks of empty seconds
            span: Iterable[int] = sorted(keys)
        else:
            span = range(lo, hi + 1)
        shift = int(base // 1)
        out = []
        connected = 0
        empty = _Bucket()
        for key in span:
            b = self.buckets.get(key, empty)
            connected += b.conn - b.disc
            out.append(Second(
                t=key - shift, connected=connected, connects=b.conn, disconnects=b.disc, reconnects=b.reco,
                turns=b.turns, failures=b.fail, latency=b.lat, ttft=b.ttft,
                cache_hit=b.hit, cache_store=b.store, cache_miss=b.miss, recoveries=tuple(b.rec),  # type: ignore[arg-type]
            ))
        return tuple(out)
