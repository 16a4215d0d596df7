"""The checks: pure functions from a ``RunSummary`` and ``Thresholds`` to a list of ``Check``.

No I/O, no Locust. Each check says what it measured, the limit, and which agents are at fault,
so a failure names who did not come back. A check whose limit is ``None`` or that had nothing to
measure (no reconnects, no faults) is ``skip``, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from faults.schedule import planned_id
from reports.headroom import BOX, CHECK, NOTE, Headroom, headroom
from reports.ledger.schema import Backoff
from reports.recovery import FaultRecovery, fault_recoveries
from reports.slope import ComponentSlope, component_slopes
from reports.summary import Disconnect, Dist, Finding, RunSummary, TimelinePlay
from reports.thresholds import Thresholds

__all__ = ["PASS", "FAIL", "SKIP", "Check", "Focus", "Thresholds", "verify", "unrecovered", "digests_available",
           "BACKOFF_SLACK_S", "APPLY_SLACK_S", "FOCUS_AGENTS"]

PASS, FAIL, SKIP = "pass", "fail", "skip"

#: scheduling slack allowed on top of the backoff policy's longest wait (a loaded Locust process)
BACKOFF_SLACK_S = 1.0
#: a planned fault is due when the test ran at least this long past its planned start
APPLY_SLACK_S = 1.0
#: agents of one failed check whose last events the report shows
FOCUS_AGENTS = 5


@dataclass(frozen=True)
class Focus:
    """Where to look in one named agent's events: up to the last event of ``turn``, or up to ``until``
    (seconds since the test start), or, with neither, up to the agent's last event."""

    agent: str
    turn: str | None = None
    until: float | None = None


@dataclass(frozen=True)
class Check:
    """One verdict. ``observed`` and ``limit`` share ``unit``; ``agents`` are the agents at fault;
    ``focus`` says where each of the first few of them went wrong (the report shows their last events)."""

    name: str
    verdict: str  # pass | fail | skip
    observed: float | int | None
    limit: float | int | None
    unit: str
    agents: tuple[str, ...] = ()
    detail: str = ""
    focus: tuple[Focus, ...] = ()

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


def _focused(check: Check, focus: Iterable[Focus]) -> Check:
    """``check`` with the focus of its first ``FOCUS_AGENTS`` agents (only a failed check gets one)."""
    if check.verdict != FAIL:
        return check
    named = set(check.agents[:FOCUS_AGENTS])
    chosen: dict[str, Focus] = {}
    for f in focus:
        if f.agent in named:
            chosen.setdefault(f.agent, f)
    for agent in check.agents[:FOCUS_AGENTS]:
        chosen.setdefault(agent, Focus(agent))
    return replace(check, focus=tuple(chosen[a] for a in check.agents[:FOCUS_AGENTS]))


def _turn_focus(*findings: Finding) -> list[Focus]:
    return [Focus(agent, turn=turn) for f in findings for agent, turn in f.by_agent.items()]


