"""Swimlanes as inline SVG (no script, no external file): one agent's lane, and the run's connections lane.

Every lane of a report shares one time axis (``Scale``: seconds since the test start -> pixels) so
they line up. Size is bounded by the width, never by the run's length: a lane paints its turns and
connection states into pixel columns (the most severe state of a column wins; equal neighbouring
columns merge into one rectangle) and keeps at most one marker per column, so an hour-long soak
draws no more elements than a 20-second run with an event every pixel.

An agent's lane: connection state (connected, reconnecting, not connected), turn attempts by
outcome, disconnects (a line with the close code), failed connect attempts (ticks), recoveries
(diamonds by mode), given-up turns (crosses), with the fault windows shaded; every shape has a
``<title>`` tooltip. The connections lane: agents connected per second (the min and max of each
pixel column when a column holds several seconds), disconnects per second as red bars (a drop and
its reconnects within one second leave the per-second count flat: the bar still shows it), the
run's agent count, the fault windows named.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reports.summary import FaultWindow, RunSummary
from reports.trace.model import (
    INSTANT_S,
    Abandon,
    AgentTrace,
    Connect,
    Disconnect,
    Recovery,
    Turn,
    short_turn,
)

__all__ = ["COLORS", "WIDTH", "Scale", "agent_svg", "connections_svg", "lane_id", "legend_items"]

WIDTH = 1200
LEFT, RIGHT = 70, 16
FAULT_FILL = "rgba(214,39,40,0.13)"
#: (state, colour, what it means), most severe last within each row
TURN_STATES = (("completed", "#6cc070", "turn completed"), ("stopped", "#bdbdbd", "turn stopped (agent stopping)"),
               ("never_ended", "#8c8c8c", "turn never ended"), ("cut", "#ff9f1c", "turn cut in flight"),
               ("error", "#d62728", "turn failed or error"), ("mismatch", "#8e44ad", "digest mismatch"))
CONN_STATES = (("connected", "#4a90d9", "connected"), ("reconnecting", "#ffd166", "reconnecting"),
               ("down", "#b22222", "not connected (gave up / never reconnected)"))
MODE_COLORS = {"cache_hit": "#2ca02c", "store_hydrate": "#1f77b4", "full_resend": "#ff7f0e", "failed": "#d62728",
               "new_conversation": "#9467bd"}
COLORS = {name: colour for name, colour, _ in TURN_STATES + CONN_STATES}
_TURN_RANK = {name: i for i, (name, _, _) in enumerate(TURN_STATES)}
_CONN_RANK = {name: i for i, (name, _, _) in enumerate(CONN_STATES)}
_FONT = 'font-family="system-ui, sans-serif"'


def lane_id(agent: str) -> str:
    """The HTML id of an agent's lane (the checks table links to it)."""
    return "lane-" + re.sub(r"[^A-Za-z0-9_-]", "-", agent)


def legend_items() -> list[tuple[str, str]]:
    """(colour, meaning) of every colour the lanes use."""
    return ([(c, m) for _, c, m in CONN_STATES] + [(c, m) for _, c, m in TURN_STATES]
            + [(c, f"recovery: {m.replace('_', ' ')}") for m, c in MODE_COLORS.items()]
            + [("#d62728", "disconnect (close code on top; per second in the connections lane)"),
               (FAULT_FILL, "fault window")])


