from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.ledger import LedgerReadStats, iter_ledger
from reports.sketch import LogHistogram
from reports.summary import summarize
from reports.thresholds import Thresholds
from reports.verify import verify


def test_summary_counts_the_healthy_run(make_run):
    s = summarize(iter_ledger(make_run()))
    assert (s.agents, s.sessions, s.turns, s.turn_attempts) == (4, 4, 475, 477)
    assert s.outcomes == {"completed": 475, "cut": 1, "error": 1}
    assert (s.completed_turns, s.failed_turns) == (475, 1)
    # every completed turn is in the latency/TTFT distributions and the cache counts exactly once
    assert s.latency_ms.count == s.ttft_ms.count == 475 and (s.latency_ms.max, s.ttft_ms.max) == (1500.0, 450.0)
    assert s.cache == {"hit": 467, "store": 3, "miss": 5, "none": 0}
    assert s.recovery_modes["store_hydrate"] == 3 and s.recovery_modes["full_resend"] == 1
    assert len(s.disconnects) == 8 and len(s.reconnect_times_ms) == 4
    assert {d.fault for d in s.disconnects if d.code == 1006} == {"drop-all#0"}
    assert s.close_codes == {("client", 1000): 4, ("network", 1006): 4}
    assert s.integrity.not_found == 1 and s.integrity.not_found_resent == 1
    assert s.duration_s == 120.0
    assert max(sec.connected for sec in s.timeline) == 4 and s.timeline[-1].connected == 0


def test_summary_is_independent_of_event_order(make_run):
    events = list(iter_ledger(make_run(lost=("a1-1", 5), never_reconnect=("a1-2",))))
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    # per-agent chaining needs per-agent write order; shuffle whole files' order instead of lines
    by_pid: dict[int, list] = {}
    for e in events:
        by_pid.setdefault(e.pid, []).append(e)
    reordered = [e for pid in sorted(by_pid, reverse=True) for e in by_pid[pid]]
    a, b = summarize(events), summarize(reordered)
    assert [c.verdict for c in verify(a, Thresholds())] == [c.verdict for c in verify(b, Thresholds())]
    assert a.disconnects == b.disconnects and a.integrity == b.integrity
    # the fully shuffled stream still pairs disconnects with reconnects (sorted per agent)
    assert summarize(shuffled).disconnects == a.disconnects


def test_log_histogram_quantiles_are_within_one_percent():
    rng = random.Random(3)
    vals = [rng.lognormvariate(5, 1) for _ in range(20_000)]
    h = LogHistogram()
    for v in vals:
        h.add(v)
    vals.sort()
    for q in (0.5, 0.95, 0.99):
        exact = vals[int(q * len(vals)) - 1]
        assert abs(h.quantile(q) - exact) / exact < 0.012
    assert h.quantile(1.0) == vals[-1] and LogHistogram().quantile(0.5) is None


lines = st.one_of(
    st.binary(max_size=40),
    st.dictionaries(st.sampled_from(["kind", "mono", "t", "agent", "turn", "outcome", "code", "attempt", "fault", "v",
                                     "session", "detected", "mode", "closed_by", "users", "error"]),
                    st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=4),
                              st.sampled_from(["turn_end", "turn_start", "disconnect", "connect_ok", "recovery",
                                               "fault_apply", "completed", "failed", "ping_timeout", "a1-1",
                                               [], {}])),
                    max_size=6).map(orjson.dumps),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(lines, max_size=30))
def test_fuzz_garbage_ledger_lines_never_crash_the_reader_or_verifier(tmp_path_factory, raw_lines):
    run = tmp_path_factory.mktemp("fuzz")
    (run / "ledger").mkdir()
    (run / "ledger" / "locust-1.jsonl").write_bytes(b"\n".join(x.replace(b"\n", b" ") for x in raw_lines))
    data = b"\n".join(x.replace(b"\n", b" ") for x in raw_lines)
    stats = LedgerReadStats()
    events = list(iter_ledger(run, stats))
    s = summarize(events)
    verify(s, Thresholds())
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()  # nothing after the last newline is no line
    assert stats.lines == len(lines) and stats.bad_lines + len(events) == stats.lines == s.events + stats.bad_lines
    not_objects = 0
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        not_objects += not (isinstance(obj, dict) and "kind" in obj)
    assert stats.bad_lines >= not_objects  # every line that is not an event object is counted bad
    assert stats.cut_files == (["locust-1.jsonl"] if data and not data.endswith(b"\n") else [])
