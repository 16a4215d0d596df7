"""The checks: pure functions from a ``RunSummary`` and ``Thresholds`` to a list of ``Check``.

No I/O, no Locust. Each check says what it measured, the limit, and which agents are at fault,
so a failure names who did not come back. A check whose limit is ``None`` or that had nothing to
measure (no reconnects, no faults) is ``skip``, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reports.recovery import FaultRecovery, fault_recoveries
from reports.summary import Dist, RunSummary
from reports.thresholds import Thresholds

__all__ = ["PASS", "FAIL", "SKIP", "Check", "Thresholds", "verify", "unrecovered", "digests_available"]

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Check:
    """One verdict. ``observed`` and ``limit`` share ``unit``; ``agents`` are the agents at fault."""

    name: str
    verdict: str  # pass | fail | skip
    observed: float | int | None
    limit: float | int | None
    unit: str
    agents: tuple[str, ...] = ()
    detail: str = ""

    @property
    def passed(self) -> bool:
        """True unless the verdict is ``fail`` (a skipped check does not fail the run)."""
        return self.verdict != FAIL


def _at_most(name: str, observed: float | None, limit: float | None, unit: str,
             agents: Iterable[str] = (), detail: str = "", *, nothing: str = "nothing to measure") -> Check:
    if limit is None:
        return Check(name, SKIP, observed, None, unit, (), f"disabled (no limit); {detail}".rstrip("; "))
    if observed is None:
        return Check(name, SKIP, None, limit, unit, (), nothing)
    ok = observed <= limit
    return Check(name, PASS if ok else FAIL, observed, limit, unit, () if ok else tuple(sorted(set(agents))), detail)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def digests_available(summary: RunSummary) -> bool:
    """Whether the target reported context digests (else the protocol-level fallback applies)."""
    return summary.integrity.digests_compared > 0


def unrecovered(summary: RunSummary, th: Thresholds) -> tuple[list[str], int, int]:
    """(agents that never recovered, disconnects needing recovery, disconnects exempted at the end).

    A disconnect needs a later ``connect_ok`` of its agent, unless it happened within
    ``reconnect_grace_s`` of the test stop, or the client closed it to stop the agent.
    """
    agents: set[str] = set()
    needing = exempt = 0
    for d in summary.disconnects:
        if d.ended == "agent_stopped" and d.closed_by == "client":
            exempt += 1
            continue
        if d.ended != "reconnected" and summary.duration_s - d.at <= th.reconnect_grace_s:
            exempt += 1
            continue
        needing += 1
        if d.ended != "reconnected":
            agents.add(d.agent)
    return sorted(agents), needing, exempt


def verify(summary: RunSummary, thresholds: Thresholds,
           recoveries: tuple[FaultRecovery, ...] | None = None) -> list[Check]:
    """Every check, in report order. Pure.

    ``recoveries`` is ``fault_recoveries(summary, thresholds)``, computed here unless the caller has it.
    """
    th = thresholds
    checks: list[Check] = []
    add = checks.append

    # -- reconnection --------------------------------------------------------------------------
    bad_agents, needing, exempt = unrecovered(summary, th)
    gave_up = sum(1 for d in summary.disconnects if d.ended == "gave_up")
    reconnected = sum(1 for d in summary.disconnects if d.ended == "reconnected")
    add(_at_most("reconnect.unrecovered_agents", len(bad_agents) if summary.disconnects else None,
                 th.max_unrecovered_agents, "agents", bad_agents,
                 f"{reconnected} of {len(summary.disconnects)} disconnects reconnected; {gave_up} gave up; "
                 f"{exempt} exempt (client stop, or within {th.reconnect_grace_s:g} s of the test stop)",
                 nothing="no disconnects"))

    recs = [d for d in summary.disconnects if d.reconnect_ms is not None]
    # Judged on the time after the fault cleared: a reconnect cannot beat a fault that still stands.
    dist = Dist.of_values(d.clear_reconnect_ms for d in recs)  # type: ignore[misc]
    raw = Dist.of_values(d.reconnect_ms for d in recs)  # type: ignore[misc]
    waited = sum(1 for d in recs if d.clear_reconnect_ms != d.reconnect_ms)
    for q, limit, value, raw_value in (
            ("p50", th.reconnect_p50_ms, dist.p50, raw.p50), ("p95", th.reconnect_p95_ms, dist.p95, raw.p95),
            ("p99", th.reconnect_p99_ms, dist.p99, raw.p99), ("max", th.reconnect_max_ms, dist.max, raw.max)):
        slow = [d.agent for d in recs
                if limit is not None and d.clear_reconnect_ms > limit]  # type: ignore[operator]
        note = (f"; {waited} waited out a standing fault (raw {q} {_ms(raw_value)}, outage included)"
                if waited else "")
        add(_at_most(f"reconnect.time_{q}_ms", value, limit, "ms", slow,
                     f"{dist.count} reconnects; {len(slow)} slower than the limit{note}", nothing="no reconnects"))

    attempts = [d for d in recs if d.attempts is not None]
    most = max((d.attempts for d in attempts), default=None)  # type: ignore[type-var]
    mean = sum(d.attempts for d in attempts) / len(attempts) if attempts else 0  # type: ignore[misc]
    add(_at_most("reconnect.attempts_max", most, th.reconnect_attempts_max, "attempts",
                 [d.agent for d in attempts if th.reconnect_attempts_max is not None
                  and d.attempts > th.reconnect_attempts_max],  # type: ignore[operator]
                 f"mean {mean:.2f} attempts per recovery over {len(attempts)} recoveries",
                 nothing="no reconnects"))

    half = summary.half_open
    hd = Dist.of_values(d.silent_ms for d in half)  # type: ignore[misc]
    add(_at_most("reconnect.half_open_detect_ms", hd.max, th.half_open_detect_max_ms, "ms",
                 [d.agent for d in half if th.half_open_detect_max_ms is not None
                  and d.silent_ms > th.half_open_detect_max_ms],  # type: ignore[operator]
                 f"{hd.count} half-open sockets detected (ping/idle timeout); p50 {_ms(hd.p50)}, max {_ms(hd.max)}",
                 nothing="no half-open socket was detected (no ping or idle timeouts)"))

    peak = max(summary.timeline, key=lambda s: s.reconnects, default=None)
    peak_n = peak.reconnects if peak is not None and peak.reconnects else None
    rec = recoveries if recoveries is not None else fault_recoveries(summary, th)
    spread = ", ".join(f"{r.fault}: {r.reconnects} over p10-p90 {r.reconnect_spread_s:.1f} s"
                       for r in rec if r.reconnect_spread_s is not None)
    add(_at_most("reconnect.storm_peak_per_s", peak_n, th.reconnect_peak_per_s_max, "reconnects/s", (),
                 (f"peak at t={peak.t} s; " if peak_n and peak is not None else "") + (spread or "no spread"),
                 nothing="no reconnects"))

    # -- state-cache recovery and conversation integrity -------------------------------------------
    it = summary.integrity
    modes = ", ".join(f"{k} {v}" for k, v in summary.recovery_modes.items())
    classified = sum(summary.recovery_modes.values())
    add(_at_most("recovery.failed", it.failed_recoveries.count if classified or reconnected else None,
                 th.max_failed_recoveries, "recoveries", it.failed_recoveries.agents,
                 f"{modes}; {reconnected} reconnects, {classified} classified by a following turn",
                 nothing="no recoveries"))

    protocol_bad = it.chain_breaks.count + it.not_found_unanswered.count
    protocol_agents = set(it.chain_breaks.agents) | set(it.not_found_unanswered.agents)
    protocol = (f"{it.not_found} previous_response_not_found, {it.not_found_resent} answered by a full "
                f"resend, {it.not_found_unanswered.count} not; {it.chain_breaks.count} response-id chain breaks")
    if digests_available(summary):
        add(_at_most("context.digest_mismatches", it.digest_mismatches.count, th.max_digest_mismatches, "turns",
                     it.digest_mismatches.agents,
                     f"{it.digests_compared} completed turns compared; examples: "
                     f"{', '.join(it.digest_mismatches.examples[:5]) or '-'}"))
    else:
        add(_at_most("context.digest_mismatches", protocol_bad if summary.turns else None,
                     th.max_digest_mismatches, "turns", protocol_agents,
                     "not available (target sends no digests); verdict from protocol-level evidence: " + protocol,
                     nothing="not available (target sends no digests) and no turns"))
    add(_at_most("context.response_chain", protocol_bad if summary.turns else None, th.max_chain_breaks,
                 "turns", protocol_agents,
                 protocol + (f"; examples: {', '.join((it.chain_breaks.examples + it.not_found_unanswered.examples)[:5])}"
                             if protocol_bad else ""), nothing="no turns"))

    add(_at_most("turns.lost", it.lost_turns.count, th.max_lost_turns, "turns", it.lost_turns.agents,
                 f"{it.never_ended_turns} never ended; examples: {', '.join(it.lost_turns.examples[:5]) or '-'}"))
    add(_at_most("turns.duplicated", it.duplicated_turns.count, th.max_duplicated_turns, "turns",
                 it.duplicated_turns.agents, f"examples: {', '.join(it.duplicated_turns.examples[:5]) or '-'}"))
    done = summary.completed_turns
    if th.min_completed_turns is None:
        add(Check("turns.completed", SKIP, done, None, "turns", (), "disabled (no limit)"))
    else:
        add(Check("turns.completed", PASS if done >= th.min_completed_turns else FAIL, done,
                  th.min_completed_turns, "turns (at least)", (),
                  f"{summary.turns} turns, {summary.turn_attempts} attempts, outcomes "
                  + ", ".join(f"{k} {v}" for k, v in summary.outcomes.items())))

    # -- recovery in time ---------------------------------------------------------------------------
    add(_recovery_check(rec, th))

    # -- the faults themselves ---------------------------------------------------------------------------
    errs = [f for f in summary.faults if f.errors]
    add(_at_most("faults.errors", sum(len(f.errors) for f in errs), th.max_fault_errors, "errors", (),
                 "; ".join(f"{f.fault}: {f.errors[0]}" for f in errs[:5]) or f"{len(summary.faults)} faults applied"))
    return checks


def _recovery_check(rec: tuple[FaultRecovery, ...], th: Thresholds) -> Check:
    name = "latency.recovery_s"
    if th.recovery_within_pct is None or th.recovery_max_s is None:
        return Check(name, SKIP, None, th.recovery_max_s, "s", (), "disabled (no limit)")
    judged = [r for r in rec if r.status in ("recovered", "not_recovered")]
    parts = []
    for r in rec:
        if r.status == "recovered":
            parts.append(f"{r.fault}: {r.recovered_after_s:.0f} s")
        elif r.status == "not_recovered":
            parts.append(f"{r.fault}: NOT back within {th.recovery_max_s:g} s")
        else:
            parts.append(f"{r.fault}: {r.status.replace('_', ' ')}")
    detail = (f"p95 turn latency and TTFT back within {th.recovery_within_pct:g}% of the pre-fault baseline; "
              + ("; ".join(parts) or "no faults"))
    if not judged:
        return Check(name, SKIP, None, th.recovery_max_s, "s", (), detail)
    failed = [r for r in judged if r.status == "not_recovered"]
    worst = max((r.recovered_after_s for r in judged if r.recovered_after_s is not None), default=None)
    return Check(name, FAIL if failed else PASS, worst, th.recovery_max_s, "s", (), detail)
