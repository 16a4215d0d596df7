"""The agent transport: one WebSocket per agent, reconnect with backoff, and conversation recovery.

An :class:`Agent` owns one :class:`~loadtests.protocol.Conversation` at a time and one socket at a time.
A *supervisor* thread (a greenlet under Locust's gevent) connects, reads every frame and feeds it to the
conversation, so pings are answered and drops are seen at once, also during think time. When the
socket dies it records the disconnect, cuts the in-flight turn, and reconnects with the SDKs' backoff
(spec §7: ``min(base·2^(n-1), max) × U(jitter_min, jitter_max)``). Under gevent an idle reader parks
(:mod:`loadtests.parking`): no greenlet waits on a quiet socket. The process's *keepalive wheel*
(:mod:`loadtests.keepalive`) pings every socket and declares a silent one dead (the only way to see a
half-open one).

The task side calls :meth:`Agent.run_turn`. It sends, waits for the result, and recovers:

- a turn **cut** by a dead socket is retried on the new socket by the :class:`StreamRetryPolicy` (the
  Codex CLI's: up to 5 retries, 200 ms × 2^(n-1) × U(0.9, 1.1) apart); its output was discarded, the
  history untouched, so a retry neither loses nor duplicates anything;
- ``previous_response_not_found`` starts a new chain with the full local history (spec §7.2);
- ``websocket_connection_limit_reached`` as a reply means the create was not run: reconnect, retry.

A turn given up writes ``turn_abandon`` with its :class:`~reports.ledger.schema.LossCause`. Random
draws (backoff and retry jitter) come from the agent's own streams (:mod:`loadtests.agent_random`).

**HTTP.** With ``transport.primary: http`` (or after a fallback) there is no socket to supervise: each
attempt is one ``POST /v1/responses`` with ``stream: true`` on a kept-alive connection
(:mod:`loadtests.http_client`), read in the task itself and fed, SSE message by SSE message, to the same
conversation, so TTFT and the gaps are measured the same way. A chain continues through the store only:
with ``store: false`` every HTTP turn sends the whole history. A stream that dies (a reset, or no byte
for ``idle_timeout``: a stalled SSE stream) cuts the attempt, which the same stream-retry policy retries.
**Fallback** (:class:`~loadtests.transport_config.TransportPolicy`): an upgrade status in ``on_status``
(426) or ``after_failed_attempts`` failed connects in a row switch the agent to HTTP for good
(``transport_fallback``); a turn waiting for the socket goes on over HTTP.

Every step goes to the sink as a ledger event (docs/ledger.md). The module never imports locust: the
user class passes a ``on_request`` callback that fires Locust's ``request`` event.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import websocket

from faults.identity import CLIENT_HEADER
from reports.ledger import schema as ev
from reports.quantile import nearest_rank

from .agent_random import AgentRandom, Purpose
from .frame_reader import FrameReader
from .http_client import HttpClient, HttpDead, error_from_body
from .keepalive import send_aside, shared_wheel
from .parking import Parker, parker
from .protocol import (
    RECOVERABLE_CLOSE_CODES,
    Conversation,
    ErrorCode,
    ErrorEvent,
    Notice,
    ProtocolError,
    SseDecoder,
    TurnResult,
)
from .sink import EventSink
from .source_address import connect_from
from .transport_config import ReconnectPolicy, StreamRetryPolicy, TransportConfig

__all__ = ["ReconnectPolicy", "StreamRetryPolicy", "TransportConfig", "Agent", "AgentStopped", "NoConnection",
           "RequestCallback"]

RequestCallback = Callable[..., None]  # (request_type, name, response_time, response_length, exception)


class AgentStopped(Exception):
    """The agent was stopped while a call was waiting."""


class NoConnection(Exception):
    """No socket opened within the turn timeout; the turn was abandoned (``no_connection``)."""


# what follows an attempt that did not end the turn (see Agent._next_step)
_RETRY_CUT, _RESEND_FULL, _RETRY_LIMIT = object(), object(), object()
_FINAL_OUTCOMES = frozenset({ev.Outcome.COMPLETED, ev.Outcome.INCOMPLETE, ev.Outcome.STOPPED})
_IDLE_RECHECK = 5.0  # an idle socket's check comes at least this often, to see a turn that started


@dataclass
class _Link:
    """One live socket and what we know about it."""

    conn_id: str
    ws: websocket.WebSocket
    opened_mono: float
    last_rx: float
    reader: FrameReader | _ClientReader  # who parses the frames (agent.frame_reader)
    death: str | None = None  # why we killed it ourselves: ping_timeout, idle_timeout, limit_error, rotate
    next_ping: float = float("inf")
    ping_sent_at: float | None = None
    parker: Parker | None = None  # under gevent: where the idle reader parks


@dataclass
class _Outage:
    """A disconnect waiting for its recovery to be recorded."""

    disconnect_mono: float
    reconnect_ms: float | None = None
    attempts: int = 0


class Agent:
    """One simulated agent: a socket, a conversation, reconnect and recovery."""

    def __init__(self, agent_id: str, config: TransportConfig, sink: EventSink, *, index: int | None = None,
                 on_request: RequestCallback | None = None, rngs: AgentRandom | None = None,
                 conversation_factory: Callable[[], Conversation] = Conversation) -> None:
        """``index`` is the agent's global 1-based index; ``rngs`` its random streams (default: seed None)."""
        self.id = agent_id
        self.agent_index = index
        self.config = config
        self.sink = sink
        self.on_request = on_request or (lambda *a, **k: None)
        rngs = rngs or AgentRandom(None, index or 0)
        self._rngs = rngs  # one draw per backoff delay (loadtests.agent_random)
        self._new_conversation = conversation_factory
        self.conversation = conversation_factory()
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._conn_seq = 0
        self._turn_done = threading.Event()
        self._turn_result: TurnResult | None = None
        self._outage: _Outage | None = None
        self._session = 0  # identity of the turn in flight, for its turn_end (one turn at a time)
        self._index = 0
        self._last_end: tuple[str, ev.Outcome] | None = None  # (turn, outcome) of the last turn_end written
        self.transport = ev.Transport(config.transport.primary)
        self.fallbacks = 0
        self._http: HttpClient | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, wait: float | None = None) -> bool:
        """Start connecting in the background; with ``wait``, block up to that long for the first socket."""
        self.sink(ev.AgentStart(agent=self.id, index=self.agent_index))
        if self.transport is ev.Transport.HTTP:
            self._connected.set()  # no socket to wait for: every turn opens or reuses its own request
            return True
        threading.Thread(target=self._supervise, name=f"agent-{self.id}", daemon=True).start()
        if wait is not None:
            return self._connected.wait(wait)
        return True

    def stop(self) -> None:
        """Close the socket and end the background work; an in-flight turn ends as ``stopped``."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._lock:
            link = self._link
            result = self.conversation.cut(time.monotonic())  # None when no turn is in flight
        if result is not None:
            self._record_turn_end(result, outcome="stopped", conn=link.conn_id if link else None)
            self._deliver(result)
        if link is not None:
            # Send our Close and let the reader take the peer's reply (only one greenlet may read a
            # socket); if the peer never answers, drop the socket after a second.
            try:
                link.ws.send_close(status=1000)
            except Exception:  # noqa: BLE001 - closing a socket that may already be gone
                pass
            timer = threading.Timer(1.0, self._abort, args=(link,))
            timer.daemon = True
            timer.start()
        if self._http is not None:
            self._http.abort()
        self._turn_done.set()
        self.sink(ev.AgentStop(agent=self.id))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def new_session(self) -> None:
        """Start a fresh conversation (a new chain) on the same socket."""
        with self._lock:
            self.conversation = self._new_conversation()

    # ------------------------------------------------------------------ supervisor: connect, read, reconnect
    def _supervise(self, link: _Link | None = None) -> None:
        """Connect, read until the socket dies, reconnect; returns when stopped, or parked (``link`` resumes:
        its socket is readable, or being closed, so the first thing it does is read)."""
        reason = "initial"
        readable = link is not None
        # a resumed reader reads even once stopped: the peer's reply to our Close, or the socket's end
        while link is not None or not self._stopped.is_set():
            if link is None:
                link = self._connect_with_backoff(reason)
                if link is None:
                    return
                # due at once: the check itself says when it is next due
                shared_wheel().add(lambda now, link=link: self._keep(link, now), link.opened_mono)
            detected = self._read_until_dead(link, readable=readable)
            readable = False
            if detected is None:
                return  # parked: the parker resumes this loop when the socket is readable
            reason = "rotate" if detected == "rotate" else "reconnect"
            link = None

    def _connect_with_backoff(self, reason: str) -> _Link | None:
        """Connect, retrying with backoff. A reconnect waits before its first attempt too, as the SDKs do
        (that wait is what spreads a reconnect storm); the very first connect of an agent does not."""
        policy = self.config.reconnect
        attempt = 0
        wait = policy.delay(1, self._rngs(Purpose.RECONNECT)) if reason == "reconnect" else 0.0  # initial and rotate go at once
        while not self._stopped.is_set():
            if wait > 0 and self._stopped.wait(wait):
                return None
            attempt += 1
            self._conn_seq += 1
            conn_id = f"{self.id}/c{self._conn_seq}"
            self.sink(ev.ConnectAttempt(agent=self.id, conn=conn_id, attempt=attempt, reason=ev.ConnectReason(reason)))
            started = time.monotonic()
            try:
                ws = self._open_socket(conn_id)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
                status = getattr(exc, "status_code", None)
                retries_used = attempt if reason == "reconnect" else attempt - 1
                giving_up = retries_used >= policy.max_retries
                fallback = self._fallback_reason(status, attempt)
                wait = max(policy.delay(retries_used + 1, self._rngs(Purpose.RECONNECT)), _retry_after(exc) or 0.0)
                self.sink(ev.ConnectFail(agent=self.id, conn=conn_id, attempt=attempt, reason=ev.ConnectReason(reason),
                                       error=_describe(exc), status=status, retry_in_s=None if giving_up else wait))
                self.on_request("WS", "connect", (time.monotonic() - started) * 1000.0, 0, _request_error(exc))
                if fallback is not None:
                    self._fall_back(fallback, status, attempt)
                    return None
                if giving_up:
                    # Like an app restarting its agent: record the give-up, cool down, start a new sequence.
                    self.sink(ev.ReconnectGiveup(agent=self.id, attempts=attempt, error=_describe(exc)))
                    attempt = 0
                    wait = policy.cooldown
                continue
            now = time.monotonic()
            duration_ms = (now - started) * 1000.0
            link = _Link(conn_id=conn_id, ws=ws, opened_mono=now, last_rx=now, parker=parker(),
                         next_ping=now + (self.config.ping_interval or float("inf")),
                         reader=FrameReader(ws) if self.config.frame_reader == "fast" else _ClientReader(ws))
            with self._lock:
                self._link = link
            self.sink(ev.ConnectOk(agent=self.id, conn=conn_id, attempt=attempt, reason=ev.ConnectReason(reason),
                               duration_ms=duration_ms))
            self.on_request("WS", "connect", duration_ms, 0, None)
            if self._outage is not None and self._outage.reconnect_ms is None:
                self._outage.reconnect_ms = (now - self._outage.disconnect_mono) * 1000.0
                self._outage.attempts = attempt
                self.on_request("WS", "reconnect", self._outage.reconnect_ms, 0, None)
            self._connected.set()
            if self._stopped.is_set():  # stop() raced with the connect
                ws.close(timeout=1)
                return None
            return link
        return None

    def _fallback_reason(self, status: int | None, failed: int) -> ev.FallbackReason | None:
        """Whether this failed connect switches the agent to its fallback transport."""
        policy = self.config.transport
        if policy.fallback is None or policy.fallback == self.transport.value:
            return None
        if status is not None and status in policy.on_status:
            return ev.FallbackReason.STATUS
        if failed >= policy.after_failed_attempts:
            return ev.FallbackReason.FAILED_ATTEMPTS
        return None

    def _fall_back(self, reason: ev.FallbackReason, status: int | None, attempts: int) -> None:
        """Switch to the fallback transport for the rest of the agent's life; waiting turns go on there."""
        primary = self.transport
        assert self.config.transport.fallback is not None
        self.transport = ev.Transport(self.config.transport.fallback)
        self.fallbacks += 1
        self.sink(ev.TransportFallback(agent=self.id, primary=primary, fallback=self.transport, reason=reason,
                                       status=status, attempts=attempts))
        if self._outage is not None and self._outage.reconnect_ms is None:
            self._outage.reconnect_ms = (time.monotonic() - self._outage.disconnect_mono) * 1000.0
            self._outage.attempts = attempts
        self._connected.set()

    def _open_socket(self, conn_id: str) -> websocket.WebSocket:
        # the connection names itself: the proxy keys its draws by it, the server records it (faults.identity)
        headers = [f"{k}: {v}" for k, v in self.config.headers] + [f"{CLIENT_HEADER}: {conn_id}"]
        if self.config.api_key:
            headers.append(f"Authorization: Bearer {self.config.api_key}")
        ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
        ws.settimeout(self.config.connect_timeout)
        sock = self._source_socket() if self.config.source_address else None
        ws.connect(self.config.url, header=headers, timeout=self.config.connect_timeout, socket=sock)
        ws.settimeout(None)
        return ws

    def _source_socket(self) -> socket.socket:
        """The TCP (and TLS) socket from ``source_address``: websocket-client has no source-address
        option, so the agent connects and hands it the socket (``socket=``), with its socket options."""
        cfg = self.config
        assert cfg.source_address is not None
        parts = urlsplit(cfg.url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        sock = connect_from(cfg.source_address, host, parts.port or (443 if secure else 80), cfg.connect_timeout,
                            websocket.DEFAULT_SOCKET_OPTION)
        if secure:  # websocket-client does not wrap a socket it is given
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return sock

    def _read_until_dead(self, link: _Link, *, readable: bool = False) -> str | None:
        """Read frames until the socket dies; returns how the death was detected, or None once parked
        (idle, nothing buffered: the parker resumes :meth:`_supervise` when the socket is readable).
        ``readable``: the socket has something to read (a frame, its end), so read before parking again."""
        code: int | None = None
        detected = "eof"
        closed_by = "network"
        ws, read, park_on = link.ws, link.reader.read, link.parker
        while True:
            if (park_on is not None and self.conversation.in_flight is None and not readable
                    and link.death is None and ws.sock is not None and not _buffered(link)):
                park_on.park(ws.sock.fileno(), lambda: self._supervise(link))
                return None
            readable = False
            try:
                opcode, data = read()
            except (OSError, websocket.WebSocketException) as exc:
                if isinstance(exc, ConnectionResetError):
                    detected = "reset"
                elif not isinstance(exc, websocket.WebSocketConnectionClosedException):
                    detected = "error"
                code = 1006
                break
            now = time.monotonic()
            link.last_rx = now
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self._on_text(link, data, now)
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                detected, closed_by = "close_frame", "server"
                break
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                code, detected, closed_by = 1003, "error", "client"
                break
            if link.death is not None:
                break
        if link.death is not None:  # we killed it (keepalive, idle, limit, rotation)
            detected = link.death
            closed_by = "server" if link.death == "limit_error" else "client"
            code = code if link.death == "limit_error" and code not in (None, 1006) else None
        self._on_dead(link, code=code, detected=detected, closed_by=closed_by)
        return detected

    def _keep(self, link: _Link, now: float) -> float | None:
        """The socket's keepalive check, run by the wheel: ping, and kill a socket that went silent.

        Returns when it is next due: the next ping, the pong's deadline, the silence deadline of a
        turn in flight, rotation; while idle at most ``_IDLE_RECHECK`` away, so a turn that starts
        is watched from then on. None once the socket is gone."""
        if self._link is not link or link.death is not None or self._stopped.is_set():
            return None
        cfg = self.config
        sent = link.ping_sent_at
        if sent is not None and link.last_rx < sent and now - sent >= cfg.ping_timeout:
            self._kill(link, "ping_timeout")
            return None
        if sent is not None and link.last_rx >= sent:
            link.ping_sent_at = sent = None
        in_flight = self.conversation.in_flight is not None
        if in_flight and now - link.last_rx >= cfg.idle_timeout:
            self._kill(link, "idle_timeout")
            return None
        if cfg.rotate_after is not None and now - link.opened_mono >= cfg.rotate_after and not in_flight:
            self._kill(link, "rotate")
            return None
        if cfg.ping_interval is not None and now >= link.next_ping and sent is None:
            link.next_ping = now + cfg.ping_interval
            link.ping_sent_at = now
            send_aside(link.ws.ping)  # a failure is the reader's to see
        due = link.next_ping if link.ping_sent_at is None else link.ping_sent_at + cfg.ping_timeout
        if in_flight:
            due = min(due, link.last_rx + cfg.idle_timeout)
        else:
            due = min(due, now + _IDLE_RECHECK)
            if cfg.rotate_after is not None:
                due = min(due, link.opened_mono + cfg.rotate_after)
        return max(due, now + 0.01)

    def _kill(self, link: _Link, why: str) -> None:
        """Abort a socket we judged dead (no Close handshake: it may be half-open)."""
        link.death = why
        try:
            link.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        except (OSError, AttributeError):
            pass
        self._abort(link)

    @staticmethod
    def _abort(link: _Link) -> None:
        """Close the socket now; a parked reader is resumed first (it sees the socket gone)."""
        if link.parker is not None:
            link.parker.wake()
        _shutdown_quietly(link.ws)

    def _on_text(self, link: _Link, data: bytes | str, now: float) -> None:
        with self._lock:
            try:
                outcome = self.conversation.receive_text(data, now)
            except ProtocolError as exc:
                self.sink(ev.ProtocolError(agent=self.id, conn=link.conn_id, error=str(exc)))
                return
        if outcome is None:
            return
        if isinstance(outcome, Notice):
            event = outcome.event
            if isinstance(event, ErrorEvent) and event.code == ErrorCode.CONNECTION_LIMIT.value:
                # Unsolicited limit error: this socket is done; reconnect now rather than wait for the Close.
                self._kill(link, "limit_error")
            return
        # Recorded here, where the turn ends, not in the task: the task greenlet may be killed by Locust
        # at the end of the test between the result and its bookkeeping.
        self._record_turn_end(outcome, conn=link.conn_id)
        self._deliver(outcome)

    def _on_dead(self, link: _Link, *, code: int | None, detected: str, closed_by: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._link is link:
                self._link = None
            self._connected.clear()
            in_flight = self.conversation.in_flight
            result = self.conversation.cut(now)  # None when no turn was in flight
        _shutdown_quietly(link.ws)
        if self._stopped.is_set():
            if result is not None:  # the socket died as we stopped: the turn ends "stopped", not lost
                self._record_turn_end(result, outcome="stopped", conn=link.conn_id)
                self._deliver(result)
            return
        recoverable = code is None or code in RECOVERABLE_CLOSE_CODES
        self.sink(ev.Disconnect(agent=self.id, conn=link.conn_id, code=code, closed_by=ev.ClosedBy(closed_by),
                                detected=ev.Detector(detected), recoverable=recoverable,
                                in_flight=in_flight.turn_id if in_flight else None,
                                silent_ms=(now - link.last_rx) * 1000.0))
        if detected != "rotate":
            self._outage = _Outage(disconnect_mono=now)
        if result is not None:
            self._record_turn_end(result, conn=link.conn_id)
            self._deliver(result)

    # ------------------------------------------------------------------ task side
    def _deliver(self, result: TurnResult) -> None:
        self._turn_result = result
        self._turn_done.set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until a socket is open (or ``timeout``); raises AgentStopped once stopped."""
        deadline = time.monotonic() + timeout
        while not self._connected.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if self._stopped.is_set():
                raise AgentStopped(self.id)
            if time.monotonic() >= deadline:
                return False
        if self._stopped.is_set():
            raise AgentStopped(self.id)
        return True

    def run_turn(self, new_items: list[dict[str, Any]], *, turn_id: str, session: int, index: int,
                 metadata: dict[str, Any] | None = None) -> TurnResult:
        """Run one logical turn to its end, recovering across reconnects; returns the final result.

        The returned result is ``ok`` when the turn completed. Otherwise the turn is lost: the ledger
        holds its ``turn_end`` outcomes and one ``turn_abandon`` saying why.

        Every ``turn_start`` gets a ``turn_end``: when the turn is interrupted (the agent stops, or
        Locust kills the user greenlet with ``GreenletExit`` at the end of the test), wherever it was
        (in flight, waiting out a retry delay, waiting for a socket), it ends ``stopped``.

        Raises:
            AgentStopped: the agent was stopped before or during the turn (no turn starts once stopped).
            NoConnection: no socket opened within the turn timeout (the turn is abandoned).
        """
        attempt, full, retries, finished = 0, False, 0, False
        chained = self.conversation.last_response_id is not None  # a turn that continues a chain
        try:
            while True:
                if self._stopped.is_set():
                    raise AgentStopped(self.id)
                if not self.wait_connected(self.config.turn_timeout):
                    self._abandon(turn_id, session, index, attempt, ev.LossCause.NO_CONNECTION)
                    finished = True
                    raise NoConnection(f"{self.id}: no connection within {self.config.turn_timeout:.0f}s")
                if self.transport is ev.Transport.HTTP:
                    attempt += 1
                    result, conn_id = self._http_attempt(new_items, turn_id=turn_id, session=session, index=index,
                                                         attempt=attempt, full=full, metadata=metadata)
                    if result is None or self._stopped.is_set():
                        if result is not None and result.ok:
                            self._fire_turn(result)
                        raise AgentStopped(self.id)
                    self._fire_turn(result)
                    cause = self._next_step(result, full=full, retries=retries)
                    if cause is _RETRY_CUT:
                        retries += 1
                        if self._stopped.wait(self.config.stream_retry.delay(retries, self._rngs(Purpose.STREAM_RETRY))):
                            raise AgentStopped(self.id)
                    elif cause is _RESEND_FULL:
                        full = True
                    elif cause is _RETRY_LIMIT:
                        continue  # not an HTTP reply; kept for symmetry
                    else:
                        self._record_recovery(result, conn_id, full, chained=chained)
                        if cause is not None:
                            self._abandon(turn_id, session, index, attempt, cause, result.error_code)
                        finished = True
                        return result
                    continue
                with self._lock:
                    link = self._link
                    if link is None:
                        continue
                    attempt += 1
                    self._session, self._index = session, index
                    request = self.conversation.begin_turn(new_items, time.monotonic(), turn_id=turn_id,
                                                           attempt=attempt, full=full, metadata=metadata)
                    self._turn_done.clear()
                    self._turn_result = None
                self.sink(ev.TurnStart(agent=self.id, conn=link.conn_id, turn=turn_id, session=session, index=index,
                                       attempt=attempt, input_mode=ev.InputMode(request.input_mode),
                                       previous_response_id=request.message.previous_response_id,
                                       input_items=request.input_items, input_bytes=request.input_bytes,
                                       client_digest=request.client_digest))
                try:
                    link.ws.send(request.text)
                except (OSError, websocket.WebSocketException):
                    pass  # the reader sees the dead socket and cuts the turn
                if not self._turn_done.wait(self.config.turn_timeout):
                    self._kill(link, "idle_timeout")
                    self._turn_done.wait(5.0)
                result, self._turn_result = self._turn_result, None
                if result is None:
                    if self._stopped.is_set():
                        raise AgentStopped(self.id)
                    continue
                if self._stopped.is_set():
                    # A turn that completed just as the agent stopped still counts; a cut one was recorded
                    # as "stopped" and is no failure.
                    if result.ok:
                        self._fire_turn(result)
                    raise AgentStopped(self.id)
                self._fire_turn(result)
                cause = self._next_step(result, full=full, retries=retries)
                if cause is _RETRY_CUT:
                    retries += 1  # the socket died mid-turn: wait, then retry on the new socket
                    if self._stopped.wait(self.config.stream_retry.delay(retries, self._rngs(Purpose.STREAM_RETRY))):
                        raise AgentStopped(self.id)
                elif cause is _RESEND_FULL:
                    full = True  # the server lost our chain: a new chain with the whole history (spec §7.2)
                elif cause is _RETRY_LIMIT:
                    self._kill(link, "limit_error")  # the create was not run: reconnect and send it again
                else:
                    self._record_recovery(result, link.conn_id, full, chained=chained)
                    if cause is not None:
                        self._abandon(turn_id, session, index, attempt, cause, result.error_code)
                    finished = True
                    return result  # completed, or lost for the reason turn_abandon gives
        except BaseException:
            if not finished:
                self._end_interrupted(turn_id, session, index, attempt)
            raise

    def _http_attempt(self, new_items: list[dict[str, Any]], *, turn_id: str, session: int, index: int,
                      attempt: int, full: bool, metadata: dict[str, Any] | None) -> tuple[TurnResult | None, str]:
        """One attempt over HTTP/SSE, read here to its end; None when the agent stopped meanwhile."""
        client = self._http_client()
        conn_id = f"{self.id}/h{client.conn_seq}"
        with self._lock:
            self._session, self._index = session, index
            # no connection cache over HTTP: without the store a chain cannot continue, so send it all
            request = self.conversation.begin_turn(new_items, time.monotonic(), turn_id=turn_id, attempt=attempt,
                                                   full=full or not self.conversation.store, metadata=metadata)
        body = http_body(request.message.to_dict())
        self.sink(ev.TurnStart(agent=self.id, conn=conn_id, turn=turn_id, session=session, index=index,
                               attempt=attempt, input_mode=ev.InputMode(request.input_mode),
                               previous_response_id=request.message.previous_response_id,
                               input_items=request.input_items, input_bytes=len(body),
                               client_digest=request.client_digest, transport=ev.Transport.HTTP))
        result: TurnResult | None = None
        last_rx = time.monotonic()
        detected = "eof"
        try:
            resp = client.post(body)
            last_rx = time.monotonic()
            if resp.status != 200:
                payload = resp.read()
                client.finish(resp)
                with self._lock:
                    outcome = self.conversation.receive(error_from_body(resp.status, payload), time.monotonic())
                result = outcome if isinstance(outcome, TurnResult) else None
            else:
                decoder = SseDecoder()
                while result is None:
                    chunk = client.read(resp)
                    if not chunk:
                        break  # the body ended before a terminal event
                    last_rx = now = time.monotonic()
                    for message in decoder.feed(chunk):
                        with self._lock:
                            try:
                                outcome = self.conversation.receive_text(message.data, now)
                            except ProtocolError as exc:
                                self.sink(ev.ProtocolError(agent=self.id, conn=conn_id, error=str(exc)))
                                continue
                        if isinstance(outcome, TurnResult):
                            result = outcome
                            break
                if result is not None:
                    client.finish(resp)
        except HttpDead as exc:
            detected = exc.detected
        if result is None:
            now = time.monotonic()
            client.reset()
            with self._lock:
                result = self.conversation.cut(now)
            if result is None or self._stopped.is_set():  # stop() cut it and wrote its turn_end
                return None, conn_id
            self.sink(ev.Disconnect(agent=self.id, conn=conn_id, code=None,
                                    closed_by=ev.ClosedBy.CLIENT if detected == "idle_timeout" else ev.ClosedBy.NETWORK,
                                    detected=ev.Detector(detected), recoverable=True, in_flight=turn_id,
                                    silent_ms=(now - last_rx) * 1000.0))
            self._outage = _Outage(disconnect_mono=now)
        self._record_turn_end(result, conn=conn_id, transport=ev.Transport.HTTP)
        return result, conn_id

    def _http_client(self) -> HttpClient:
        if self._http is None:
            cfg = self.config
            headers = {k: v for k, v in cfg.headers if k.lower() != "openai-beta"}
            if cfg.api_key:
                headers["Authorization"] = f"Bearer {cfg.api_key}"
            self._http = HttpClient(cfg.url, headers=headers, connect_timeout=cfg.connect_timeout,
                                    idle_timeout=min(cfg.idle_timeout, cfg.turn_timeout),
                                    on_connect=self._http_connect, agent=self.id,
                                    source_address=cfg.source_address)
        return self._http

    def _http_connect(self, seq: int, duration_ms: float | None, exc: BaseException | None) -> None:
        """Each TCP connection of the HTTP transport is a connect in the ledger, so disconnects pair."""
        conn_id = f"{self.id}/h{seq}"
        reason = ev.ConnectReason.RECONNECT if seq > 1 or self._outage is not None else ev.ConnectReason.INITIAL
        if duration_ms is None:
            self.sink(ev.ConnectAttempt(agent=self.id, conn=conn_id, attempt=1, reason=reason))
            return
        if exc is not None:
            self.sink(ev.ConnectFail(agent=self.id, conn=conn_id, attempt=1, reason=reason, error=_describe(exc),
                                     status=None, retry_in_s=None))
            self.on_request("HTTP", "connect", duration_ms, 0, exc)
            return
        self.sink(ev.ConnectOk(agent=self.id, conn=conn_id, attempt=1, reason=reason, duration_ms=duration_ms))
        self.on_request("HTTP", "connect", duration_ms, 0, None)
        outage = self._outage
        if outage is not None and outage.reconnect_ms is None:
            outage.reconnect_ms = (time.monotonic() - outage.disconnect_mono) * 1000.0
            outage.attempts = 1

    def _next_step(self, result: TurnResult, *, full: bool, retries: int) -> object:
        """What follows an attempt's end: a retry marker, None (done, completed), or the LossCause."""
        if result.ok:
            return None
        if result.outcome == "cut":
            policy = self.config.stream_retry
            if policy.allows(retries):
                return _RETRY_CUT
            return ev.LossCause.RETRY_DISABLED if policy.max_retries == 0 else ev.LossCause.CUT_RETRIES_EXHAUSTED
        if result.needs_full_resend and not full:
            return _RESEND_FULL if self.config.full_resend else ev.LossCause.FULL_RESEND_DISABLED
        if result.error_code == ErrorCode.CONNECTION_LIMIT.value:
            return _RETRY_LIMIT
        return ev.LossCause.FAILED if result.outcome == "failed" else ev.LossCause.ERROR

    def _abandon(self, turn_id: str, session: int, index: int, attempts: int, cause: ev.LossCause,
                 error_code: str | None = None) -> None:
        self.sink(ev.TurnAbandon(agent=self.id, turn=turn_id, session=session, index=index, attempts=attempts,
                                 cause=cause, error_code=error_code))

    def _end_interrupted(self, turn_id: str, session: int, index: int, attempt: int) -> None:
        """The turn was interrupted (stop, GreenletExit): end it ``stopped`` unless its last end says it ended.

        In flight: the attempt is cut and recorded ``stopped``. Between attempts (a retry delay, waiting
        for a socket): one ``turn_end`` ``stopped`` with no connection, for the last attempt started.
        """
        if attempt == 0:
            return  # no turn_start was written
        with self._lock:
            in_flight = self.conversation.in_flight
            result = self.conversation.cut(time.monotonic()) if in_flight and in_flight.turn_id == turn_id else None
            link = self._link
        if result is not None:
            self._record_turn_end(result, outcome="stopped", conn=link.conn_id if link else None)
            self._deliver(result)
            return
        if self._last_end is not None and self._last_end[0] == turn_id and self._last_end[1] in _FINAL_OUTCOMES:
            return
        self.sink(ev.TurnEnd(agent=self.id, conn=None, turn=turn_id, session=session, index=index, attempt=attempt,
                             outcome=ev.Outcome.STOPPED, response_id=None, error_code=None, ttft_ms=None,
                             duration_ms=0.0, output_tokens=0, input_tokens=0, cached_tokens=0, gap_p50_ms=None,
                             gap_p99_ms=None, tokens_per_s=None, client_digest=None, server_digest=None, cache=None))
        self._last_end = (turn_id, ev.Outcome.STOPPED)

    def _fire_turn(self, result: TurnResult) -> None:
        m = result.metrics
        exc = None if result.ok else RuntimeError(f"turn {result.outcome}: {result.error_code or ''}".strip(": "))
        kind = "HTTP" if self.transport is ev.Transport.HTTP else "WS"
        self.on_request(kind, "turn", m.duration_ms, m.output_tokens, exc)
        if result.ok and m.ttft_ms is not None:
            self.on_request(kind, "ttft", m.ttft_ms, 0, None)

    def _record_turn_end(self, result: TurnResult, *, conn: str | None, outcome: str | None = None,
                         transport: ev.Transport = ev.Transport.WEBSOCKET) -> None:
        m = result.metrics
        final = ev.Outcome(outcome or result.outcome)
        self._last_end = (result.turn_id, final)
        self.sink(ev.TurnEnd(agent=self.id, conn=conn, turn=result.turn_id, session=self._session, index=self._index,
                             attempt=result.attempt, outcome=final,
                             response_id=result.response_id, error_code=result.error_code, ttft_ms=m.ttft_ms,
                             duration_ms=m.duration_ms, output_tokens=m.output_tokens, input_tokens=m.input_tokens,
                             cached_tokens=m.cached_tokens,
                             gap_p50_ms=nearest_rank(m.gaps_ms, 0.5) if m.gaps_ms else None,
                             gap_p99_ms=nearest_rank(m.gaps_ms, 0.99) if m.gaps_ms else None,
                             tokens_per_s=m.tokens_per_s, client_digest=result.client_digest,
                             server_digest=result.server_digest, cache=ev.CacheOutcome.of(result.cache),
                             transport=transport, server_cost_ms=result.server_cost_ms))

    def _record_recovery(self, result: TurnResult, conn_id: str, full: bool, *, chained: bool) -> None:
        """The first turn to end after a reconnect says how the conversation resumed.

        With a target that reports its cache outcome we use it; otherwise (a real target) the protocol
        evidence decides: an incremental turn that worked on a new socket was hydrated from the store,
        a full-input turn was a full resend. A turn that began a conversation (no previous response, as
        the first turn of a session) resumed nothing: ``new_conversation``.
        """
        outage = self._outage
        if outage is None or outage.reconnect_ms is None:
            return
        self._outage = None
        if not result.ok:
            mode = "failed"
        elif not chained:
            mode = "new_conversation"  # the turn began a new chain: there was nothing to resume
        elif result.cache == "hit":
            mode = "cache_hit"
        elif result.cache == "store" or (result.cache is None and not full):
            mode = "store_hydrate"
        else:
            mode = "full_resend"
        self.sink(ev.Recovery(agent=self.id, conn=conn_id, turn=result.turn_id, mode=ev.RecoveryMode(mode),
                              disconnect_mono=outage.disconnect_mono, reconnect_ms=outage.reconnect_ms,
                              attempts=outage.attempts))


def http_body(create: dict[str, Any]) -> bytes:
    """The ``POST /v1/responses`` body of a ``response.create``: the same fields without ``type``, streamed."""
    body = {k: v for k, v in create.items() if k != "type"}
    body["stream"] = True
    return orjson.dumps(body)


class _ClientReader:
    """websocket-client's own frame reading, with :class:`~loadtests.frame_reader.FrameReader`'s interface."""

    __slots__ = ("_ws",)

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws

    def read(self) -> tuple[int, bytes]:
        opcode, frame = self._ws.recv_data_frame(control_frame=True)
        return opcode, frame.data

    def buffered(self) -> bool:
        return any(self._ws.frame_buffer.recv_buffer)


def _buffered(link: _Link) -> bool:
    """Whether the reader or TLS holds bytes already read from the socket: the next frame may be there."""
    if link.reader.buffered():
        return True
    sock = link.ws.sock
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _shutdown_quietly(ws: websocket.WebSocket) -> None:
    try:
        ws.shutdown()
    except Exception:  # noqa: BLE001
        pass


class ConnectFailed(Exception):
    """A failed connect as Locust's error table sees it: one stable text per kind of failure."""


def _request_error(exc: BaseException) -> BaseException:
    """``exc`` with a text that does not change from one attempt to the next.

    Locust keeps one row per distinct error text for the whole run, and a refused upgrade's text
    holds the response headers (a ``Date`` that changes every second) and body: a refuse window
    would add a row per second. The ledger's ``connect_fail`` keeps the full text.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(exc, websocket.WebSocketBadStatusException) and isinstance(status, int):
        return ConnectFailed(f"upgrade refused: HTTP {status} {getattr(exc, 'status_message', '') or ''}".rstrip())
    return exc


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "resp_headers", None) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