@dataclass(frozen=True)
class Scale:
    """Seconds since the test start -> x pixels over ``[0, span]`` (earlier times clamp to 0)."""

    span: float
    width: int = WIDTH

    @classmethod
    def of(cls, summary: RunSummary, traces: Iterable[AgentTrace] = ()) -> Scale:
        ends = [summary.duration_s, *(f.end for f in summary.applied_faults), *(t.last_at for t in traces)]
        return cls(max(1.0, *ends))

    @property
    def plot(self) -> int:
        return self.width - LEFT - RIGHT

    def x(self, t: float) -> float:
        return LEFT + min(max(t, 0.0), self.span) / self.span * self.plot

    def col(self, t: float) -> int:
        return min(int(self.x(t) - LEFT), self.plot - 1)

    def ticks(self) -> list[float]:
        step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
                     if self.span / s <= 12), 10 ** math.ceil(math.log10(self.span)))
        return [i * step for i in range(int(self.span // step) + 1)]


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _title(text: str) -> str:
    return f"<title>{_esc(text)}</title>"


def _axis(scale: Scale, y: float, top: float) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + scale.plot}" y2="{y}" stroke="#999" stroke-width="1"/>']
    for t in scale.ticks():
        x = scale.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y}" stroke="#eee" stroke-width="1"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 12}" font-size="10" text-anchor="middle" fill="#555" {_FONT}>'
                   f"{t:g} s</text>")
    return out


def _faults(scale: Scale, faults: Sequence[FaultWindow], top: float, bottom: float, *, names: bool) -> list[str]:
    out: list[str] = []
    last_label = -1e9
    for f in faults:
        x0 = scale.x(f.start)
        x1 = max(scale.x(max(f.end, f.start + INSTANT_S)), x0 + 2)
        share = f", share {f.share:.0%}" if f.share is not None else ""
        tip = _title(f"{f.fault} ({f.type}{share}): {f.start:+.2f} … {f.end:+.2f} s")
        out.append(f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{bottom - top}" '
                   f'fill="{FAULT_FILL}">{tip}</rect>')
        if names and x0 - last_label >= 70:
            out.append(f'<text x="{x0 + 2:.1f}" y="{top + 10}" font-size="10" fill="#a50e0e" {_FONT}>'
                       f"{_esc(f.fault)}</text>")
            last_label = x0
    return out


@dataclass
class _Column:
    state: str
    first: float
    last: float
    items: set[int] = field(default_factory=set)


class _Row:
    """One row of a lane painted into pixel columns; ``rects`` merges equal neighbouring columns."""

    def __init__(self, scale: Scale, rank: dict[str, int]) -> None:
        self.scale, self.rank = scale, rank
        self.cols: dict[int, _Column] = {}

    def paint(self, t0: float, t1: float, state: str, item: int) -> None:
        for c in range(self.scale.col(t0), self.scale.col(max(t0, t1)) + 1):
            cur = self.cols.get(c)
            if cur is None or self.rank[state] > self.rank[cur.state]:
                self.cols[c] = _Column(state, t0, t1, {item})
            elif cur.state == state:
                cur.first, cur.last = min(cur.first, t0), max(cur.last, t1)
                cur.items.add(item)

    def runs(self) -> list[tuple[int, int, _Column]]:
        """(first column, last column, merged column) per run of equal state."""
        out: list[tuple[int, int, _Column]] = []
        for c in sorted(self.cols):
            col = self.cols[c]
            if out and out[-1][1] == c - 1 and out[-1][2].state == col.state:
                start, _, merged = out[-1]
                merged.first, merged.last = min(merged.first, col.first), max(merged.last, col.last)
                merged.items |= col.items
                out[-1] = (start, c, merged)
            else:
                out.append((c, c, _Column(col.state, col.first, col.last, set(col.items))))
        return out

    def rects(self, y: float, h: float, say: dict[str, str]) -> list[str]:
        out = []
        for c0, c1, col in self.runs():
            n = len(col.items)
            what = say[col.state] + (f" ×{n}" if n > 1 else "")
            out.append(f'<rect x="{LEFT + c0}" y="{y}" width="{c1 - c0 + 1}" height="{h}" fill="{COLORS[col.state]}">'
                       f"{_title(f'{what}: {col.first:+.2f} … {col.last:+.2f} s')}</rect>")
        return out


def _turn_state(t: Turn) -> str:
    if t.digest_mismatch:
        return "mismatch"
    if t.outcome in ("completed", "incomplete"):
        return "completed"
    if t.outcome in ("failed", "error"):
        return "error"
    return "never_ended" if t.outcome is None else str(t.outcome)