def _judged(d: Disconnect, policy: Backoff | None) -> tuple[float, bool | None]:
    """(the time a reconnect is judged by, whether it was on time by the backoff policy).

    A reconnect that waited out a standing fault is judged against the agent's own backoff: it is
    on time when the first attempt that started after the fault cleared is the one that connected,
    and came within the policy's longest wait (or the Retry-After wait of the last refused upgrade) plus
    ``BACKOFF_SLACK_S``; then only that attempt's connect time counts. Otherwise (not on time) it
    counts from the fault's end. ``None``: not a standing-fault wait, judged by its raw time.
    """
    assert d.reconnect_ms is not None
    if not d.waited_on_fault:
        return d.reconnect_ms, None
    allowed_s = None if policy is None else max(policy.longest_wait_s, d.refused_wait_s or 0.0) + BACKOFF_SLACK_S
    prompt = d.after_clear_ms is not None and (allowed_s is None or d.after_clear_ms <= allowed_s * 1000.0)
    if d.first_after_clear_ok and prompt and d.connect_ms is not None:
        return d.connect_ms, True
    return d.clear_reconnect_ms, False  # type: ignore[return-value]


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
    add(_focused(_at_most("reconnect.unrecovered_agents", len(bad_agents) if summary.disconnects else None,
                          th.max_unrecovered_agents, "agents", bad_agents,
                          f"{reconnected} of {len(summary.disconnects)} disconnects reconnected; {gave_up} gave up; "
                          f"{exempt} exempt (client stop, or within {th.reconnect_grace_s:g} s of the test stop)",
                          nothing="no disconnects"), ()))

    recs = [d for d in summary.disconnects if d.reconnect_ms is not None]
    policy = summary.run.reconnect
    judged = [(d, *_judged(d, policy)) for d in recs]
    dist = Dist.of_values(v for _, v, _ in judged)
    waited = [(d, on_time) for d, _, on_time in judged if on_time is not None]
    late = sorted({d.agent for d, on_time in waited if not on_time})
    raw_waited = Dist.of_values(d.reconnect_ms for d, _ in waited)  # type: ignore[misc]
    if waited:
        how = ("all on time" if not late else
               f"{sum(1 for _, ok in waited if not ok)} not on time, judged from the fault's end "
               f"({', '.join(late[:FOCUS_AGENTS])}{' …' if len(late) > FOCUS_AGENTS else ''})")
        policy_note = (f"; {len(waited)} judged against the backoff policy (first attempt after the fault "
                       f"cleared, plus connect time): {how}; raw p50 {_ms(raw_waited.p50)}, max "
                       f"{_ms(raw_waited.max)} (outage and backoff included)"
                       + ("" if policy is not None else "; no backoff policy in run_start: attempt gaps not bounded"))
    else:
        policy_note = ""
    for q, limit, value in (("p50", th.reconnect_p50_ms, dist.p50), ("p95", th.reconnect_p95_ms, dist.p95),
                            ("p99", th.reconnect_p99_ms, dist.p99), ("max", th.reconnect_max_ms, dist.max)):
        slow = [(d, v) for d, v, _ in judged if limit is not None and v > limit]
        check = _at_most(f"reconnect.time_{q}_ms", value, limit, "ms", [d.agent for d, _ in slow],
                         f"{dist.count} reconnects; {len(recs) - len(waited)} against the fixed limits"
                         f"{policy_note}; {len(slow)} slower than the limit", nothing="no reconnects")
        add(_focused(check, (Focus(d.agent, until=d.at + d.reconnect_ms / 1000.0)  # type: ignore[operator]
                             for d, _ in sorted(slow, key=lambda dv: -dv[1]))))

    attempts = [d for d in recs if d.attempts is not None]
    most = max((d.attempts for d in attempts), default=None)  # type: ignore[type-var]
    mean = sum(d.attempts for d in attempts) / len(attempts) if attempts else 0  # type: ignore[misc]
    many = [d for d in attempts if th.reconnect_attempts_max is not None
            and d.attempts > th.reconnect_attempts_max]  # type: ignore[operator]
    add(_focused(_at_most("reconnect.attempts_max", most, th.reconnect_attempts_max, "attempts",
                          [d.agent for d in many],
                          f"mean {mean:.2f} attempts per recovery over {len(attempts)} recoveries",
                          nothing="no reconnects"),
                 (Focus(d.agent, until=d.at + d.reconnect_ms / 1000.0) for d in many)))  # type: ignore[operator]

    half = summary.half_open
    hd = Dist.of_values(d.silent_ms for d in half)  # type: ignore[misc]
    quiet = [d for d in half if th.half_open_detect_max_ms is not None
             and d.silent_ms > th.half_open_detect_max_ms]  # type: ignore[operator]
    add(_focused(_at_most("reconnect.half_open_detect_ms", hd.max, th.half_open_detect_max_ms, "ms",
                          [d.agent for d in quiet],
                          f"{hd.count} half-open sockets detected (ping/idle timeout); p50 {_ms(hd.p50)}, "
                          f"max {_ms(hd.max)}",
                          nothing="no half-open socket was detected (no ping or idle timeouts)"),
                 (Focus(d.agent, until=d.at) for d in quiet)))

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
    add(_focused(_at_most("recovery.failed", it.failed_recoveries.count if classified or reconnected else None,
                          th.max_failed_recoveries, "recoveries", it.failed_recoveries.agents,
                          f"{modes}; {reconnected} reconnects, {classified} classified by a following turn",
                          nothing="no recoveries"), _turn_focus(it.failed_recoveries)))

    protocol_bad = it.chain_breaks.count + it.not_found_unanswered.count
    protocol_agents = set(it.chain_breaks.agents) | set(it.not_found_unanswered.agents)
    protocol = (f"{it.not_found} previous_response_not_found, {it.not_found_resent} answered by a full "
                f"resend, {it.not_found_unanswered.count} not; {it.chain_breaks.count} response-id chain breaks")
    chain_focus = _turn_focus(it.chain_breaks, it.not_found_unanswered)
    if digests_available(summary):
        add(_focused(_at_most("context.digest_mismatches", it.digest_mismatches.count, th.max_digest_mismatches,
                              "turns", it.digest_mismatches.agents,
                              f"{it.digests_compared} completed turns compared; first mismatch per agent: "
                              f"{', '.join(list(it.digest_mismatches.by_agent.values())[:5]) or '-'}"),
                     _turn_focus(it.digest_mismatches)))
    else:
        add(_focused(_at_most("context.digest_mismatches", protocol_bad if summary.turns else None,
                              th.max_digest_mismatches, "turns", protocol_agents,
                              "not available (target sends no digests); verdict from protocol-level evidence: "
                              + protocol, nothing="not available (target sends no digests) and no turns"),
                     chain_focus))
    examples = it.chain_breaks.examples + it.not_found_unanswered.examples
    add(_focused(_at_most("context.response_chain", protocol_bad if summary.turns else None, th.max_chain_breaks,
                          "turns", protocol_agents,
                          protocol + (f"; examples: {', '.join(examples[:5])}" if protocol_bad else ""),
                          nothing="no turns"), chain_focus))

    lost = it.lost_turns
    how = "; ".join(f"{n} {what}" for what, n in it.lost_how.items())
    add(_focused(_at_most("turns.lost", lost.count, th.max_lost_turns, "turns", lost.agents,
                          (f"{lost.count} lost: {how}; examples: {', '.join(lost.examples[:5])}" if lost.count
                           else "no turn lost")), _turn_focus(lost)))
    add(_focused(_at_most("turns.duplicated", it.duplicated_turns.count, th.max_duplicated_turns, "turns",
                          it.duplicated_turns.agents,
                          f"examples: {', '.join(it.duplicated_turns.examples[:5]) or '-'}"),
                 _turn_focus(it.duplicated_turns)))
    fb_bad = it.fallback_lost.count + it.fallback_duplicated.count
    fb_agents = sorted(set(it.fallback_lost.agents) | set(it.fallback_duplicated.agents))
    per_agent = summary.fallbacks
    add(_focused(_at_most(
        "transport.fallback_turns", fb_bad if per_agent else None, th.max_fallback_turn_failures, "turns",
        fb_agents,
        f"{sum(per_agent.values())} fallbacks by {len(per_agent)} agents (most by one agent: "
        f"{max(per_agent.values(), default=0)}); {it.fallback_turns} turns after a fallback, "
        f"{it.fallback_completed} completed once, {it.fallback_lost.count} lost, "
        f"{it.fallback_duplicated.count} duplicated; completed turns by transport: "
        + (", ".join(f"{k} {v}" for k, v in summary.transports.items()) or "-"),
        nothing="no transport fallback"), _turn_focus(it.fallback_lost, it.fallback_duplicated)))
    if th.min_fallback_agents is None:
        add(Check("transport.fallbacks", SKIP, len(per_agent), None, "agents", (), "disabled (no limit)"))
    else:
        add(Check("transport.fallbacks", PASS if len(per_agent) >= th.min_fallback_agents else FAIL,
                  len(per_agent), th.min_fallback_agents, "agents (at least)", (),
                  f"{len(per_agent)} agents fell back: " + (", ".join(list(per_agent)[:5]) or "none")))
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
    add(_applied_check(summary, th))

    # -- the load itself ---------------------------------------------------------------------------------
    add(_concurrent_check(summary))
    add(_extra_check(summary, th))

    # -- component health ------------------------------------------------------------------------------
    slopes = component_slopes(summary, min_samples=th.health_min_samples, min_window_s=th.health_min_window_s)
    add(_growth_check("health.rss_slope", slopes, "rss_mb_per_h", th.health_rss_slope_mb_per_h, "MB/h", "RSS"))
    add(_growth_check("health.fd_slope", slopes, "fds_per_h", th.health_fd_slope_per_h, "FDs/h", "open FDs"))
    add(_headroom_check(summary, th))
    return checks


