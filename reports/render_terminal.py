"""The terminal summary: a headline, then tabulate tables (checks with PASS/FAIL first)."""

from __future__ import annotations

from tabulate import tabulate

from reports.model import Report
from reports.tables import tables

__all__ = ["render_terminal", "headline"]


def headline(report: Report) -> list[str]:
    """The lines every rendering starts with: verdict, and the partial/broken warning."""
    s = report.summary
    failed = len(report.failed)
    lines = [f"agentsoak report: {report.name} (seed {report.seed}) — {report.verdict}: "
             f"{len(report.checks) - failed} of {len(report.checks)} checks passed or skipped, {failed} failed; "
             f"{s.agents} agents, {s.duration_s:.0f} s, {s.events:,} events"]
    if report.partial:
        lines.append("!!! PARTIAL RUN: " + "; ".join(report.partial_reasons) + " !!!")
    if report.broken and not report.partial:
        lines.append("!!! RUN BROKE: " + report.broken + " !!!")
    return lines


def render_terminal(report: Report) -> str:
    parts = headline(report)
    for title, headers, rows in tables(report, detail_width=90):
        if not rows:
            continue
        parts += ["", title, tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    if report.notes:
        parts += ["", "Notes:"] + [f"- {n}" for n in report.notes]
    return "\n".join(parts) + "\n"
