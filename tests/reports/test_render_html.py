from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from reports.render_html import CHART_IDS
from reports.report import build_report, write_report

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
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", url)
    assert shot.is_file() and shot.stat().st_size > 50_000
    assert _png_pixels_vary(shot.read_bytes())
