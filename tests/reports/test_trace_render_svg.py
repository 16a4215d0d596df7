"""reports.trace.render_svg: what an agent's lane and the connections lane draw, and that they stay small."""

from __future__ import annotations

import dataclasses
import re

from reports.report import build_report
from reports.trace.model import AgentTrace, Turn
from reports.trace.render_svg import WIDTH, Scale, agent_svg, connections_svg, lane_id


def titles(svg: str) -> list[str]:
    return re.findall(r"<title>(.*?)</title>", svg)


def lane(report, agent):
    (trace,) = [t for t in report.traces if t.agent == agent]
    return agent_svg(trace, Scale.of(report.summary, report.traces))


def test_an_unrecovered_agents_lane_shows_its_disconnect_the_fault_and_no_connection_after(make_run):
    report = build_report(make_run(give_up=("a1-3",)))
    svg = lane(report, "a1-3")
    assert svg.startswith("<svg") and "<script" not in svg
    tips = titles(svg)
    (drop,) = [t for t in tips if "disconnect" in t]
    assert drop.startswith("+40.06 s: disconnect 1006 by network (eof); gave_up; during drop-all#0")
    assert any(t.startswith("drop-all#0 (down, share 100%): +40.00 … +45.00 s") for t in tips)
    assert ">1006</text>" in svg  # the close code is written over the line
    (down,) = [t for t in tips if t.startswith("not connected")]
    assert down.endswith("+40.06 … +120.00 s")  # from the disconnect to the end of the run
    assert not [t for t in tips if t.startswith("reconnecting")]


def test_a_lane_shows_cut_turns_a_given_up_turn_a_reconnect_and_the_recovery(make_run):
    report = build_report(make_run(abandon=("a1-1", 30, "cut_retries_exhausted", 3)))
    tips = titles(lane(report, "a1-1"))
    assert any(t.startswith("turn cut in flight ×3: +30.") for t in tips)
    assert any(t.endswith("s1/t30 given up: cut_retries_exhausted") for t in tips)
    assert any(t.startswith("reconnecting: +40.0") for t in tips)
    assert any(t.startswith("turn completed ×") for t in tips)


def test_a_lane_has_at_most_one_shape_per_pixel_column_whatever_the_run_length():
    """An hour of turns alternating completed and error (7,200 attempts) draws no more than the width."""
    items = tuple(Turn(at=i * 0.5, end=i * 0.5 + 0.4, turn=f"x/s1/t{i}", session=1, index=i, attempt=1, conn="x/c1",
                       input_mode="incremental", outcome="completed" if i % 2 else "error", duration_ms=400.0)
                  for i in range(7200))
    trace = AgentTrace("x", 1, "r", "p", 1, 3600.0, (), items)
    svg = agent_svg(trace, Scale(3600.0))
    rects = svg.count("<rect")
    assert 0 < rects <= WIDTH and len(svg) < 300_000
    assert titles(svg)[0].startswith("turn failed or error ×")


def test_the_connections_lane_names_the_faults_and_draws_the_run(make_run):
    report = build_report(make_run())
    svg = connections_svg(report.summary, Scale.of(report.summary))
    assert ">drop-all#0</text>" in svg and 'stroke-dasharray="4 3"' in svg  # the fault, and the 4 agents line
    assert "<title>+40 s: 4 disconnect(s), 4 reconnect(s)</title>" in svg  # flat per-second count, a red bar
    (path,) = re.findall(r'<path d="([^"]+)"', svg)
    assert path.startswith("M") and path.count("V") >= 3  # up at the start, down at the fault, down at the end
    long = dataclasses.replace(report.summary, timeline=tuple(
        dataclasses.replace(report.summary.timeline[1], t=t) for t in range(20_000)))
    assert len(connections_svg(long, Scale(20_000.0))) < 60_000


def test_lane_ids_are_html_ids():
    assert lane_id("agent-0007") == "lane-agent-0007" and lane_id("a b/c") == "lane-a-b-c"
