"""reports/ab.py: pairing sessions across arms, per-stage means, the ratio and its spread."""

from __future__ import annotations

from reports.ab import arm_stats, compare, render
from reports.ledger import schema as ev


def _turn(agent: str, session: int, index: int, t0: float, dur_ms: float, transport: str, nbytes: int,
          cost: dict[str, float]) -> list[ev.Event]:
    turn = f"{agent}/s{session}/t{index}"
    start = ev.TurnStart(agent=agent, conn="c", turn=turn, session=session, index=index, attempt=1,
                         input_mode=ev.InputMode.FULL, previous_response_id=None, input_items=1,
                         input_bytes=nbytes, client_digest=None, transport=ev.Transport(transport), mono=t0)
    end = ev.TurnEnd(agent=agent, conn="c", turn=turn, session=session, index=index, attempt=1,
                     outcome=ev.Outcome.COMPLETED, response_id="r", error_code=None, ttft_ms=dur_ms / 2,
                     duration_ms=dur_ms, output_tokens=10, input_tokens=10, cached_tokens=0, gap_p50_ms=None,
                     gap_p99_ms=None, tokens_per_s=None, client_digest=None, server_digest=None, cache=None,
                     transport=ev.Transport(transport), server_cost_ms=cost, mono=t0 + dur_ms / 1000.0)
    return [start, end]


def _arm(transport: str, dur_ms: float, *, cut_second_session: bool = False) -> list[ev.Event]:
    events: list[ev.Event] = []
    for agent in ("agent-0001", "agent-0002"):
        t = 100.0
        for session in (1, 2):
            for i in range(3):
                if cut_second_session and session == 2 and i == 2:
                    break
                events += _turn(agent, session, i, t, dur_ms, transport, 100 * (i + 1),
                                {"overhead": 4.0 if transport == "websocket" else 20.0, "prefill": 1.0})
                t += dur_ms / 1000.0
    return events


def test_sessions_pair_across_arms_and_the_ratio_is_per_session():
    ws = arm_stats("websocket", _arm("websocket", 100.0))
    http = arm_stats("http", _arm("http", 200.0, cut_second_session=True))
    assert len(ws.sessions_ms) == 4 and len(http.sessions_ms) == 2  # the cut sessions do not count
    assert ws.stages_ms["overhead"] == 4.0 and http.stages_ms["overhead"] == 20.0
    c = compare(ws, http)
    assert c.pairs == 2 and [round(r, 6) for r in c.ratios] == [0.5, 0.5]
    table = render(c)
    assert "| session time p50 (ms) | 300 | 600 | 0.50 |" in table
    assert "| bytes sent per turn (mean) | 200 | 200 | 1.00 |" in table
    assert "websocket is 50.0% faster at the median" in table


def test_no_common_session_says_so():
    ws = arm_stats("websocket", _arm("websocket", 100.0))
    assert "No session completed in both arms" in render(compare(ws, arm_stats("http", [])))
