"""The reference server's sans-I/O connection core: queue, cache, lifetime and close, with no sockets."""

from __future__ import annotations

import json

from loadtests.server.core import (
    LIMIT_MESSAGE,
    TRANSITIONS,
    AbortTurn,
    CacheKind,
    CloseCode,
    CloseSocket,
    ConnectionCore,
    ConnState,
    CoreLimits,
    LimitMode,
    SendError,
    StartTurn,
    TurnOutcome,
)
from loadtests.server.store import ContextEntry, ResponseStore


def _core(**limits) -> ConnectionCore:
    return ConnectionCore(CoreLimits(**limits), ResponseStore(100), now=0.0)


def _create(**body) -> str:
    body.setdefault("input", "hi")
    return json.dumps({"type": "response.create", **body})


def _codes(actions) -> list[str | None]:
    return [a.envelope.code for a in actions if isinstance(a, SendError)]


def _finish(core: ConnectionCore, rid: str, now: float = 0.0, *, store: bool = False, outcome=TurnOutcome.COMPLETED):
    core.remember(ContextEntry(rid, f"digest-{rid}", 10), store)
    return core.turn_finished(outcome, now)


def test_a_create_on_an_idle_connection_starts_a_new_chain_at_once():
    core = _core()
    [action] = core.receive_text(_create(), 0.0)
    assert isinstance(action, StartTurn) and action.turn.cache is CacheKind.MISS
    assert core.state is ConnState.BUSY and core.turns == 1


def test_creates_wait_in_order_and_chain_on_the_response_that_was_running():
    """§6: a create sent mid-turn waits; its previous_response_id is resolved at dequeue."""
    core = _core()
    core.receive_text(_create(), 0.0)
    assert core.receive_text(_create(previous_response_id="resp_1"), 0.1) == []
    assert core.queued == 1
    [action] = _finish(core, "resp_1")
    assert isinstance(action, StartTurn) and action.turn.cache is CacheKind.HIT
    assert action.turn.base.response_id == "resp_1"


def test_more_than_queue_limit_waiting_get_queue_full_at_once():
    core = _core(queue_limit=2)
    core.receive_text(_create(), 0.0)  # running: counts toward the limit
    assert core.receive_text(_create(), 0.0) == []
    assert core.receive_text(_create(), 0.0) == []
    assert _codes(core.receive_text(_create(), 0.0)) == ["response_queue_full"]
    assert core.queued == 2


def test_rejected_frames_are_answered_in_queue_order():
    core = _core()
    core.receive_text(_create(), 0.0)
    core.receive_text("{bad", 0.0)
    core.receive_text(_create(background=True), 0.0)
    core.receive_text(_create(), 0.0)
    actions = _finish(core, "resp_1")
    assert _codes(actions) == ["invalid_json", "unsupported_parameter"]
    assert isinstance(actions[-1], StartTurn)


def test_one_slot_store_hydrate_and_not_found():
    """§5: the latest response hits; an older stored one hydrates (slower); an unstored one is not found."""
    core = _core(hydrate_delay_s=0.2)
    core.receive_text(_create(), 0.0)
    _finish(core, "resp_1", store=True)
    core.receive_text(_create(), 0.0)
    _finish(core, "resp_2", store=False)
    core.receive_text(_create(), 0.0)
    _finish(core, "resp_3", store=False)
    [hydrate] = core.receive_text(_create(previous_response_id="resp_1"), 0.0)
    assert hydrate.turn.cache is CacheKind.STORE and hydrate.turn.hydrate_s == 0.2
    _finish(core, "resp_4")
    [missing] = core.receive_text(_create(previous_response_id="resp_3"), 0.0)
    assert missing.envelope.code == "previous_response_not_found"
    assert missing.envelope.message == "Previous response with id 'resp_3' not found."


