"""report.html: one self-contained page (plotly.js inlined once, no network) with four charts and swimlanes.

Swimlanes (``reports.trace.render_svg``, inline SVG): agents connected over the whole run, then one
lane per agent named in a failed check (at most ``SWIMLANES``; the page says how many were left
out), each linked from the checks table.

Charts: agents connected over time, turn latency and TTFT p50/p95 per second, reconnects per
second, and recovery modes over time, then (when the ledger has health samples) each component's
RSS and open FDs over time; every chart shades the fault windows. Plotly is used
because it is already a declared dependency (no matplotlib needed), and a soak run's
per-second series (an hour is 3,600 points per line) want zoom and hover to investigate, which a
static image cannot give. The cost is ~4.8 MB of inlined JavaScript per report.
"""

from __future__ import annotations

import html
import re
from typing import Any

from tabulate import tabulate

from reports.ledger.schema import RecoveryMode
from reports.model import Report
from reports.render_terminal import headline
from reports.tables import AGENTS_SHOWN, failed_details, tables
from reports.trace.render_svg import Scale, agent_svg, connections_svg, lane_id, legend_items

__all__ = ["render_html", "CHART_IDS", "HEALTH_CHART_IDS"]

CHART_IDS = ("chart-connected", "chart-latency", "chart-reconnects", "chart-recovery")
#: drawn when the ledger has component health samples (loadtests/health.py)
HEALTH_CHART_IDS = ("chart-health-rss", "chart-health-fds")
_FAULT_FILL = "rgba(214, 39, 40, 0.12)"
_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.banner { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 8px 0; }
.PASS { background: #e6f4ea; color: #137333; } .FAIL { background: #fce8e6; color: #a50e0e; }
.BROKEN, .INTERRUPTED, .partial { background: #fef7e0; color: #8a4b00; border: 2px solid #f29900; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.v-FAIL { background: #fce8e6; color: #a50e0e; font-weight: 700; }
td.v-PASS { color: #137333; font-weight: 700; } td.v-SKIP { color: #777; }
.chart { width: 100%; height: 360px; margin-bottom: 12px; }
.notes li { margin: 4px 0; }
.lane { margin: 4px 0 10px; } .lane h3 { font-size: 0.95em; margin: 10px 0 2px; }
.lane h3 .facts { font-weight: 400; color: #555; } .lane svg { display: block; max-width: 100%; height: auto; }
.legend { font-size: 0.8em; color: #444; } .legend .item { white-space: nowrap; }
.legend span.sw { display: inline-block; width: 12px; height: 10px; margin: 0 3px 0 10px; vertical-align: middle;
  border: 1px solid #ccc; }
"""


def _shapes(report: Report) -> list[dict[str, Any]]:
    return [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": f.start, "x1": max(f.end, f.start + 0.5),
         "y0": 0, "y1": 1, "fillcolor": _FAULT_FILL, "line": {"width": 0}, "layer": "below"}
        for f in report.summary.applied_faults
    ]


def _annotations(report: Report) -> list[dict[str, Any]]:
    return [
        {"x": f.start, "y": 1, "xref": "x", "yref": "paper", "text": html.escape(f.fault), "showarrow": False,
         "xanchor": "left", "yanchor": "top", "font": {"size": 10, "color": "#a50e0e"}}
        for f in report.summary.applied_faults
    ]


def _figure(report: Report, title: str, data: list[dict[str, Any]], ytitle: str, **layout: Any) -> dict[str, Any]:
    return {
        "data": data,
        "layout": {
            "title": {"text": title},
            "xaxis": {"title": {"text": "seconds since test start"}, "gridcolor": "#eee", "zeroline": False},
            "yaxis": {"title": {"text": ytitle}, "rangemode": "tozero", "gridcolor": "#eee"},
            "shapes": _shapes(report),
            "annotations": _annotations(report),
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
            "legend": {"orientation": "h", "y": -0.2},
            "plot_bgcolor": "white",
            **layout,
        },
    }


def _figures(report: Report) -> list[dict[str, Any]]:
    tl = report.summary.timeline
    t = [s.t for s in tl]

    def q(attr: str, p: float) -> list[float | None]:
        return [getattr(s, attr).quantile(p) for s in tl]

    modes = ("cache hit", "store hydrate", "full resend", "failed", "new conversation")
    colors = ("#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd")
    return [
        _figure(report, "Agents connected (fault windows shaded)",
                [{"type": "scatter", "mode": "lines", "x": t, "y": [s.connected for s in tl], "name": "connected",
                  "line": {"shape": "hv"}}], "agents"),
        _figure(report, "Turn latency and TTFT per second",
                [{"type": "scatter", "mode": "lines", "x": t, "y": q("latency", 0.5), "name": "turn latency p50"},
                 {"type": "scatter", "mode": "lines", "x": t, "y": q("latency", 0.95), "name": "turn latency p95"},
                 {"type": "scatter", "mode": "lines", "x": t, "y": q("ttft", 0.5), "name": "TTFT p50"},
                 {"type": "scatter", "mode": "lines", "x": t, "y": q("ttft", 0.95), "name": "TTFT p95"}], "ms"),
        _figure(report, "Reconnects and disconnects per second",
                [{"type": "bar", "x": t, "y": [s.reconnects for s in tl], "name": "reconnects"},
                 {"type": "bar", "x": t, "y": [s.disconnects for s in tl], "name": "disconnects",
                  "marker": {"color": "#d62728"}, "opacity": 0.6}], "per second", barmode="group"),
        _figure(report, "Recovery modes over time",
                [{"type": "bar", "x": t, "y": [s.recoveries.of(mode) for s in tl], "name": m, "marker": {"color": c}}
                 for mode, m, c in zip(RecoveryMode, modes, colors, strict=True)], "recoveries per second",
                barmode="stack"),
    ]


def _health_figures(report: Report) -> list[dict[str, Any]]:
    """RSS and open FDs over time, one line per component."""
    health = report.summary.health.values()
    return [
        _figure(report, "Component RSS over time (fault windows shaded)",
                [{"type": "scatter", "mode": "lines", "x": list(c.t), "y": [v / 1e6 for v in c.rss_bytes],
                  "name": c.component} for c in health], "MB"),
        _figure(report, "Component open file descriptors over time",
                [{"type": "scatter", "mode": "lines", "x": list(c.t), "y": list(c.fds), "name": c.component}
                 for c in health], "FDs"),
    ]


def _table_html(headers: list[str], rows: list[list[Any]], *, verdict_col: bool = False) -> str:
    out = tabulate(rows, headers=headers, tablefmt="html", disable_numparse=True)
    if verdict_col:  # colour the verdict cells (tabulate pads cell text to the column width)
        out = re.sub(r"<td>(PASS|FAIL|SKIP)\s*</td>", r'<td class="v-\1">\1</td>', out)
    return out


def _anchor(check: str, agent: str) -> str:
    return "trail-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{check}-{agent}")


def _agent_link(check: str, agent: str, lanes: set[str], linked: set[tuple[str, str]]) -> str:
    """An agent of the checks table: linked to its swimlane, else to its last events, else plain."""
    if agent in lanes:
        return f'<a href="#{lane_id(agent)}">{html.escape(agent)}</a>'
    if (check, agent) in linked:
        return f'<a href="#{_anchor(check, agent)}">{html.escape(agent)}</a>'
    return html.escape(agent)


def _checks_html(report: Report, headers: list[str], rows: list[list[Any]]) -> str:
    """The checks table, its named agents linked to their swimlanes (or their last events) below."""
    linked = {(t.check, t.focus.agent) for t in report.trails}
    lanes = {t.agent for t in report.traces}
    cells = []
    for c, row in zip(report.checks, rows, strict=True):
        row = [html.escape(str(v)) for v in row]
        agents = [_agent_link(c.name, a, lanes, linked) for a in c.agents[:AGENTS_SHOWN]]
        more = f" (+{len(c.agents) - AGENTS_SHOWN} more)" if len(c.agents) > AGENTS_SHOWN else ""
        row[5] = ", ".join(agents) + more
        cells.append(row)
    out = tabulate(cells, headers=headers, tablefmt="unsafehtml", disable_numparse=True)
    return re.sub(r"<td>(PASS|FAIL|SKIP)\s*</td>", r'<td class="v-\1">\1</td>', out)


def _lane_facts(t: Any) -> str:
    n = t.totals()
    codes = ", ".join(f"{code}×{k}" for code, k in n["disconnects"].items()) or "none"
    outcomes = ", ".join(f"{k} {v}" for k, v in n["outcomes"].items()) or "none"
    reconnects = f"{n['reconnects']} reconnect" + ("" if n["reconnects"] == 1 else "s")
    return (f"{n['turn_attempts']} turn attempts ({outcomes}); disconnects {codes}; {reconnects}"
            + (f", {n['gave_up']} gave up" if n["gave_up"] else "")
            + (f"; faults hit: {', '.join(t.faults_hit)}" if t.faults_hit else ""))


def _swimlanes_html(report: Report) -> list[str]:
    """The connections lane for the whole run, then a lane per agent named in a failed check."""
    scale = Scale.of(report.summary, report.traces)
    legend = " ".join(f'<span class="item"><span class="sw" style="background:{c}"></span>{html.escape(m)}</span>'
                      for c, m in legend_items())
    body = ['<h2 id="swimlanes">Swimlanes (seconds since the test start; hover for details)</h2>',
            '<div class="lane" id="lane-connections"><h3>Agents connected, whole run '
            '<span class="facts">(fault windows shaded and named)</span></h3>',
            connections_svg(report.summary, scale), "</div>"]
    body.append(f'<p class="legend">{legend}</p>')
    trails = {(t.check, t.focus.agent) for t in report.trails}
    for t in report.traces:
        links = " ".join(f'<a href="#{_anchor(c, t.agent)}">last events ({html.escape(c)})</a>'
                         for c in t.failed_checks if (c, t.agent) in trails)
        body.append(f'<div class="lane" id="{lane_id(t.agent)}"><h3>{html.escape(t.agent)} '
                    f'<span class="facts">— fails {html.escape(", ".join(t.failed_checks))}; '
                    f"{html.escape(_lane_facts(t))}</span> {links}</h3>")
        body += [agent_svg(t, scale), "</div>"]
    if report.traces_left_out:
        body.append(f"<p>{report.traces_left_out} more agent(s) named in failed checks have no swimlane here (at most "
                    f"{len(report.traces)} are drawn); <code>agentsoak trace RUN AGENT</code> shows any agent's "
                    "timeline.</p>")
    return body


def _trails_html(report: Report) -> list[str]:
    body = ["<h2>Failed checks: the last events of the agents they name</h2>"]
    lanes = {t.agent for t in report.traces}
    for c, trails in failed_details(report, agents=None):
        body.append(f"<h3>{html.escape(c.name)}</h3><p>{html.escape(c.detail)}</p>")
        for t in trails:
            lane = (f' <a href="#{lane_id(t.focus.agent)}">(swimlane)</a>' if t.focus.agent in lanes else "")
            body.append(f'<h4 id="{_anchor(c.name, t.focus.agent)}">{html.escape(t.focus.agent)}, '
                        f"{html.escape(t.anchor)}{lane}</h4>")
            body.append(_table_html(["Time (s since start)", "Event", "What happened"],
                                    [[f"{e.at:.2f}", e.kind, e.text] for e in t.events]))
    return body


def render_html(report: Report) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    head = headline(report)
    body = [f"<h1>{html.escape(head[0])}</h1>", f'<div class="banner {report.verdict}">{report.verdict}</div>']
    for line in head[1:]:
        body.append(f'<div class="banner partial">{html.escape(line)}</div>')
    body.append(f"<p>Run directory: <code>{html.escape(str(report.run_dir))}</code> · generated "
                f"{html.escape(report.generated_at)}</p>")
    all_tables = tables(report)
    title, headers, rows = all_tables[0]
    body += [f"<h2>{title}</h2>", _checks_html(report, headers, rows)]
    body += _swimlanes_html(report)
    if report.failed:
        body += _trails_html(report)
    body.append("<h2>Charts</h2>")
    config = {"displaylogo": False, "responsive": True}
    charts = list(zip(CHART_IDS, _figures(report), strict=True))
    if report.summary.health:
        charts += list(zip(HEALTH_CHART_IDS, _health_figures(report), strict=True))
    for div_id, fig in charts:
        body.append(f'<div class="chart-wrap" id="{div_id}-wrap">')
        body.append(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=config,
                                validate=False, default_height="360px"))
        body.append("</div>")
    for title, headers, rows in all_tables[1:]:
        if rows:
            body += [f"<h2>{html.escape(title)}</h2>", _table_html(headers, rows)]
    if report.notes:
        body.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
                    + "</ul>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>agentsoak report: {html.escape(report.name)} — {report.verdict}</title>"
        f"<style>{_CSS}</style><script type=\"text/javascript\">{get_plotlyjs()}</script></head>"
        "<body>" + "\n".join(body) + "</body></html>\n"
    )
