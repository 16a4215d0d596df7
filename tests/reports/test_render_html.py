from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from reports.render_html import CHART_IDS
from reports.report import SWIMLANES, build_report, write_report
from reports.trace.render_svg import lane_id
from tests.reports.builder import agent_id

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]


def test_html_is_self_contained(make_run):
    html = write_report(build_report(make_run()))["html"].read_text()
    assert not re.search(r"<script[^>]+src=", html), "no external scripts"
    assert "<link" not in html and not re.search(r'src="https?:', html)
    # plotly.js itself is inlined (its only URL is the topojson default for geo maps, which we never draw)
    inline = re.search(r'<script type="text/javascript">(.*?)</script>', html, re.S)
    assert inline and "plotly.js v" in inline.group(1)[:200] and len(inline.group(1)) > 1_000_000
    for chart in CHART_IDS:
        assert f'id="{chart}"' in html


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


def test_every_agent_named_in_a_failed_check_is_linked_to_its_swimlane(make_run):
    page = write_report(build_report(make_run(give_up=("a1-3",), lost=("a1-1", 20))))["html"].read_text()
    checks = _section(page, "<h2>Checks</h2>", "</table>")
    assert '<a href="#lane-a1-3">a1-3</a>' in checks and '<a href="#lane-a1-1">a1-1</a>' in checks
    lanes = _section(page, '<h2 id="swimlanes">', "<h2>Failed checks")
    assert lanes.count('<div class="lane" id="lane-') == 3  # the connections lane and the two agents
    assert '<div class="lane" id="lane-connections">' in lanes and ">drop-all#0</text>" in lanes
    a13 = _section(lanes, 'id="lane-a1-3"', "</svg>")
    assert "fails reconnect.unrecovered_agents" in a13 and "disconnects 1006×1" in a13 and "1 gave up" in a13
    assert "<title>+40.06 s: disconnect 1006 by network (eof); gave_up; during drop-all#0</title>" in a13
    assert '<a href="#lane-a1-3">(swimlane)</a>' in page  # the last events link back
    assert not re.search(r"<script[^>]+src=", page) and "<link" not in page


def test_a_passing_run_gets_the_connections_lane_and_no_agent_lane(make_run):
    page = write_report(build_report(make_run()))["html"].read_text()
    assert 'id="lane-connections"' in page and page.count('<div class="lane" id="lane-') == 1


def test_at_most_swimlanes_agents_get_a_lane_and_the_page_says_how_many_did_not(make_run):
    agents = SWIMLANES + 5
    report = build_report(make_run(agents=agents, duration_s=80.0, give_up=tuple(agent_id(i) for i in range(agents))))
    assert len(report.traces) == SWIMLANES and report.traces_left_out == 5
    page = write_report(report)["html"].read_text()
    assert page.count('<div class="lane" id="lane-a1-') == SWIMLANES
    assert f"5 more agent(s) named in failed checks have no swimlane here (at most {SWIMLANES} are drawn)" in page
    named = report.failed[0].agents
    assert all(f'id="{lane_id(a)}"' in page for a in named[:SWIMLANES])  # in the order the check names them
    assert not any(f'id="{lane_id(a)}"' in page for a in named[SWIMLANES:])
    lanes = _section(page, '<h2 id="swimlanes">', "<h2>Failed checks")
    assert len(lanes) < 400_000  # bounded: at most one shape per pixel column and row per lane


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _png_pixels_vary(png: bytes) -> bool:
    """True when the PNG's decoded image data is not one flat colour (a blank page compresses to nothing)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        if png[pos + 4:pos + 8] == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[: 4_000_000])) > 20


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (/usr/bin/chromium); CI installs it")
def test_html_renders_four_charts_in_headless_chromium(make_run, tmp_path):
    report = build_report(make_run(never_reconnect=("a1-1",)))
    html_path = write_report(report)["html"]
    url = html_path.resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    # each chart div was drawn by plotly.js: it holds its own .main-svg, traces and the shaded fault window
    starts = [dom.index(f'id="{c}"') for c in CHART_IDS]
    for i, chart in enumerate(CHART_IDS):
        section = dom[starts[i]: starts[i + 1] if i + 1 < len(starts) else len(dom)]
        assert 'class="main-svg"' in section, f"{chart} was not drawn"
        assert re.search(r'class="(scatterlayer|barlayer)', section), f"{chart} has no traces"
        assert 'class="shapelayer"' in section and "<path" in section, f"{chart} lacks the fault shading"
    assert "reconnect.unrecovered_agents" in dom and "a1-1" in dom
    assert 'id="lane-a1-1"' in dom and 'aria-label="a1-1 swimlane"' in dom  # the inline SVG swimlane
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", url)
    assert shot.is_file() and shot.stat().st_size > 50_000
    assert _png_pixels_vary(shot.read_bytes())