def _marks(scale: Scale, at: Iterable[tuple[float, str]]) -> list[tuple[float, str, int]]:
    """At most one mark per pixel column: (time, tooltip, how many fell in that column)."""
    cols: dict[int, list[tuple[float, str]]] = {}
    for t, tip in at:
        cols.setdefault(scale.col(t), []).append((t, tip))
    return [(v[0][0], v[0][1], len(v)) for _, v in sorted(cols.items())]


def _more(n: int) -> str:
    return f" (+{n - 1} more in this pixel)" if n > 1 else ""


def agent_svg(trace: AgentTrace, scale: Scale) -> str:
    """One agent's lane."""
    top, conn_y, turn_y, mark_y, bottom = 16, 20, 38, 62, 72
    conn, turns = _Row(scale, _CONN_RANK), _Row(scale, _TURN_RANK)
    connected_from: float | None = None
    pending: Disconnect | None = None
    end = max(trace.last_at, trace.duration_s)
    for n, item in enumerate(trace.items):
        if isinstance(item, Turn):
            turns.paint(item.at, item.end, _turn_state(item), n)
        elif isinstance(item, Connect) and item.outcome == "connected":
            if pending is not None:
                conn.paint(pending.at, item.end, "reconnecting" if pending.ended == "reconnected" else "down", n)
                pending = None
            connected_from = item.end
        elif isinstance(item, Disconnect):
            if connected_from is not None:
                conn.paint(connected_from, item.at, "connected", n)
                connected_from = None
            pending = item
    if connected_from is not None:
        conn.paint(connected_from, end, "connected", len(trace.items))
    if pending is not None and pending.ended in ("gave_up", "run_ended"):
        conn.paint(pending.at, end, "down", len(trace.items))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{scale.width}" height="{bottom + 16}" '
           f'viewBox="0 0 {scale.width} {bottom + 16}" role="img" aria-label="{_esc(trace.agent)} swimlane">']
    out += _axis(scale, bottom, top)
    out += _faults(scale, trace.faults, top, bottom, names=False)
    for label, y in (("conn", conn_y + 9), ("turns", turn_y + 12)):
        out.append(f'<text x="{LEFT - 6}" y="{y}" font-size="10" text-anchor="end" fill="#555" {_FONT}>{label}</text>')
    out += conn.rects(conn_y, 10, {s: m for s, _, m in CONN_STATES})
    out += turns.rects(turn_y, 16, {s: m for s, _, m in TURN_STATES})
    agent = trace.agent
    fails = [(a.at, f"attempt {a.attempt} failed: {(a.error or '')[:60]}")
             for c in trace.items if isinstance(c, Connect) for a in c.attempts if a.ok is False]
    for t, tip, n in _marks(scale, fails):
        x = scale.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{conn_y - 3}" x2="{x:.1f}" y2="{conn_y + 13}" stroke="#b22222" '
                   f'stroke-width="1.5">{_title(f"{t:+.2f} s: {tip}{_more(n)}")}</line>')
    recs = [(r.at, r.mode) for r in trace.items if isinstance(r, Recovery)]
    for t, mode, n in _marks(scale, recs):
        x = scale.x(t)
        out.append(f'<path d="M{x:.1f} {mark_y - 5}l5 5l-5 5l-5 -5z" fill="{MODE_COLORS.get(mode, "#555")}">'
                   f'{_title(f"{t:+.2f} s: recovery {mode}{_more(n)}")}</path>')
    gone = [(a.at, f"{short_turn(agent, a.turn)} given up: {a.cause}") for a in trace.items if isinstance(a, Abandon)]
    for t, tip, n in _marks(scale, gone):
        x = scale.x(t)
        out.append(f'<path d="M{x - 4:.1f} {mark_y - 4}l8 8m0 -8l-8 8" stroke="#7f0000" stroke-width="2">'
                   f'{_title(f"{t:+.2f} s: {tip}{_more(n)}")}</path>')
    drops = [(d.at, d) for d in trace.items if isinstance(d, Disconnect)]
    last_label = -1e9
    for t, d, n in _marks(scale, drops):
        x = scale.x(t)
        code = "-" if d.code is None else str(d.code)
        why = f"{t:+.2f} s: disconnect {code} by {d.closed_by} ({d.detected}); {d.ended or ''}"
        if d.faults:
            why += f"; during {', '.join(d.faults)}"
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#d62728" stroke-width="1.5">'
                   f"{_title(why + _more(n))}</line>")
        if x - last_label >= 26:
            out.append(f'<text x="{x:.1f}" y="{top - 3}" font-size="9" text-anchor="middle" fill="#d62728" {_FONT}>'
                       f"{code}{'×' + str(n) if n > 1 else ''}</text>")
            last_label = x
    out.append("</svg>")
    return "\n".join(out)


