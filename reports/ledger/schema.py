"""Every ledger event kind and its fields, typed: the one contract between writers and readers.

Each kind is a frozen ``msgspec.Struct`` tagged by ``kind``; a JSONL line is one struct encoded as
JSON (``docs/ledger.md`` is generated from this module). ``t`` and ``mono`` are stamped when an event
is built unless given; ``pid`` is the writing process. Closed sets of values are ``StrEnum``s, so
``Outcome.COMPLETED == "completed"`` and the wire format stays plain strings.

msgspec rather than dataclasses + orjson: measured by ``benchmarks/bench_ledger.py`` (encode and
decode-with-validation per event); the ledger is on the agents' per-turn path.
"""

from __future__ import annotations

import enum
import os
import time
from typing import Any, Union

import msgspec

__all__ = [
    "LEDGER_VERSION", "Event", "EVENT_TYPES", "AnyEvent",
    "TargetKind", "ProxyKind", "StopReason", "ConnectReason", "ClosedBy", "Detector", "InputMode",
    "Outcome", "CacheOutcome", "RecoveryMode", "LossCause", "CloseCode",
    "GOOD_OUTCOMES", "FAILED_OUTCOMES", "HALF_OPEN_DETECTORS", "STANDING_FAULT_TYPES",
    "Backoff", "PlannedFault", "ProcessLayout", "RunStart", "TestStart", "TestStop", "RunStop", "FaultApply", "FaultRemove", "FaultError",
    "TimelineStop", "TimelineStart",
    "AgentStart", "AgentStop", "AgentRefused", "ConnectAttempt", "ConnectOk", "ConnectFail", "Disconnect", "ReconnectGiveup",
    "ProtocolError", "TurnStart", "TurnEnd", "TurnAbandon", "Recovery", "Transport", "FallbackReason",
    "TransportFallback", "HealthSample",
]

LEDGER_VERSION = 1


# -- closed value sets ---------------------------------------------------------------------------

class TargetKind(enum.StrEnum):
    """Where the agents' target runs."""

    EMBEDDED = "embedded"
    EXTERNAL = "external"


class ProxyKind(enum.StrEnum):
    """Which proxy sits between the agents and the target."""

    EMBEDDED = "embedded"
    REAL = "real"
    URL = "url"
    NONE = "none"


class StopReason(enum.StrEnum):
    """How the run ended."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class ConnectReason(enum.StrEnum):
    """Why a connection was opened."""

    INITIAL = "initial"
    RECONNECT = "reconnect"
    ROTATE = "rotate"


class ClosedBy(enum.StrEnum):
    """Which side ended a connection (``network``: neither sent a Close)."""

    SERVER = "server"
    CLIENT = "client"
    NETWORK = "network"


class Detector(enum.StrEnum):
    """How the agent noticed a connection was gone."""

    CLOSE_FRAME = "close_frame"
    EOF = "eof"
    RESET = "reset"
    PING_TIMEOUT = "ping_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    LIMIT_ERROR = "limit_error"
    ERROR = "error"
    ROTATE = "rotate"


class Transport(enum.StrEnum):
    """How a turn reached the target: Responses API WebSocket mode, or ``POST /v1/responses`` with SSE."""

    WEBSOCKET = "websocket"
    HTTP = "http"


class FallbackReason(enum.StrEnum):
    """Why an agent switched transport: an upgrade status in ``on_status`` (426), or its failed connects."""

    STATUS = "status"
    FAILED_ATTEMPTS = "failed_attempts"


class InputMode(enum.StrEnum):
    """``incremental``: new items after ``previous_response_id``; ``full``: the whole history."""

    INCREMENTAL = "incremental"
    FULL = "full"


class Outcome(enum.StrEnum):
    """How one attempt of a turn ended."""

    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    ERROR = "error"
    CUT = "cut"
    STOPPED = "stopped"


class CacheOutcome(enum.StrEnum):
    """Where the server found the previous response: its connection cache, its store, or nowhere."""

    HIT = "hit"
    STORE = "store"
    MISS = "miss"

    @classmethod
    def of(cls, value: object) -> CacheOutcome | None:
        """The member named by ``value``, or None (a target that reports none, or something else)."""
        return cls._value2member_map_.get(value) if isinstance(value, str) else None  # type: ignore[return-value]


class RecoveryMode(enum.StrEnum):
    """How a conversation resumed after a reconnect."""

    CACHE_HIT = "cache_hit"
    STORE_HYDRATE = "store_hydrate"
    FULL_RESEND = "full_resend"
    FAILED = "failed"
    #: the first turn after the reconnect began a new conversation (nothing to resume: not a recovery
    #: of the old chain, and never counted as a full resend or a store hydrate)
    NEW_CONVERSATION = "new_conversation"


class LossCause(enum.StrEnum):
    """Why an agent gave a turn up (``turn_abandon``): the turn is lost, and this says how."""

    CUT_RETRIES_EXHAUSTED = "cut_retries_exhausted"  # cut in flight on every attempt the retry policy allows
    RETRY_DISABLED = "retry_disabled"  # cut in flight, and the policy allows no retry
    FULL_RESEND_DISABLED = "full_resend_disabled"  # previous_response_not_found, and no full resend allowed
    ERROR = "error"  # the server answered with an error event
    FAILED = "failed"  # response.failed
    NO_CONNECTION = "no_connection"  # no socket within the turn timeout


class CloseCode(enum.IntEnum):
    """WebSocket close codes the agent records itself (RFC 6455 §7.4.1); others pass through as ints."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006