_REDISPATCH = ("Locust re-dispatches the users of a worker that missed its heartbeats (a CPU-starved worker "
               "is marked missing) while that worker's own users still run, so the run did not do its "
               "profile's work")


def _concurrent_check(summary: RunSummary) -> Check:
    """``load.concurrent_agents``: at most the run's agent count ran at once."""
    name, d, users = "load.concurrent_agents", summary.dispatch, summary.run.users
    if summary.run.interactive:
        return Check(name, SKIP, d.peak, None, "agents", (),
                     "a web UI swarm: its user count is the person's to change")
    if users is None or not d.started:
        return Check(name, SKIP, d.peak or None, users, "agents", (), "no run_start or no agent started")
    at = "" if d.peak_at_s is None else f" at {d.peak_at_s:.0f} s of the test"
    detail = f"peak {d.peak} agents running at once{at}, {d.started} started in all, the run has {users}"
    if d.peak <= users:
        return Check(name, PASS, d.peak, users, "agents", (), detail)
    return _focused(Check(name, FAIL, d.peak, users, "agents", d.extra_agents,
                          f"{detail}; extra: {_first(d.extra_agents)}; {_REDISPATCH}"), ())


def _extra_check(summary: RunSummary, th: Thresholds) -> Check:
    """``load.extra_agents``: no user started beyond the run's agents (outside its indices, or refused)."""
    name, d = "load.extra_agents", summary.dispatch
    if summary.run.interactive:
        return Check(name, SKIP, None, th.max_extra_agents, "users", (),
                     "a web UI swarm: its user count is the person's to change")
    n = len(d.extra_agents) + len(d.refused)
    refused = "" if not d.refused else (
        f"; the master refused {len(d.refused)} (indices {_first(d.refused)}"
        + (f", started on {', '.join(d.refused_workers)}" if d.refused_workers else "")
        + (f", while {', '.join(d.missing_workers)} counted as missing" if d.missing_workers else "") + ")")
    detail = (f"{len(d.extra_agents)} agents started outside the run's indices"
              + (f" ({_first(d.extra_agents)})" if d.extra_agents else "") + refused)
    check = _at_most(name, n if d.started or d.refused else None, th.max_extra_agents, "users",
                     d.extra_agents, detail if n == 0 else f"{detail}; {_REDISPATCH}",
                     nothing="no agent started")
    return _focused(check, ())