def connections_svg(summary: RunSummary, scale: Scale) -> str:
    """Agents connected over the whole run, with the fault windows shaded and named."""
    top, bottom = 14, 120
    users = summary.run.users or 0
    peak = max([users, *(s.connected for s in summary.timeline)], default=0) or 1
    h = bottom - top - 12

    def y(v: float) -> float:
        return bottom - v / peak * h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{scale.width}" height="{bottom + 16}" '
           f'viewBox="0 0 {scale.width} {bottom + 16}" role="img" aria-label="agents connected over time">']
    out += _axis(scale, bottom, top)
    out += _faults(scale, summary.applied_faults, top, bottom, names=True)
    for v in sorted({0, peak // 2, peak}):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 3:.1f}" font-size="10" text-anchor="end" fill="#555" {_FONT}>'
                   f"{v}</text>")
    if users:
        out.append(f'<line x1="{LEFT}" y1="{y(users):.1f}" x2="{LEFT + scale.plot}" y2="{y(users):.1f}" '
                   f'stroke="#999" stroke-dasharray="4 3">{_title(f"{users} agents in the run")}</line>')
    drops: dict[int, list[int]] = {}  # pixel column -> [disconnects, reconnects, first second]
    for sec in summary.timeline:
        if sec.disconnects:
            d = drops.setdefault(scale.col(sec.t), [0, 0, sec.t])
            d[0] += sec.disconnects
            d[1] += sec.reconnects
    bar = max(2.0, scale.plot / scale.span)  # a second wide, at least 2 px
    for c in sorted(drops):
        n, back, t = drops[c]
        tip = f"{t:+d} s: {n} disconnect(s), {back} reconnect(s)"
        out.append(f'<rect x="{LEFT + c}" y="{y(n):.1f}" width="{bar:.1f}" height="{bottom - y(n):.1f}" '
                   f'fill="rgba(214,39,40,0.55)">{_title(tip)}</rect>')
    cols: dict[int, tuple[int, int]] = {}  # pixel column -> (min, max) connected of its seconds
    for sec in summary.timeline:
        c = scale.col(sec.t)
        lo, hi = cols.get(c, (sec.connected, sec.connected))
        cols[c] = (min(lo, sec.connected), max(hi, sec.connected))
    path: list[str] = []
    for c in sorted(cols):  # a step line: across at the last value, then up or down to this column's
        lo, hi = cols[c]
        path.append(f"H{LEFT + c}V{y(hi):.1f}" if path else f"M{LEFT + c} {y(hi):.1f}")
        if lo != hi:
            path.append(f"V{y(lo):.1f}V{y(hi):.1f}")
    if path:
        path.append(f"H{scale.x(summary.timeline[-1].t + 1):.1f}")
        out.append(f'<path d="{"".join(path)}" fill="none" stroke="#1f77b4" stroke-width="1.5">'
                   f"{_title('agents connected (per second; a pixel holding several seconds spans their min and max)')}"
                   "</path>")
    out.append("</svg>")
    return "\n".join(out)
