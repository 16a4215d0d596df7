"""Locust users that act like LLM agents: one persistent socket each, multi-turn tool-calling sessions.

:class:`AgentUser` is the abstract base: it owns one :class:`~loadtests.agent.Agent` (socket, reconnect,
recovery) and turns its callbacks into Locust ``request`` events with real timings, named ``connect``,
``turn``, ``ttft`` and ``reconnect``. :class:`CodingAgentUser` runs sessions of N turns: a user message,
then tool calls answered with tool output, think time between turns, and a context that grows.

Behaviour knobs are class attributes (Locust's declarative style); a profile sets them through
:func:`configure_from_profile`.

Each user is agent ``agent-NNNN`` by its global index (:mod:`loadtests.agent_index`), and draws every
random choice from its own streams keyed by (seed, index, purpose) (:mod:`loadtests.agent_random`), so
the same seed gives each agent id the same work with one Locust process or many. A profile with
``load.agents`` runs only those indices: the n-th user started takes the n-th listed index and waits
until the moment that index starts in a run of every agent, so it meets the fault timeline as it did. Once the test is
stopping (Locust's stop window) no new turn starts; a turn the stop interrupts ends ``stopped``.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from locust import User, task
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING
from locust.user.task import LOCUST_STATE_STOPPING

from .agent import Agent, AgentStopped, NoConnection, ReconnectPolicy, StreamRetryPolicy, TransportConfig
from .agent_index import agent_name, next_index, spawn_offset_s
from .agent_random import AgentRandom, Purpose
from .profile.model import AgentConfig, IntRange, ThinkTime
from .protocol import Conversation
from .run_state import sink_for, state_for
from .source_address import source_for
from .transport_config import DEFAULT_API_KEY_ENV, TRANSPORT_DEFAULTS, TransportPolicy
from .workload import TOOLS, filler_text

__all__ = ["AgentUser", "CodingAgentUser", "responses_url", "configure_from_profile"]

_AGENT = AgentConfig()
_RUNNER_STOPPING = frozenset({STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED})


def responses_url(host: str) -> str:
    """The WebSocket URL of ``/v1/responses`` for a Locust ``--host`` (ws/wss, or http/https mapped)."""
    parts = urlsplit(host if "://" in host else f"ws://{host}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/responses"):
        path = (path or "/v1") + "/responses"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class AgentUser(User):
    """Abstract agent user: one Agent per Locust user, Locust events with real timings."""

    abstract = True
    host = "ws://127.0.0.1:8765"

    api_key_env = DEFAULT_API_KEY_ENV
    # transport knobs: the defaults are TransportConfig's (one source)
    ping_interval: float | None = TRANSPORT_DEFAULTS.ping_interval
    ping_timeout: float = TRANSPORT_DEFAULTS.ping_timeout
    idle_timeout: float = TRANSPORT_DEFAULTS.idle_timeout
    rotate_after: float | None = TRANSPORT_DEFAULTS.rotate_after
    connect_timeout: float = TRANSPORT_DEFAULTS.connect_timeout
    reconnect: ReconnectPolicy = TRANSPORT_DEFAULTS.reconnect
    full_resend: bool = TRANSPORT_DEFAULTS.full_resend
    stream_retry: StreamRetryPolicy = TRANSPORT_DEFAULTS.stream_retry
    transport: TransportPolicy = TRANSPORT_DEFAULTS.transport  # websocket, http, or a fallback policy
    # only these global indices run (load.agents), each at its start in a run of all; None: 1, 2, ...
    agent_indices: tuple[int, ...] | None = None
    spawn_rate: float | None = None
    frame_reader: str = TRANSPORT_DEFAULTS.frame_reader  # agent.frame_reader
    source_addresses: int = 1  # agent i connects from 127.0.0.(1 + (i-1) mod N) (load.source_addresses)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.index: int | None = None  # the global index, given in on_start
        self.agent_id: str | None = None
        self.rngs = AgentRandom(None, 0)
        self.agent: Agent | None = None
        self.sessions = 0

    @property
    def stopping(self) -> bool:
        """The test is stopping (or this user is being stopped): start no new turn."""
        runner = getattr(self.environment, "runner", None)
        return self._state == LOCUST_STATE_STOPPING or getattr(runner, "state", None) in _RUNNER_STOPPING

    def transport_config(self) -> TransportConfig:
        return TransportConfig(
            url=responses_url(self.host), api_key=os.environ.get(self.api_key_env) or None,
            connect_timeout=self.connect_timeout, ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            idle_timeout=self.idle_timeout, rotate_after=self.rotate_after, reconnect=self.reconnect,
            full_resend=self.full_resend, stream_retry=self.stream_retry, transport=self.transport,
            source_address=source_for(self.index or 1, self.source_addresses), frame_reader=self.frame_reader,
        )

    def claim_index(self) -> None:
        """Take the next global index; it names the agent and seeds its random streams.

        With ``agent_indices``, the n-th index taken is the n-th listed one (past the list, the
        count goes on above the highest listed one, so no two users share an index)."""
        n = next_index(self.environment)
        if n is None:
            return  # refused: past the run's agent count (a Locust re-dispatch); on_start starts nothing
        chosen = self.agent_indices
        if chosen is None:
            self.index = n
        else:
            self.index = chosen[n - 1] if n <= len(chosen) else chosen[-1] + n - len(chosen)
        self.agent_id = agent_name(self.index)
        self.rngs = AgentRandom(getattr(self.environment.parsed_options, "seed", None), self.index)

    def wait_for_own_start(self) -> None:
        """With ``agent_indices``: wait until this index starts in a run of every agent."""
        if self.agent_indices is None or self.spawn_rate is None or self.index is None:
            return
        started = state_for(self.environment).test_start_mono
        if started is None:
            return
        delay = started + spawn_offset_s(self.index, self.spawn_rate) - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # gevent's under Locust; the test's stop ends it

    def on_start(self) -> None:
        self.claim_index()
        if self.index is None:
            return  # refused: the first task stops this user before it connects
        self.wait_for_own_start()
        self.agent = Agent(self.agent_id, self.transport_config(), sink_for(self.environment), index=self.index,
                           on_request=self._fire, rngs=self.rngs, conversation_factory=self.new_conversation)
        self.agent.start(wait=self.connect_timeout)

    def on_stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()

    def new_conversation(self) -> Conversation:
        return Conversation(store=True)

    def _fire(self, request_type: str, name: str, response_time: float, response_length: int,
              exception: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=request_type, name=name, response_time=response_time, response_length=response_length,
            exception=exception, context={"agent": self.agent_id},
        )


class CodingAgentUser(AgentUser):
    """A coding agent: sessions of N turns with tool calls, think time, and a growing context."""

    # workload knobs: the defaults are the profile's agent section's (one source)
    turns_per_session: int = _AGENT.turns_per_session
    tool_call_ratio: float = _AGENT.tool_call_ratio
    think_time: ThinkTime = _AGENT.think_time  # uniform 0.5-2 s
    input_tokens: IntRange = _AGENT.input_tokens
    output_tokens: IntRange = _AGENT.output_tokens
    store: bool = _AGENT.store
    model: str = _AGENT.model

    def wait_time(self) -> float:
        return self.think()

    def think(self) -> float:
        t, rng = self.think_time, self.rngs(Purpose.THINK)
        if t.distribution == "constant":
            return t.value or 0.0
        if t.distribution == "exponential":
            return rng.expovariate(1.0 / t.mean) if t.mean else 0.0
        return rng.uniform(t.min or 0.0, t.max or 0.0)

    def new_conversation(self) -> Conversation:
        return Conversation(model=self.model, store=self.store, tools=TOOLS,
                            instructions="You are a careful coding agent.")

    def _text(self) -> str:
        size = self.rngs(Purpose.INPUT_SIZE).randint(self.input_tokens.min, self.input_tokens.max)
        return filler_text(self.rngs(Purpose.INPUT_TEXT), size)

    def _hints(self, *, last: bool) -> dict[str, Any]:
        """Per-turn hints for the reference server (real servers ignore metadata they don't know)."""
        calls = self.rngs(Purpose.TOOL_CALL).random() < self.tool_call_ratio and not last  # one draw per turn
        size = self.rngs(Purpose.OUTPUT_SIZE).randint(self.output_tokens.min, self.output_tokens.max)
        return {"agentsoak_output_tokens": str(size),
                "agentsoak_tool_call": "yes" if calls else "no"}

    @task
    def session(self) -> None:
        if self.agent is None:
            raise StopUser()  # refused an index (loadtests.agent_index): this user runs no agent
        agent = self.agent
        self.sessions += 1
        agent.new_session()
        items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": self._text()}]
        try:
            for index in range(self.turns_per_session):
                if self.stopping:
                    return  # Locust's stop window: no turn starts after the test began to stop
                turn_id = f"{self.agent_id}/s{self.sessions}/t{index}"
                hints = self._hints(last=index == self.turns_per_session - 1)
                result = agent.run_turn(items, turn_id=turn_id, session=self.sessions, index=index, metadata=hints)
                if not result.ok:
                    return  # the ledger holds why; start a new session after the wait
                items = [{"type": "function_call_output", "call_id": c.get("call_id"), "output": self._text()}
                         for c in result.function_calls]
                items = items or [{"type": "message", "role": "user", "content": self._text()}]
                time.sleep(self.think())
        except (AgentStopped, NoConnection):
            return


def configure_from_profile(user_class: type, profile: Any) -> None:
    """Set a user class's behaviour knobs from a profile's ``agent`` section (every Locust process)."""
    a = profile.agent
    user_class.ping_interval = a.keepalive.ping_interval_s
    user_class.ping_timeout = a.keepalive.ping_timeout_s
    user_class.idle_timeout = a.idle_timeout_s if a.idle_timeout_s is not None else float("inf")
    user_class.rotate_after = a.rotate_after_s
    r = a.reconnect
    user_class.reconnect = ReconnectPolicy(max_retries=r.max_retries, base_delay=r.base_delay_s,
                                           max_delay=r.max_delay_s, jitter_min=r.jitter_min, jitter_max=r.jitter_max,
                                           cooldown=r.cooldown_s)
    user_class.full_resend = a.recovery.full_resend
    user_class.stream_retry = a.recovery.stream_retry()
    user_class.transport = a.transport
    user_class.frame_reader = a.frame_reader
    user_class.agent_indices = profile.load.agents
    user_class.spawn_rate = profile.load.spawn_rate
    user_class.source_addresses = profile.load.source_addresses
    if profile.target.api_key_env:
        user_class.api_key_env = profile.target.api_key_env
    if issubclass(user_class, CodingAgentUser):
        user_class.think_time = a.think_time
        user_class.turns_per_session = a.turns_per_session
        user_class.tool_call_ratio = a.tool_call_ratio
        user_class.input_tokens = a.input_tokens
        user_class.output_tokens = a.output_tokens
        user_class.store = a.store
        user_class.model = a.model