def _first(items: tuple[object, ...], most: int = 6) -> str:
    """The first ``most`` items, and how many more; ``-`` for none."""
    shown = ", ".join(str(i) for i in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "") or "-"


def _headroom_check(summary: RunSummary, th: Thresholds) -> Check:
    """``generator.headroom``: FAIL when a sampled process, or the box, was saturated (``reports.headroom``)."""
    name, unit, need = CHECK, "% CPU", max(1, th.headroom_min_samples)
    if th.headroom_cpu_pct is None and th.headroom_box_pct is None:
        return Check(name, SKIP, None, None, unit, (), "disabled (no limit)")
    h = headroom(summary, cpu_pct=th.headroom_cpu_pct, box_pct=th.headroom_box_pct, min_samples=need)
    if not h.sampled:
        return Check(name, SKIP, None, th.headroom_cpu_pct, unit, (),
                     "no health samples in the ledger (nothing sampled the components' CPU: an older ledger, "
                     "or the web UI)")
    unjudged = ", ".join(f"{c} ({n})" for c, n in h.unjudged[:6])
    if not h.judged or (th.headroom_cpu_pct is None and h.box_peak_pct is None):
        return Check(name, SKIP, None, th.headroom_cpu_pct, unit, (),
                     f"too few CPU samples during the test to judge saturation (need {need} consecutive): "
                     + (unjudged or "-") + (f"; box: {h.box_why}" if h.box_why else ""))
    state = _headroom_state(h, th, unjudged, summary.run.cpu_count)
    procs = [s for s in h.saturations if s.component != BOX]
    boxes = [s for s in h.saturations if s.component == BOX]
    if not h.saturations:
        observed = max(h.peaks.values(), default=None)
        lim = th.headroom_cpu_pct if th.headroom_cpu_pct is not None else th.headroom_box_pct
        what = (f"no process at or above {th.headroom_cpu_pct:g}% CPU" if th.headroom_cpu_pct is not None
                else "processes not judged (no limit)")
        return Check(name, PASS, None if observed is None else round(observed, 1), lim, unit, (),
                     f"{what} for {need} consecutive samples; {state}")
    said = [s.describe(th.headroom_cpu_pct) for s in procs[:6]]  # type: ignore[arg-type]
    said += [s.describe(th.headroom_box_pct) for s in boxes[:3]]  # type: ignore[arg-type]
    worst = max(procs, key=lambda s: s.peak_pct) if procs else max(boxes, key=lambda s: s.peak_pct)
    lim = th.headroom_cpu_pct if procs else th.headroom_box_pct
    more = max(0, len(procs) - 6) + max(0, len(boxes) - 3)
    return Check(name, FAIL, round(worst.peak_pct, 1), lim, unit, (),
                 "load generator saturated: " + "; ".join(said) + (f" (+{more} more windows)" if more else "")
                 + f"; {NOTE} (add CPU or Locust processes, or lower the load); {state}")


