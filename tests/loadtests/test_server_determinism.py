"""Reference server: responses depend on the seed and the request only; the wrong-state fault."""

from __future__ import annotations

from loadtests.protocol import digest_items, extend_digest

from .conftest import connect, run_turn

FAST = {"tokens_per_s": 200000, "ttft_base_ms": 1, "seed": 21, "tool_call_probability": 0.5}
TOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}},
}
INPUTS = [f"request number {i}" for i in range(6)]


def _output(event):
    item = event["response"]["output"][0]
    return (item["type"], item.get("name"), item.get("arguments"), event["response"]["usage"]["output_tokens"])


def test_same_seed_same_requests_in_another_order_give_the_same_responses(reference_server):
    """Issue 9 §1: no dependence on arrival order, connection index or connection count."""
    a = reference_server(**FAST)
    ws = connect(a)
    first = {text: _output(run_turn(ws, input=text, tools=[TOOL])[-1]) for text in INPUTS}
    ws.close()
    b = reference_server(**FAST)
    idle = [connect(b) for _ in range(3)]  # other connections open first: later indexes
    ws = connect(b)
    second = {text: _output(run_turn(ws, input=text, tools=[TOOL])[-1]) for text in reversed(INPUTS)}
    assert first == second
    assert len({v[0] for v in first.values()}) == 2  # both calls and text were drawn
    for other in [ws, *idle]:
        other.close()


def _chain(ws, metadata=None):
    user1 = [{"type": "message", "role": "user", "content": "first"}]
    first = run_turn(ws, input=user1, metadata=metadata or {})[-1]
    user2 = [{"type": "message", "role": "user", "content": "second"}]
    second = run_turn(ws, input=user2, previous_response_id=first["response"]["id"], metadata=metadata or {})[-1]
    expected = extend_digest(digest_items(user1 + first["response"]["output"]), user2)
    return first, second, expected


def test_wrong_state_fault_serves_a_chained_turn_from_another_state(reference_server):
    """The named response is found, but the digest of the state used differs from the client's."""
    server = reference_server(**FAST)
    ws = connect(server)
    first, _, _ = _chain(ws)
    connection = first["agentsoak"]["connection"]
    status, reply = server.admin("POST", "/admin/wrong_state", {"connection": connection, "turns": 1})
    assert (status, reply) == (200, {"active": True, "connections": [connection], "clients": []})
    _, second, expected = _chain(ws)
    assert second["type"] == "response.completed" and second["agentsoak"]["cache"] == "hit"
    assert second["agentsoak"]["context_digest"] != expected
    _, third, expected = _chain(ws)  # turns: 1, so the fault is over
    assert third["agentsoak"]["context_digest"] == expected
    assert "wrong_state" not in server.admin("GET", "/admin/stats")[1]["faults"]


def test_wrong_state_fault_targets_one_agent_by_metadata(reference_server):
    server = reference_server(**FAST)
    assert server.admin("POST", "/admin/wrong_state", {"metadata": {"agent": "agent-0002"}})[0] == 200
    hit, miss = connect(server), connect(server)  # opened after the POST: metadata matches any connection
    _, bad, expected_bad = _chain(hit, {"agent": "agent-0002"})
    _, good, expected_good = _chain(miss, {"agent": "agent-0001"})
    assert bad["agentsoak"]["context_digest"] != expected_bad
    assert good["agentsoak"]["context_digest"] == expected_good
    assert server.admin("DELETE", "/admin/wrong_state") == (200, {"active": False, "served": 1})
    assert server.admin("POST", "/admin/wrong_state", {"turns": 0})[0] == 400
    hit.close()
    miss.close()
