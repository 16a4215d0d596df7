"""Synthetic run directories for the report tests, written through ``LedgerWriter`` per docs/ledger.md.

``Scenario`` describes a small healthy run (4 agents, 120 s, one ``drop-all`` fault at 40-45 s
that disconnects every agent, one cut-and-retried turn, one not_found answered by a full resend);
each knob breaks exactly one thing so that one check fails and names the right agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from reports.ledger import LedgerWriter
from reports.ledger import schema as ev

T0 = 1000.0  # mono of the test start
WALL = 1_767_225_600.0 - T0
#: the agents' default backoff (openai-python's): 0.5 s doubling to 8 s, jitter 0.75-1, 5 retries
SDK_BACKOFF = ev.Backoff(max_retries=5, base_delay_s=0.5, max_delay_s=8.0, jitter_min=0.75, jitter_max=1.0,
                         cooldown_s=8.0)


@dataclass
class Scenario:
    agents: int = 4
    duration_s: float = 120.0
    fault_at: float = 40.0
    fault_len: float = 5.0
    digests: bool = True
    slow_after_s: float = 3.0  # seconds of elevated latency after the reconnect
    reconnect_ms: dict[str, float] = field(default_factory=dict)  # per agent, default 600 + 50 i
    attempts: dict[str, int] = field(default_factory=dict)
    never_reconnect: tuple[str, ...] = ()
    give_up: tuple[str, ...] = ()
    mismatch: tuple[str, int] | None = None  # (agent, turn index)
    lost: tuple[str, int] | None = None
    duplicated: tuple[str, int] | None = None
    chain_break: tuple[str, int] | None = None
    unanswered_not_found: str | None = None
    failed_recovery: str | None = None
    half_open: tuple[str, float] | None = None  # the fault is detected by ping timeout after silent_ms
    fault_error: bool = False
    checks: dict = field(default_factory=dict)
    name: str = "unit"
    partial: bool = False  # no run.json, no run_stop, and the last line cut
    fault_type: str = "down"  # the fault_apply type of drop-all (``close``: an instant fault)
    stop_reason: str = "completed"  # run_stop reason and run.json status
    fault_plan: tuple[tuple[str, str, float], ...] | None = (("drop-all#0", "down", 40.0),)  # run_start's plan
    fault_id: str = "drop-all#0"  # the id drop-all applies with (``drop-all#0.p2``: the timeline's 2nd play)
    planned_duration_s: float | None = None  # run_start's duration_s when the test stopped early
    backoff: bool = True  # run_start records the agents' backoff policy (the SDK defaults)
    # agent whose previous_response_not_found is followed by a new session (full resend off)
    not_found_new_session: str | None = None
    abandon: tuple[str, int, str, int] | None = None  # (agent, turn index, LossCause, attempts): cut, then given up
    compressed: bool = False  # write the ledger as zstd segments (.jsonl.zst), as real runs do
    #: health samples: component -> its CPU per sample (% of one core), one every ``health_every_s`` from
    #: t=0 (the sampler's first sample of a process has no CPU figure: t=0 is written with none)
    cpu: dict[str, tuple[float, ...]] = field(default_factory=dict)
    health_every_s: float = 5.0
    cpu_count: int | None = None  # run_start.cpu_count
    #: the fault timeline stopped or started again by hand: ("stop" | "start", at_s, play), in order
    timeline: tuple[tuple[str, float, int], ...] = ()
    users: int | None = None  # run_start.users (default: ``agents``; fewer: the rest are extra agents)
    refused: tuple[int, ...] = ()  # indices the master refused (agent_refused, on worker "host_b")
    interactive: bool = False  # run_start.interactive (a web UI swarm)


def agent_id(i: int) -> str:
    return f"a1-{i}"


class _W:
    def __init__(self, path: Path) -> None:
        self.w = LedgerWriter(path)

    def __call__(self, kind: type[ev.Event], at: float, **kw: Any) -> None:
        """Write one event of ``kind`` at ``at`` seconds after the test start (its constructor checks the keys)."""
        self.w.write(kind(mono=T0 + at, t=WALL + T0 + at, **kw))


def build(run_dir: Path, sc: Scenario | None = None) -> Path:
    """Write ``sc`` as a run directory under ``run_dir``; returns ``run_dir``."""
    sc = sc or Scenario()
    led = run_dir / "ledger"
    ext = ".jsonl.zst" if sc.compressed else ".jsonl"
    orch, loc, flt = _W(led / f"orchestrator-10{ext}"), _W(led / f"locust-20{ext}"), _W(led / f"faults-30{ext}")
    profile = {"name": sc.name, "seed": 7, "users": sc.agents, "checks": sc.checks}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "profile.resolved.yaml").write_text(yaml.safe_dump(profile))
    plan = None if sc.fault_plan is None else [ev.PlannedFault(fault=f, type=k, start_s=at) for f, k, at in sc.fault_plan]
    orch(ev.RunStart, -0.5, run_id="r1", profile=sc.name, seed=7, target="embedded", digests=sc.digests,
         proxy="embedded", users=sc.agents if sc.users is None else sc.users,
         duration_s=sc.planned_duration_s or sc.duration_s, reconnect=SDK_BACKOFF if sc.backoff else None,
         fault_plan=plan, cpu_count=sc.cpu_count, interactive=sc.interactive)
    orch(ev.TestStart, 0.0, users=sc.agents)
    for n, index in enumerate(sc.refused):
        orch(ev.AgentRefused, 30.0 + n, index=index, limit=sc.users or sc.agents, worker="host_b",
             missing=["host_a"])
    if sc.cpu:
        hw = _W(led / f"health-40{ext}")
        for n, (name, series) in enumerate(sc.cpu.items()):
            for i, cpu in enumerate((None, *series)):
                hw(ev.HealthSample, i * sc.health_every_s + 0.01 * n, component=name, component_pid=500 + n,
                   rss_bytes=50_000_000, fds=30, cpu_pct=cpu, connections=sc.agents, established=sc.agents)
        hw.w.close()
    fid, kind = sc.fault_id, sc.fault_type
    fa, fe = sc.fault_at, sc.fault_at + sc.fault_len
    flt(ev.FaultApply, fa, fault=fid, type=kind, share=1.0, start_s=fa, duration_s=sc.fault_len, attributes={})
    if sc.fault_error:
        flt(ev.FaultError, fa + 0.1, fault=fid, type=kind, error="toxiproxy: 500")
    flt(ev.FaultRemove, fe, fault=fid, type=kind)
    for what, at, play in sc.timeline:
        flt(ev.TimelineStop if what == "stop" else ev.TimelineStart, at, play=play, at_s=at, manual=True)
    for i in range(sc.agents):
        _agent(loc, sc, i)
    if not sc.partial:
        orch(ev.TestStop, sc.duration_s)
        orch(ev.RunStop, sc.duration_s + 0.5, reason=sc.stop_reason)
    for w in (orch, loc, flt):
        w.w.close()
    if sc.partial:
        assert not sc.compressed, "a cut compressed file: see tests/reports/test_ledger_segments.py"
        with open(led / "locust-20.jsonl", "ab") as fh:
            fh.write(b'{"v": 1, "kind": "turn_end", "mono": 12')  # cut by kill -9
    else:
        (run_dir / "run.json").write_bytes(orjson.dumps({"status": sc.stop_reason, "exit_reason": sc.stop_reason}))
    return run_dir


def _agent(w: _W, sc: Scenario, i: int) -> None:  # noqa: C901 - a script, read top to bottom
    a = agent_id(i)
    conn_no = 1
    conn = f"{a}/c{conn_no}"
    off = 0.1 * i
    w(ev.AgentStart, off, agent=a, index=i + 1)
    w(ev.ConnectAttempt, off + 0.01, agent=a, conn=conn, attempt=1, reason="initial")
    w(ev.ConnectOk, off + 0.05, agent=a, conn=conn, attempt=1, reason="initial", duration_ms=40.0)
    last_resp: str | None = None
    cache_next = "miss"
    index = 0
    t = 0.5 + off
    reconnected_at: float | None = None
    disconnected = False
    pending_recovery: str | None = None
    session = 1

    def turn(at: float, *, attempt: int = 1, outcome: str = "completed", prev: str | None = None,
             mode: str = "incremental", end: bool = True, dur: float = 400.0, ttft: float = 100.0,
             error_code: str | None = None, cache: str | None = "hit", server_digest: str | None = None) -> str:
        tid = f"{a}/s{session}/t{index}"
        digest = f"dg-{a}-{session}-{index}"
        w(ev.TurnStart, at, agent=a, conn=conn, turn=tid, session=session, index=index, attempt=attempt,
          input_mode=mode, previous_response_id=prev, input_items=index + 1, input_bytes=100 * (index + 1),
          client_digest=digest)
        rid = f"resp-{a}-{session}-{index}-{attempt}"
        if end:
            good = outcome in ("completed", "incomplete")
            w(ev.TurnEnd, at + dur / 1000.0, agent=a, conn=conn, turn=tid, session=session, index=index,
              attempt=attempt, outcome=outcome,
              response_id=rid if good else None, error_code=error_code, ttft_ms=ttft if good else None,
              duration_ms=dur, output_tokens=40 if good else 0, input_tokens=100, cached_tokens=80,
              gap_p50_ms=5.0, gap_p99_ms=20.0, tokens_per_s=100.0, client_digest=digest,
              server_digest=(server_digest or digest) if sc.digests and good else None,
              cache=cache if good else None)
        return rid

    while t < sc.duration_s - 1.0:
        if not disconnected and sc.fault_at <= t < sc.fault_at + 1.0:
            # the fault hits: agent 0 has a turn in flight that is cut
            dt = sc.fault_at + 0.02 * i
            in_flight = None
            if i == 0:
                turn(dt - 0.2, end=False, prev=last_resp)
                w(ev.TurnEnd, dt, agent=a, conn=conn, turn=f"{a}/s1/t{index}", session=1, index=index, attempt=1,
                  outcome="cut",
                  response_id=None, error_code=None, ttft_ms=None, duration_ms=200.0, output_tokens=0,
                  input_tokens=0, cached_tokens=0, gap_p50_ms=None, gap_p99_ms=None, tokens_per_s=None,
                  client_digest=None, server_digest=None, cache=None)
                in_flight = f"{a}/s1/t{index}"
            detected, silent = "eof", 5.0
            if sc.half_open and sc.half_open[0] == a:
                detected, silent = "ping_timeout", sc.half_open[1]
            w(ev.Disconnect, dt, agent=a, conn=conn, code=1006, closed_by="network", detected=detected,
              recoverable=True, in_flight=in_flight, silent_ms=silent)
            disconnected = True
            if a in sc.never_reconnect:
                return
            rms = sc.reconnect_ms.get(a, 600.0 + 50.0 * i)
            n = sc.attempts.get(a, 1)
            for k in range(1, n + 1):
                conn_no += 1
                conn = f"{a}/c{conn_no}"
                w(ev.ConnectAttempt, dt + 0.4 + 0.01 * i + (k - 1) * 0.05, agent=a, conn=conn, attempt=k,
                  reason="reconnect")
                if k < n:
                    w(ev.ConnectFail, dt + 0.41 + (k - 1) * 0.05, agent=a, conn=conn, attempt=k,
                      reason="reconnect", error="refused", status=None, retry_in_s=0.5)
            if a in sc.give_up:
                w(ev.ReconnectGiveup, dt + 1.0, agent=a, attempts=n, error="refused")
                return
            reconnected_at = dt + rms / 1000.0
            w(ev.ConnectOk, reconnected_at, agent=a, conn=conn, attempt=n, reason="reconnect", duration_ms=40.0)
            pending_recovery = "store_hydrate"
            t = reconnected_at + 0.1
            if i == 0:
                # retry the cut turn (attempt 2) on the new socket: not lost
                last_resp = turn(t, attempt=2, prev=last_resp, cache="store")
                w(ev.Recovery, t + 0.4, agent=a, conn=conn, turn=f"{a}/s1/t{index}", mode="store_hydrate",
                  disconnect_mono=T0 + dt, reconnect_ms=rms, attempts=n)
                pending_recovery = None
                index += 1
                t += 1.0
            continue
        slow = reconnected_at is not None and t < reconnected_at + sc.slow_after_s
        dur, ttft = (1500.0, 450.0) if slow else (400.0 + 10 * (index % 5), 100.0 + 2 * (index % 7))
        prev, mode = last_resp, "incremental"
        if sc.chain_break and sc.chain_break == (a, index):
            prev = "resp-bogus"
        if pending_recovery is not None:
            mode_name = pending_recovery
            if a in (agent_id(sc.agents - 1), sc.unanswered_not_found, sc.not_found_new_session):
                # the store lost it: previous_response_not_found, then a full resend (a new chain)
                turn(t, prev=prev, outcome="error", error_code="previous_response_not_found", dur=30.0)
                t += 0.1
                if a == sc.unanswered_not_found:
                    prev, mode = "resp-stale", "incremental"
                elif a == sc.not_found_new_session:  # full resend off: the turn is given up, a new session starts
                    w(ev.TurnAbandon, t - 0.05, agent=a, turn=f"{a}/s{session}/t{index}", session=session,
                      index=index, attempts=1, cause="full_resend_disabled", error_code="previous_response_not_found")
                    session, index, t = session + 1, 0, t + 1.0
                    prev, mode = None, "full"
                else:
                    prev, mode = None, "full"
                mode_name = "full_resend"
            if a == sc.failed_recovery:
                mode_name = "failed"
            rid = turn(t, prev=prev, mode=mode, dur=dur, ttft=ttft, cache="store" if prev else "miss")
            w(ev.Recovery, t + dur / 1000.0, agent=a, conn=conn, turn=f"{a}/s{session}/t{index}", mode=mode_name,
              disconnect_mono=T0 + sc.fault_at, reconnect_ms=600.0, attempts=1)
            pending_recovery = None
        elif sc.lost == (a, index):
            turn(t, prev=prev, outcome="cut", end=True)
            rid = last_resp  # never retried
        elif sc.abandon is not None and sc.abandon[:2] == (a, index):
            _, _, cause, tries = sc.abandon
            for k in range(1, tries + 1):  # cut on every attempt the policy allows, then given up
                turn(t, attempt=k, prev=prev, outcome="cut", dur=100.0)
                t += 0.2
            w(ev.TurnAbandon, t, agent=a, turn=f"{a}/s{session}/t{index}", session=session, index=index,
              attempts=tries, cause=cause)
            rid = last_resp
        else:
            sd = "WRONG" if sc.mismatch == (a, index) else None
            rid = turn(t, prev=prev, mode=mode, dur=dur, ttft=ttft, cache=cache_next, server_digest=sd)
            cache_next = "hit"
            if sc.duplicated == (a, index):
                w(ev.TurnEnd, t + 0.5, agent=a, conn=conn, turn=f"{a}/s1/t{index}", session=1, index=index, attempt=1,
                  outcome="completed", response_id=rid, error_code=None, ttft_ms=ttft, duration_ms=dur,
                  output_tokens=40, input_tokens=100, cached_tokens=80, gap_p50_ms=5.0, gap_p99_ms=20.0,
                  tokens_per_s=100.0, client_digest=None, server_digest=None, cache="hit")
        last_resp = rid
        index += 1
        t += 1.0
    if not sc.partial:
        w(ev.Disconnect, sc.duration_s, agent=a, conn=conn, code=1000, closed_by="client", detected="close_frame",
          recoverable=False, in_flight=None, silent_ms=1.0)
        w(ev.AgentStop, sc.duration_s + 0.01, agent=a)


def down_with_backoff(run_dir: Path, *, down_s: float = 8.0, agents: int = 4, late: str | None = None,
                      duration_s: float = 60.0, fault_at: float = 20.0) -> Path:
    """A run shaped like a proxy ``down`` of ``down_s`` against agents with the SDK backoff.

    Every agent loses its socket as the fault starts, is refused on each attempt while it stands
    (0.5 s doubling, jitter 0.8-0.95), and connects on the first attempt after the fault clears,
    up to ~8 s later by its backoff. ``late`` waits 20 s after its last refusal instead (a broken backoff).
    """
    led = run_dir / "ledger"
    orch, loc, flt = _W(led / "orchestrator-10.jsonl"), _W(led / "locust-20.jsonl"), _W(led / "faults-30.jsonl")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "profile.resolved.yaml").write_text(yaml.safe_dump({"name": "down", "seed": 7, "checks": {}}))
    orch(ev.RunStart, -0.5, run_id="r2", profile="down", seed=7, target="embedded", digests=True, proxy="embedded",
         users=agents, duration_s=duration_s, reconnect=SDK_BACKOFF,
         fault_plan=[ev.PlannedFault(fault="outage#0", type="down", start_s=fault_at)])
    orch(ev.TestStart, 0.0, users=agents)
    clear = fault_at + down_s
    flt(ev.FaultApply, fault_at, fault="outage#0", type="down", share=1.0, start_s=fault_at, duration_s=down_s,
        attributes={})
    flt(ev.FaultRemove, clear, fault="outage#0", type="down")
    for i in range(agents):
        a = agent_id(i)
        k = 1
        conn = f"{a}/c{k}"
        loc(ev.AgentStart, 0.1 * i, agent=a, index=i + 1)
        loc(ev.ConnectAttempt, 0.1 * i + 0.01, agent=a, conn=conn, attempt=1, reason="initial")
        loc(ev.ConnectOk, 0.1 * i + 0.02, agent=a, conn=conn, attempt=1, reason="initial", duration_ms=5.0)
        prev: str | None = None
        index = 0
        t = 0.5 + 0.1 * i
        while t < fault_at - 1.0:
            prev, index, t = _completed_turn(loc, a, conn, index, prev, t), index + 1, t + 1.0
        cut = fault_at + 0.01 * i
        loc(ev.Disconnect, cut, agent=a, conn=conn, code=1006, closed_by="network", detected="eof",
            recoverable=True, in_flight=None, silent_ms=5.0)
        jitter = 0.8 + 0.05 * i
        at, attempt, delay = cut + 0.5 * jitter, 1, 0.5
        while True:
            k += 1
            conn = f"{a}/c{k}"
            loc(ev.ConnectAttempt, at, agent=a, conn=conn, attempt=attempt, reason="reconnect")
            if at >= clear:
                loc(ev.ConnectOk, at + 0.005, agent=a, conn=conn, attempt=attempt, reason="reconnect",
                    duration_ms=5.0)
                break
            delay = min(delay * 2, 8.0)
            wait = 20.0 if a == late and at + delay * jitter >= clear else delay * jitter
            loc(ev.ConnectFail, at + 0.001, agent=a, conn=conn, attempt=attempt, reason="reconnect",
                error="ConnectionRefusedError: [Errno 111] Connection refused", status=None, retry_in_s=wait)
            at, attempt = at + wait, attempt + 1
        t = at + 0.1
        loc(ev.Recovery, t + 0.4, agent=a, conn=conn, turn=f"{a}/s1/t{index}", mode="store_hydrate",
            disconnect_mono=T0 + cut, reconnect_ms=(at + 0.005 - cut) * 1000.0, attempts=attempt)
        while t < duration_s - 1.0:
            prev, index, t = _completed_turn(loc, a, conn, index, prev, t), index + 1, t + 1.0
        loc(ev.Disconnect, duration_s, agent=a, conn=conn, code=1000, closed_by="client", detected="close_frame",
            recoverable=False, in_flight=None, silent_ms=1.0)
        loc(ev.AgentStop, duration_s + 0.01, agent=a)
    orch(ev.TestStop, duration_s)
    orch(ev.RunStop, duration_s + 0.5, reason="completed")
    for w in (orch, loc, flt):
        w.w.close()
    (run_dir / "run.json").write_bytes(orjson.dumps({"status": "completed", "exit_reason": "completed"}))
    return run_dir


def _completed_turn(loc: _W, a: str, conn: str, index: int, prev: str | None, at: float) -> str:
    """One turn of session 1 that completes in 400 ms; returns its response id."""
    tid, rid, dg = f"{a}/s1/t{index}", f"resp-{a}-{index}", f"dg-{a}-{index}"
    loc(ev.TurnStart, at, agent=a, conn=conn, turn=tid, session=1, index=index, attempt=1,
        input_mode="incremental" if prev else "full", previous_response_id=prev, input_items=1,
        input_bytes=100, client_digest=dg)
    loc(ev.TurnEnd, at + 0.4, agent=a, conn=conn, turn=tid, session=1, index=index, attempt=1,
        outcome="completed", response_id=rid, error_code=None, ttft_ms=100.0, duration_ms=400.0,
        output_tokens=40, input_tokens=100, cached_tokens=80, gap_p50_ms=5.0, gap_p99_ms=20.0,
        tokens_per_s=100.0, client_digest=dg, server_digest=dg, cache="hit" if prev else "miss")
    return rid