def _headroom_state(h: Headroom, th: Thresholds, unjudged: str, cores: int | None) -> str:
    peaks = ", ".join(f"{c} {v:.0f}%" for c, v in h.peaks.items())
    box = (f"box peak {h.box_peak_cores:.2f} of {cores} cores ({h.box_peak_pct:.0f}%, limit {th.headroom_box_pct:g}%)"
           if h.box_peak_pct is not None else f"box not judged: {h.box_why}")
    return f"peak CPU: {peaks or '-'}; {box}" + (f"; not judged (too few samples): {unjudged}" if unjudged else "")


def _growth_check(name: str, slopes: list[ComponentSlope], attr: str, limit: float | None, unit: str,
                  what: str) -> Check:
    """FAIL when any component's second-half slope of ``what`` is above ``limit``; SKIP when none was judged."""
    if limit is None:
        return Check(name, SKIP, None, None, unit, (), "disabled (no limit)")
    if not slopes:
        return Check(name, SKIP, None, limit, unit, (), "no health samples in the ledger (nothing sampled the "
                                                        "components: an older ledger, or the web UI)")
    judged = [(c, getattr(c, attr)) for c in slopes if getattr(c, attr) is not None]
    unjudged = [c for c in slopes if getattr(c, attr) is None]
    window = slopes[0].window
    skipped = "; not judged: " + ", ".join(f"{c.component} ({c.why or 'no values'})" for c in unjudged[:6]) \
        if unjudged else ""
    if not judged:
        return Check(name, SKIP, None, limit, unit, (),
                     f"too few samples to judge {what} growth over the second half ({window}): "
                     + ", ".join(f"{c.component} ({c.why or 'no values'})" for c in unjudged[:6]))
    over = sorted(((c, v) for c, v in judged if v > limit), key=lambda cv: -cv[1])
    worst = max(v for _, v in judged)
    listed = ", ".join(f"{c.component} {v:+.1f}" for c, v in judged)
    if over:
        detail = ("; ".join(f"{c.component}: {what} {v:+.1f} {unit} over {c.window} ({c.samples} samples), "
                            f"above the limit {limit:g} {unit}" for c, v in over)
                  + f"; Theil-Sen slope over the second half; all: {listed} {unit}{skipped}")
        return Check(name, FAIL, round(worst, 2), limit, unit, (), detail)
    detail = (f"every component's {what} slope at or below {limit:g} {unit} over the second half ({window}, "
              f"Theil-Sen): {listed} {unit}{skipped}")
    return Check(name, PASS, round(worst, 2), limit, unit, (), detail)


