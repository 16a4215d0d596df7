"""report.md: the headline, every table (GitHub tables), notes and the thresholds used."""

from __future__ import annotations

from tabulate import tabulate

from reports.model import Report
from reports.render_terminal import headline
from reports.tables import failed_text, tables

__all__ = ["render_markdown"]


def render_markdown(report: Report) -> str:
    head = headline(report)
    parts = [f"# {head[0]}", ""]
    parts += [f"> **{line.strip('! ')}**" for line in head[1:]]
    parts += ["", f"Run directory: `{report.run_dir}` · generated {report.generated_at}"]
    for i, (title, headers, rows) in enumerate(tables(report)):
        if rows:
            parts += ["", f"## {title}", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)]
        if i == 0 and report.failed:
            parts += ["", "## Failed checks", "", "```", *failed_text(report), "```"]
    if report.notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    parts += ["", "## Thresholds", "", tabulate([[k, "-" if v is None else v] for k, v in report.thresholds.as_dict().items()],
                                                 headers=["Threshold", "Value"], tablefmt="github", disable_numparse=True)]
    return "\n".join(parts) + "\n"
