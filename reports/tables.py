"""The report's tables as (title, headers, rows): one source for the terminal, Markdown and HTML."""

from __future__ import annotations

from typing import Any

from reports.model import Report
from reports.slope import MB, component_slopes
from reports.summary import Dist
from reports.trail import Trail
from reports.verify import Check, unrecovered

__all__ = ["Table", "tables", "health_table", "check_rows", "fmt", "AGENTS_SHOWN", "failed_details", "failed_text", "trail_lines"]

Table = tuple[str, list[str], list[list[Any]]]
AGENTS_SHOWN = 8
TRAILS_SHOWN = 3  # named agents whose last events the terminal and Markdown show per failed check


def fmt(v: Any, digits: int = 1) -> str:
    """A compact cell: '-' for None, thousands for big numbers, ``digits`` decimals for small floats."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _agents(agents: tuple[str, ...]) -> str:
    if not agents:
        return ""
    shown = ", ".join(agents[:AGENTS_SHOWN])
    return shown + (f" (+{len(agents) - AGENTS_SHOWN} more)" if len(agents) > AGENTS_SHOWN else "")


def check_rows(report: Report, *, detail_width: int | None = None) -> list[list[Any]]:
    rows = []
    for c in report.checks:
        detail = c.detail
        if detail_width and len(detail) > detail_width:
            detail = detail[: detail_width - 1] + "…"
        rows.append([c.verdict.upper(), c.name, fmt(c.observed), fmt(c.limit), c.unit, _agents(c.agents), detail])
    return rows


def failed_details(report: Report, agents: int | None = TRAILS_SHOWN) -> list[tuple[Check, list[Trail]]]:
    """Each failed check with the trails of (the first ``agents`` of) its named agents."""
    out = []
    for c in report.failed:
        mine = [t for t in report.trails if t.check == c.name]
        out.append((c, mine if agents is None else mine[:agents]))
    return out


def trail_lines(trail: Trail) -> list[str]:
    """One line per event: relative seconds, kind, what happened."""
    return [f"{'+' + format(e.at, '.2f') + ' s':>10}  {e.kind:<16} {e.text}" for e in trail.events] or [
        "(no events of this agent)"]


def failed_text(report: Report) -> list[str]:
    """The failed checks in full, with the last events of their named agents (terminal and Markdown)."""
    lines: list[str] = []
    for c, trails in failed_details(report):
        lines.append(f"- {c.name}: {c.detail}")
        for t in trails:
            lines.append(f"  {t.focus.agent}, {t.anchor}:")
            lines += [f"    {line}" for line in trail_lines(t)]
        if len(c.agents) > len(trails) and trails:
            lines.append(f"  (+{len(c.agents) - len(trails)} more agents: see report.html and the ledger)")
    return lines


def _dist_row(name: str, d: Dist, unit: str) -> list[Any]:
    return [name, unit, fmt(d.count), fmt(d.p50), fmt(d.p95), fmt(d.p99), fmt(d.max)]


def health_table(report: Report) -> Table:
    """Per component: RSS and FDs at the start and end, and their second-half slopes (Theil-Sen).

    The slopes are shown for any run with a few samples; the health checks judge them only when the
    second half is long and well enough sampled (``health_min_window_s``, ``health_min_samples``)."""
    s = report.summary
    slopes = {c.component: c for c in component_slopes(s, min_samples=3, min_window_s=0.0)}
    rows = []
    for name, series in s.health.items():
        c = slopes.get(name)
        fds = [v for v in series.fds if v is not None]
        cpu = [v for v in series.cpu_pct if v is not None]
        est = [v for v in series.established if v is not None]
        rows.append([name, ", ".join(str(p) for p in series.pids), len(series.t),
                     fmt(series.start_rss / MB if series.start_rss is not None else None),
                     fmt(series.end_rss / MB if series.end_rss is not None else None),
                     "-" if c is None or c.rss_mb_per_h is None else f"{c.rss_mb_per_h:+.1f}",
                     fmt(fds[0] if fds else None), fmt(fds[-1] if fds else None),
                     "-" if c is None or c.fds_per_h is None else f"{c.fds_per_h:+.0f}",
                     fmt(max(est) if est else None), fmt(sum(cpu) / len(cpu) if cpu else None)])
    return ("Component health",
            ["Component", "PID", "Samples", "Start RSS (MB)", "End RSS (MB)", "RSS slope 2nd half (MB/h)",
             "Start FDs", "End FDs", "FD slope 2nd half (/h)", "Peak established", "Mean CPU %"], rows)


def tables(report: Report, *, detail_width: int | None = None) -> list[Table]:
    """Every table of the report, in order: checks, load, latency, recovery, faults, close codes."""
    s = report.summary
    out: list[Table] = [(
        "Checks",
        ["Verdict", "Check", "Observed", "Limit", "Unit", "Agents at fault", "Detail"],
        check_rows(report, detail_width=detail_width),
    )]
    out.append((
        "Load",
        ["Agents", "Sessions", "Turns", "Attempts", "Completed", "Failures", "Cut", "Stopped",
         "Output tokens/s", "Cache hits", "Store hydrates", "Cache misses", "Hit ratio"],
        [[s.agents, s.sessions, s.turns, s.turn_attempts, s.completed_turns, s.failed_turns, s.outcomes.get("cut", 0),
          s.outcomes.get("stopped", 0), fmt(s.output_tokens_per_s), s.cache["hit"], s.cache["store"],
          s.cache["miss"], _pct(s.cache_hit_ratio)]],
    ))
    recon = Dist.of_values(s.reconnect_times_ms)
    recon_clear = Dist.of_values(s.clear_reconnect_times_ms)
    attempts = Dist.of_values(float(d.attempts) for d in s.disconnects if d.attempts is not None)
    detect = Dist.of_values(d.silent_ms for d in s.half_open)  # type: ignore[misc]
    out.append((
        "Latency",
        ["Metric", "Unit", "Count", "p50", "p95", "p99", "Max"],
        [
            _dist_row("TTFT", s.ttft_ms, "ms"),
            _dist_row("Turn latency", s.latency_ms, "ms"),
            _dist_row("Inter-token gap (turn p50)", s.gap_p50_ms, "ms"),
            _dist_row("Inter-token gap (turn p99)", s.gap_p99_ms, "ms"),
            _dist_row("Output tokens/s (per turn)", s.tokens_per_s, "tok/s"),
            _dist_row("Time to reconnect", recon, "ms"),
            _dist_row("  after the fault cleared", recon_clear, "ms"),
            _dist_row("Attempts per recovery", attempts, "attempts"),
            _dist_row("Half-open detection", detect, "ms"),
        ],
    ))
    modes = s.recovery_modes
    reconnected = sum(1 for d in s.disconnects if d.ended == "reconnected")
    out.append((
        "State-cache recovery",
        ["Reconnects", "Cache hit", "Store hydrate", "Full resend", "New conversation", "Failed", "No turn after",
         "Digest mismatches", "Lost turns", "Duplicated turns"],
        [[reconnected, modes.get("cache_hit", 0), modes.get("store_hydrate", 0), modes.get("full_resend", 0),
          modes.get("new_conversation", 0), modes.get("failed", 0), max(0, reconnected - sum(modes.values())),
          s.integrity.digest_mismatches.count if s.integrity.digests_compared else "n/a (no digests)",
          s.integrity.lost_turns.count, s.integrity.duplicated_turns.count]],
    ))
    out.append((
        "Recovery per fault",
        ["Fault", "Type", "Window (s)", "Disconnects", "Reconnects", "Peak reconnects/s", "Spread p10-p90 (s)",
         "1st attempt p50 (ms)", "Baseline p95 lat/TTFT (ms)", "During p95 lat/TTFT (ms)", "Back after (s)",
         "Hit ratio before/during/after"],
        [[r.fault, r.type, f"{r.start:.1f}–{r.end:.1f}", r.disconnects, r.reconnects, r.peak_reconnects_per_s,
          fmt(r.reconnect_spread_s), fmt(r.first_attempt_ms.p50),
          f"{fmt(r.baseline_latency_p95_ms)} / {fmt(r.baseline_ttft_p95_ms)}",
          f"{fmt(r.during_latency_p95_ms)} / {fmt(r.during_ttft_p95_ms)}",
          fmt(r.recovered_after_s) if r.status == "recovered" else r.status.replace("_", " "),
          f"{_pct(r.hit_ratio_before)} / {_pct(r.hit_ratio_during)} / {_pct(r.hit_ratio_after)}"]
         for r in report.recoveries],
    ))
    bad, _, _ = unrecovered(s, report.thresholds)
    out.append((
        "Disconnects by fault",
        ["Fault", "Disconnects", "Reconnected", "Gave up", "Agent stopped", "Nothing followed"],
        [[f, sum(c.values()), c["reconnected"], c["gave_up"], c["agent_stopped"], c["run_ended"]]
         for f, c in s.disconnects_by_fault.items()],
    ))
    out.append((
        "Close codes by side",
        ["Closed by", "Code", "Count"],
        [[side, "-" if code is None else code, n] for (side, code), n in s.close_codes.items()],
    ))
    out.append(health_table(report))
    if s.connect_failures:
        out.append(("Connect failures", ["Error", "Count"], [[k, v] for k, v in s.connect_failures.items()]))
    if bad:
        out.append(("Agents that never recovered", ["Agent"], [[a] for a in bad]))
    return out