def _applied_check(summary: RunSummary, th: Thresholds) -> Check:
    """``faults.applied``: every planned window that came due while the timeline played applied
    (``fault_apply``), in the timeline's first play or a later one (``drop-all#0.p2``, the web UI's
    timeline started again).

    A window comes due in a play when its planned start, moved by the play's start, is at least
    ``APPLY_SLACK_S`` before the play ended: the test stop, or the timeline stopped by hand
    (``timeline_stop`` with ``manual``). A window that applied or failed (``fault_error``) came due. One
    that no play reached is not due: planned after the timeline was stopped by hand (and not replayed
    by a restart), or after the test stopped. A window planned at or after ``load.duration`` never plays
    and counts as not applied.
    """
    name, plan = "faults.applied", summary.run.fault_plan
    if plan is None:
        return Check(name, SKIP, None, None, "faults", (), "no fault plan in run_start (an older ledger)")
    if not plan:
        return Check(name, SKIP, 0, 0, "faults", (), "the profile plans no faults")
    applied = {planned_id(f.fault) for f in summary.applied_faults}  # a later play's window counts too
    errors: dict[str, str] = {}
    for f in summary.faults:
        if f.errors:
            errors.setdefault(planned_id(f.fault), f.errors[0])
    planned_s = summary.run.duration_s
    test_end = summary.duration_s - APPLY_SLACK_S
    plays = summary.timeline_plays
    ends = [(play.start_s, test_end if play.stopped_s is None else min(test_end, play.stopped_s - APPLY_SLACK_S))
            for play in plays]
    beyond = [p for p in plan if planned_s is not None and p.start_s >= planned_s]
    due = [p for p in plan if p not in beyond
           and (p.fault in applied or p.fault in errors or any(p.start_s + at <= end for at, end in ends))]
    missing = [p for p in due if p.fault not in applied]
    unreached = [p for p in plan if p not in beyond and p not in due]
    stops = [play.stopped_s for play in plays if play.stopped_s is not None]
    by_hand = [p for p in unreached if stops and p.start_s <= test_end]  # due, had the timeline played on
    not_due = len(unreached) - len(by_hand)
    why = [f"{p.fault} ({p.type} at {p.start_s:g} s{': ' + errors[p.fault] if p.fault in errors else ''})"
           for p in missing]
    why += [f"{p.fault} ({p.type} at {p.start_s:g} s, after load.duration {planned_s:g} s: never played)"
            for p in beyond]
    unapplied = len(missing) + len(beyond)
    detail = (f"{len(due) - len(missing)} of {len(due) + len(beyond)} planned faults applied"
              + (f"; not applied: {', '.join(why[:5])}{' …' if len(why) > 5 else ''}" if why else "")
              + (f"; {len(by_hand)} not due: the timeline was stopped by hand at {_stopped_text(plays)}"
                 if by_hand else "")
              + (f"; {not_due} planned after the test stopped (not due)" if not_due else ""))
    limit = th.max_unapplied_faults
    if limit is None:
        return Check(name, SKIP, unapplied, None, "faults not applied", (), f"disabled (no limit); {detail}")
    return Check(name, PASS if unapplied <= limit else FAIL, unapplied, limit, "faults not applied", (), detail)


def _stopped_text(plays: Iterable[TimelinePlay]) -> str:
    """``12 s`` or ``12 s, 40.5 s (started again at 30 s)``: when the timeline was stopped and restarted by hand."""
    plays = list(plays)
    stops = ", ".join(f"{round(p.stopped_s, 1):g} s" for p in plays if p.stopped_s is not None)
    again = ", ".join(f"{round(p.start_s, 1):g} s" for p in plays if p.play > 1)
    return stops + (f" (started again at {again})" if again else "")


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