def test_a_failed_create_evicts_the_id_it_named_and_a_failed_turn_too():
    core = _core()
    core.receive_text(_create(), 0.0)
    _finish(core, "resp_1")
    core.receive_text(_create(previous_response_id="resp_1", input=[{"type": "bogus"}]), 0.0)
    assert core.cache is None
    core.receive_text(_create(), 0.0)
    _finish(core, "resp_2")
    core.receive_text(_create(previous_response_id="resp_2"), 0.0)
    actions = core.turn_finished(TurnOutcome.FAILED, 0.0)
    assert [a.envelope.status for a in actions] == [500] and core.cache is None


def test_lifetime_unsolicited_waits_for_the_running_turn_then_closes_after_the_delay():
    core = _core(connection_lifetime_s=10, limit_close_delay_s=1)
    assert core.next_deadline() == 10
    core.receive_text(_create(), 5.0)
    assert core.tick(10.0) == [] and core.expired
    actions = _finish(core, "resp_1", 12.0)
    assert [a.envelope.message for a in actions] == [LIMIT_MESSAGE]
    assert core.next_deadline() == 13.0
    assert _codes(core.receive_text(_create(), 12.5)) == ["websocket_connection_limit_reached"]
    assert core.tick(12.9) == []
    assert core.tick(13.0) == [CloseSocket(CloseCode.GOING_AWAY)]
    assert core.state is ConnState.CLOSING and core.next_deadline() is None


def test_lifetime_on_next_create_and_hard():
    core = _core(connection_lifetime_s=1, limit_mode=LimitMode.ON_NEXT_CREATE, limit_close_code=None)
    assert core.tick(1.0) == []
    assert _codes(core.receive_text(_create(), 2.0)) == ["websocket_connection_limit_reached"]
    assert core.next_deadline() is None  # no close code: no Close follows
    hard = _core(connection_lifetime_s=1, limit_mode=LimitMode.HARD)
    hard.receive_text(_create(), 0.5)
    assert hard.tick(1.0) == [AbortTurn()]
    assert _codes(hard.turn_finished(TurnOutcome.ABORTED, 1.0)) == ["websocket_connection_limit_reached"]


def test_expire_twice_and_after_close_does_nothing():
    core = _core()
    assert _codes(core.expire(0.0, LimitMode.UNSOLICITED)) == ["websocket_connection_limit_reached"]
    assert core.expire(0.0) == [] and not core.can_expire()
    closed = _core()
    closed.close(CloseCode.SERVICE_RESTART)
    assert closed.expire(0.0) == [] and closed.receive_text(_create(), 0.0) == []


def test_close_aborts_the_turn_drops_the_queue_and_only_1006_may_follow():
    core = _core()
    core.receive_text(_create(), 0.0)
    core.receive_text(_create(), 0.0)
    assert core.close(CloseCode.TRY_AGAIN_LATER) == [AbortTurn(), CloseSocket(CloseCode.TRY_AGAIN_LATER)]
    assert core.queued == 0 and core.close(CloseCode.NORMAL) == []
    assert core.close(CloseCode.ABNORMAL) == [CloseSocket(CloseCode.ABNORMAL)]
    assert core.turn_finished(TurnOutcome.ABORTED, 0.0) == []


def test_binary_frame_closes_1003_and_a_dropped_peer_ends_everything():
    core = _core()
    [close] = core.receive_binary(0.0)
    assert close.code == CloseCode.UNSUPPORTED_DATA
    gone = _core()
    gone.receive_text(_create(), 0.0)
    gone.receive_text(_create(), 0.0)
    assert gone.turn_finished(TurnOutcome.DROPPED, 0.0) == [] and gone.state is ConnState.DROPPED
    assert gone.queued == 0 and gone.next_deadline() is None


def test_every_transition_leads_to_a_known_state():
    assert {nxt for nxt in TRANSITIONS.values()} <= set(ConnState)
    assert all(state is not ConnState.DROPPED for state, _ in TRANSITIONS)
