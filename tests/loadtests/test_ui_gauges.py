"""loadtests.ui.gauges: the Agents tab's numbers follow the events and agree with the report's summary."""

from __future__ import annotations

from loadtests.ui.gauges import LiveGauges
from reports.ledger import schema as ev
from reports.summary import summarize


def _events() -> list[ev.Event]:
    t = 1000.0
    out: list[ev.Event] = [ev.TestStart(mono=t, users=3)]
    for i in range(3):
        agent = f"agent-{i + 1:04d}"
        out += [ev.AgentStart(mono=t + 0.1, agent=agent, index=i + 1),
                ev.ConnectOk(mono=t + 0.2, agent=agent, conn=f"{agent}/c1", attempt=1,
                             reason=ev.ConnectReason.INITIAL, duration_ms=3.0)]
    out += [ev.FaultApply(mono=t + 2.0, fault="drop-all#m1", type="close", share=1.0, start_s=2.0, duration_s=0.0,
                          attributes={"code": 1006}, manual=True),
            ev.FaultRemove(mono=t + 2.0, fault="drop-all#m1", type="close", manual=True)]
    for i, agent in enumerate(("agent-0001", "agent-0002")):
        out.append(ev.Disconnect(mono=t + 2.1, agent=agent, conn=f"{agent}/c1", code=1006,
                                 closed_by=ev.ClosedBy.NETWORK, detected=ev.Detector.EOF, recoverable=True,
                                 in_flight=None, silent_ms=0.0))
        if i == 0:
            out.append(ev.ConnectOk(mono=t + 3.5, agent=agent, conn=f"{agent}/c2", attempt=1,
                                    reason=ev.ConnectReason.RECONNECT, duration_ms=2.0))
    out.append(ev.ReconnectGiveup(mono=t + 9.0, agent="agent-0003", attempts=5, error="refused"))
    return out


def test_agent_states_follow_connects_drops_and_give_ups() -> None:
    gauges = LiveGauges()
    gauges.reset("run-1")
    for e in _events():
        gauges.feed(e)
    snap = gauges.snapshot()
    assert snap["run"] == "run-1"
    assert snap["agents"] == {"connected": 1, "reconnecting": 1, "gave_up": 1, "started": 3}
    assert snap["reconnects"] == 1
    assert [f["fault"] for f in snap["faults"]] == ["drop-all#m1"]
    assert snap["faults"][0]["manual"] is True and snap["faults"][0]["active"] is False


def test_the_numbers_are_the_reports_own() -> None:
    events = _events()
    gauges = LiveGauges()
    gauges.reset("run-1")
    for e in events:
        gauges.feed(e)
    snap, summary = gauges.snapshot(), summarize(events)
    assert snap["recovery_modes"] == dict(summary.recovery_modes)
    assert snap["cache"] == dict(summary.cache)
    assert snap["lost_turns"] == summary.integrity.lost_turns.count
    assert snap["duplicated_turns"] == summary.integrity.duplicated_turns.count
    assert snap["series"] == [[s.t, s.connected] for s in summary.timeline]


def test_reset_starts_a_new_run_from_nothing() -> None:
    gauges = LiveGauges()
    for e in _events():
        gauges.feed(e)
    gauges.reset("run-2")
    snap = gauges.snapshot()
    assert snap["run"] == "run-2" and snap["agents"]["connected"] == 0 and snap["series"] == []