GOOD_OUTCOMES = frozenset({Outcome.COMPLETED, Outcome.INCOMPLETE})
FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.ERROR})
HALF_OPEN_DETECTORS = frozenset({Detector.PING_TIMEOUT, Detector.IDLE_TIMEOUT})
#: ``fault_apply.type`` values of *standing* faults: windows that hold the agents back for as long as
#: they last, so a disconnect inside one is judged from the window's end (reports/verify.py): the
#: proxy ``down``; the server's ``refuse`` (every upgrade refused) and ``stall`` (responses held
#: back); toxics that black-hole or cut every connection (``timeout``: data dropped; ``reset_peer``:
#: reset after the first data; ``limit_data``: closed after a few bytes). Not here: instant faults
#: (``close``, ``limit``, ``evict``, ``wipe_store``), toxics that only slow data down (``latency``,
#: ``bandwidth``, ``slicer``, ``slow_close``), and ``wrong_state`` (it lets everyone connect and run).
STANDING_FAULT_TYPES = frozenset({"down", "refuse", "stall", "timeout", "reset_peer", "limit_data"})


# -- events ----------------------------------------------------------------------------------------

_PID = os.getpid()


def _refresh_pid() -> None:
    global _PID
    _PID = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def _pid() -> int:
    return _PID


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Keys every event has: ``v`` (schema version), ``t`` (wall, Unix s), ``mono`` (``time.monotonic()``
    s, comparable across processes of one machine), ``pid`` (the writer process)."""

    v: int = LEDGER_VERSION
    t: float = msgspec.field(default_factory=time.time)
    mono: float = msgspec.field(default_factory=time.monotonic)
    pid: int = msgspec.field(default_factory=_pid)

    @property
    def kind(self) -> str:
        """The event kind, as written in the ledger."""
        return self.__struct_config__.tag  # type: ignore[return-value]


# run-level (orchestrator, Locust master)

class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """The agents' reconnect backoff (the profile's ``agent.reconnect``): retry ``n`` waits
    ``min(base_delay_s·2^(n-1), max_delay_s) × U(jitter_min, jitter_max)``; after ``max_retries``
    failed attempts the agent waits ``cooldown_s`` and starts a new sequence."""

    max_retries: int
    base_delay_s: float
    max_delay_s: float
    jitter_min: float
    jitter_max: float
    cooldown_s: float

    @property
    def longest_wait_s(self) -> float:
        """The longest wait the policy allows between two attempts."""
        return max(self.max_delay_s * self.jitter_max, self.cooldown_s)


class PlannedFault(msgspec.Struct, frozen=True, kw_only=True):
    """One window of the fault plan: ``fault`` is the id ``fault_apply`` will carry (``drop-all#0``),
    ``start_s`` its planned start relative to the test start (a timeline entry that starts at or after
    the run's ``duration_s`` is listed too, with its ``at``: it can never apply)."""

    fault: str
    type: str
    start_s: float


class ProcessLayout(msgspec.Struct, frozen=True, kw_only=True):
    """The process layout the orchestrator chose (``loadtests.layout``): how many processes each
    component on this box runs (null: not started here), the agents' source addresses, the FD limit
    every process got, and the one line ``agentsoak run`` printed."""

    locust: int | None
    proxy: int | None
    server: int | None
    source_addresses: int
    fd_limit: int
    summary: str


class RunStart(Event, frozen=True, kw_only=True, tag="run_start"):
    """The orchestrator starts a run."""

    run_id: str
    profile: str
    seed: int | str | None
    target: TargetKind
    digests: bool  # the target sends context digests
    proxy: ProxyKind
    users: int
    duration_s: float
    reconnect: Backoff | None = None  # null in ledgers written before it was added
    fault_plan: list[PlannedFault] | None = None  # every planned fault window; null: not recorded
    #: the agent indices that run when the profile runs only some (``load.agents``, ``users`` of them);
    #: null: agents 1 .. ``users``
    agents: list[int] | None = None
    #: the CPU cores the run may use (its CPU affinity), against which the health samples' summed
    #: ``cpu_pct`` is judged (100 = one core); null in ledgers written before it was added
    cpu_count: int | None = None
    layout: ProcessLayout | None = None  # null: not recorded (web UI swarms, older ledgers)
    #: a web UI swarm: the person may change the user count while it runs, so the dispatch checks
    #: (``load.concurrent_agents``, ``load.extra_agents``) are not judged
    interactive: bool = False


class TestStart(Event, frozen=True, kw_only=True, tag="test_start"):
    """Locust starts the test (the time origin of the report)."""

    users: int | None


class TestStop(Event, frozen=True, kw_only=True, tag="test_stop"):
    """Locust stops the test."""


class RunStop(Event, frozen=True, kw_only=True, tag="run_stop"):
    """The run ended; ``error`` holds the text when there is one."""

    reason: StopReason
    error: str | None = None


# faults (the fault schedule, on the Locust master)

class FaultApply(Event, frozen=True, kw_only=True, tag="fault_apply"):
    """A fault took effect. ``fault`` is its id (``drop-all#0`` for the first repeat); ``type`` the toxic
    type, ``down`` or a protocol fault (``close``, ``limit``, ``evict``, ``wipe_store``, ``stall``,
    ``refuse``, ``wrong_state``); ``start_s``/``duration_s`` are planned, relative to the test start (a
    timeline started again from the web UI plays from its restart: ``start_s`` includes it, and its ids
    carry the play, ``drop-all#0.p2``)."""

    fault: str
    type: str
    share: float | None  # 0..1
    start_s: float
    duration_s: float
    attributes: dict[str, Any]
    call_ms: float | None = None  # how long the backend call took
    affected: int | None = None  # the server's count, for protocol faults
    manual: bool = False  # added by hand from the web UI's Faults tab (``agentsoak ui``), not the timeline
    #: the connections a protocol fault picked, by the client ids agents name them by (``agent-0007/c3``;
    #: connections that named none are counted in ``affected`` only); null for toxics and ``down`` (which
    #: connections a toxic hit follows from its draws: ``faults.draws.toxic_hit``) and in older ledgers
    hit: list[str] | None = None


class FaultRemove(Event, frozen=True, kw_only=True, tag="fault_remove"):
    """A fault was removed (instant faults are removed as they apply)."""

    fault: str
    type: str
    manual: bool = False  # removed by hand, or the removal of a fault added by hand


class FaultError(Event, frozen=True, kw_only=True, tag="fault_error"):
    """Applying or removing a fault failed."""

    fault: str
    type: str
    error: str
    manual: bool = False  # an action from the web UI's Faults tab


class TimelineStop(Event, frozen=True, kw_only=True, tag="timeline_stop"):
    """The profile's fault timeline stopped before the test did (the web UI's Faults tab): the windows
    of play ``play`` (1 started with the test) from ``at_s`` (seconds since the test start) on are not
    played; its active faults are removed (``fault_remove``). ``manual``: stopped by hand."""

    play: int
    at_s: float
    manual: bool = False


class TimelineStart(Event, frozen=True, kw_only=True, tag="timeline_start"):
    """The profile's fault timeline started again in the same test (the web UI's Faults tab): play
    ``play`` (2, 3, ...) plays every window moved by ``at_s`` (seconds since the test start), with ids
    of its own (``drop-all#0.p2``). ``manual``: started by hand."""

    play: int
    at_s: float
    manual: bool = False


# agents (every Locust process)

class AgentStart(Event, frozen=True, kw_only=True, tag="agent_start"):
    """An agent (one Locust user) starts; ``index`` is its global 1-based index in the run (``agent-0001``)."""

    agent: str
    index: int | None = None


class AgentStop(Event, frozen=True, kw_only=True, tag="agent_stop"):
    """An agent stops."""

    agent: str


class AgentRefused(Event, frozen=True, kw_only=True, tag="agent_refused"):
    """Locust started a user beyond the run's agent count and the master gave it no index, so it stopped
    before it connected (Locust re-dispatches the users of a worker that missed its heartbeats, while
    that worker's users still run). ``index`` is the index it would have had, ``limit`` the run's agent
    count; ``worker`` the Locust worker it started on (null: a local runner); ``missing`` the workers
    the master counted as missing then. Written by the master or local runner."""

    index: int
    limit: int
    worker: str | None = None
    missing: list[str] | None = None


class ConnectAttempt(Event, frozen=True, kw_only=True, tag="connect_attempt"):
    """A WebSocket handshake starts; ``attempt`` is 1-based within one (re)connect sequence."""

    agent: str
    conn: str
    attempt: int
    reason: ConnectReason


class ConnectOk(Event, frozen=True, kw_only=True, tag="connect_ok"):
    """A handshake succeeded."""

    agent: str
    conn: str
    attempt: int
    reason: ConnectReason
    duration_ms: float


class ConnectFail(Event, frozen=True, kw_only=True, tag="connect_fail"):
    """A handshake failed; ``status`` is the HTTP status of a refused upgrade, ``retry_in_s`` None when
    giving up."""

    agent: str
    conn: str
    attempt: int
    reason: ConnectReason
    error: str
    status: int | None
    retry_in_s: float | None


class Disconnect(Event, frozen=True, kw_only=True, tag="disconnect"):
    """A connection ended. ``code`` is the close code (1006 when no Close frame; null when the agent
    killed the socket itself); ``in_flight`` the turn id cut; ``silent_ms`` ms since the last byte."""

    agent: str
    conn: str
    code: int | None
    closed_by: ClosedBy
    detected: Detector
    recoverable: bool
    in_flight: str | None
    silent_ms: float


class ReconnectGiveup(Event, frozen=True, kw_only=True, tag="reconnect_giveup"):
    """An agent used up its reconnect attempts (it cools down and starts a new sequence)."""

    agent: str
    attempts: int
    error: str


class ProtocolError(Event, frozen=True, kw_only=True, tag="protocol_error"):
    """A server frame broke the protocol (the agent ignores it)."""

    agent: str
    conn: str
    error: str


class TurnStart(Event, frozen=True, kw_only=True, tag="turn_start"):
    """One attempt of a logical turn is sent. ``client_digest`` is the digest the server should report."""

    agent: str
    conn: str
    turn: str
    session: int
    index: int
    attempt: int
    input_mode: InputMode
    previous_response_id: str | None
    input_items: int
    input_bytes: int
    client_digest: str | None
    transport: Transport = Transport.WEBSOCKET  # ledgers written before HTTP existed are all WebSocket


class TurnEnd(Event, frozen=True, kw_only=True, tag="turn_end"):
    """One attempt of a turn ended. ``server_digest`` is null for a target without digests; ``cache``
    null when the target reports none. ``session``/``index`` are null only in ledgers written before
    they were added."""

    agent: str
    conn: str | None
    turn: str
    session: int | None = None
    index: int | None = None
    attempt: int
    outcome: Outcome
    response_id: str | None
    error_code: str | None
    ttft_ms: float | None
    duration_ms: float
    output_tokens: int
    input_tokens: int
    cached_tokens: int
    gap_p50_ms: float | None
    gap_p99_ms: float | None
    tokens_per_s: float | None
    client_digest: str | None
    server_digest: str | None
    cache: CacheOutcome | None
    transport: Transport = Transport.WEBSOCKET
    # what the reference server charged this turn, by stage (ms: handshake, overhead, upload, hydrate,
    # prefill); null for a target that reports none
    server_cost_ms: dict[str, float] | None = None


class TransportFallback(Event, frozen=True, kw_only=True, tag="transport_fallback"):
    """The agent switched from ``primary`` to ``fallback`` for the rest of its life, as the Codex CLI does:
    at once on an upgrade ``status`` listed in ``on_status``, or after ``attempts`` failed connects."""

    agent: str
    primary: Transport
    fallback: Transport
    reason: FallbackReason
    status: int | None
    attempts: int


class Recovery(Event, frozen=True, kw_only=True, tag="recovery"):
    """The first turn to end after a reconnect, and how the conversation resumed. ``disconnect_mono``
    is when the disconnect was seen, ``reconnect_ms`` disconnect seen to connect_ok, ``attempts`` the
    connect attempts it took."""

    agent: str
    conn: str
    turn: str
    mode: RecoveryMode
    disconnect_mono: float
    reconnect_ms: float
    attempts: int


class TurnAbandon(Event, frozen=True, kw_only=True, tag="turn_abandon"):
    """The agent gives a turn up: no further attempt will be made, the turn is lost, ``cause`` says how."""

    agent: str
    turn: str
    session: int
    index: int
    attempts: int  # attempts made, the first included
    cause: LossCause
    error_code: str | None = None


# component health (the orchestrator's sampler, loadtests/health.py)

class HealthSample(Event, frozen=True, kw_only=True, tag="health_sample"):
    """One sample of one component process, taken every ``load.health_every`` by the orchestrator.
    ``component`` names it (``locust-master``, ``locust-worker-1``, ``proxy``, ``proxy-worker-0``,
    ``server``); ``component_pid`` is its process (``pid`` is the orchestrator, the writer);
    ``cpu_pct`` is the CPU used since its previous sample (100 = one core; null on the first);
    ``connections`` its TCP sockets, ``established`` those in ESTABLISHED. A value the platform
    would not give is null."""

    component: str
    component_pid: int
    rss_bytes: int
    fds: int | None
    cpu_pct: float | None
    connections: int | None
    established: int | None


#: every kind, in the order docs/ledger.md lists them
EVENT_TYPES: tuple[type[Event], ...] = (
    RunStart, TestStart, TestStop, RunStop,
    FaultApply, FaultRemove, FaultError, TimelineStop, TimelineStart,
    AgentStart, AgentStop, AgentRefused, ConnectAttempt, ConnectOk, ConnectFail, Disconnect, ReconnectGiveup,
    ProtocolError, TurnStart, TurnEnd, TurnAbandon, Recovery, TransportFallback,
    HealthSample,
)
AnyEvent = Union[  # noqa: UP007 - msgspec needs a Union object built at runtime
    RunStart, TestStart, TestStop, RunStop, FaultApply, FaultRemove, FaultError, TimelineStop, TimelineStart,
    AgentStart, AgentStop, AgentRefused,
    ConnectAttempt, ConnectOk, ConnectFail, Disconnect, ReconnectGiveup, ProtocolError, TurnStart, TurnEnd,
    TurnAbandon, Recovery, TransportFallback, HealthSample,
]
