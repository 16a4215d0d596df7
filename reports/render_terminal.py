"""The terminal summary: a headline, then tabulate tables (checks with PASS/FAIL first)."""

from __future__ import annotations

from tabulate import tabulate

from reports.headroom import CHECK as HEADROOM
from reports.headroom import NOTE
from reports.model import Report
from reports.tables import failed_text, tables

__all__ = ["render_terminal", "headline"]


def headline(report: Report) -> list[str]:
    """The lines every rendering starts with: verdict, and the partial/broken warning."""
    s = report.summary
    failed = len(report.failed)
    lines = [f"agentsoak report: {report.name} (seed {report.seed}) — {report.verdict}: "
             f"{len(report.checks) - failed} of {len(report.checks)} checks passed or skipped, {failed} failed; "
             f"{s.agents} agents, {s.duration_s:.0f} s, {s.events:,} events"]
    if report.interrupted and not report.errored:
        lines.append(f"!!! INTERRUPTED: {report.interrupted}; the checks are from a partial run !!!")
    if report.partial:
        lines.append("!!! PARTIAL RUN: " + "; ".join(report.partial_reasons) + " !!!")
    if report.broken and not report.partial:
        lines.append("!!! RUN BROKE: " + report.broken + " !!!")
    sat = next((c for c in report.failed if c.name == HEADROOM), None)
    if sat is not None:
        said = sat.detail.split(f"; {NOTE}")[0].removeprefix("load generator saturated: ")
        lines.append(f"!!! LOAD GENERATOR SATURATED ({HEADROOM} failed): {said}; {NOTE}: do not read them "
                     "as a target regression !!!")
    return lines


def render_terminal(report: Report) -> str:
    parts = headline(report)
    for i, (title, headers, rows) in enumerate(tables(report, detail_width=90)):
        if not rows:
            continue
        parts += ["", title, tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
        if i == 0 and report.failed:
            parts += ["", "Failed checks (in full, with the last events of the agents they name)", *failed_text(report)]
    if report.notes:
        parts += ["", "Notes:"] + [f"- {n}" for n in report.notes]
    return "\n".join(parts) + "\n"
