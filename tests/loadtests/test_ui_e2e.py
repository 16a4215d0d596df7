"""``agentsoak ui smoke`` end to end in headless Chromium (Debian's chromium through /usr/bin/chromedriver).

Once with one Locust process and once with ``--processes 2``: start a swarm from Locust's own form, open
the Agents tab, drop every connection from the Faults tab, see agents reconnecting and then all of them
connected again, add and remove a latency toxic, stop, and read PASS on the page. Screenshots go to
``tmp_path`` (and to ``$AGENTSOAK_UI_SCREENSHOTS`` when set: the README's come from there).

Short: 10 agents for about 15 s. The first reconnect waits about 1 s (within the 2 s p50 limit) and the
Faults tab shows the agents' states (polled every 250 ms) next to
the buttons, so the drop's reconnecting agents are seen there; the Agents tab then shows all recovered.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.loopback import free_port
from reports.ledger import iter_ledger
from tests.timing import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AGENTS = 10

selenium = pytest.importorskip("selenium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="chromium and chromium-driver are not installed; CI installs them"),
]

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module", params=[1, 2], ids=["processes-1", "processes-2"])
def ui(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, int]]:
    out = tmp_path_factory.mktemp(f"ui-p{request.param}")
    port = free_port()
    cmd = [sys.executable, "-m", "loadtests.cli", "ui", "smoke", "--web-port", str(port), "-u", str(AGENTS),
           "-r", str(AGENTS), "-t", "60s", "--processes", str(request.param), "--output-dir", str(out / "runs"),
           "--set", "agent.reconnect.base_delay=1s"]
    log = open(out / "ui.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or _up(base + "/agentsoak/gauges"), 60,
                   interval=0.2, message="the web UI answers")
        assert proc.poll() is None, (out / "ui.log").read_text()
        if request.param > 1:  # Locust's master starts a swarm only on the workers connected by then
            wait_until(lambda: _json(base + "/worker-count").get("worker_count") == request.param, 60,
                       interval=0.2, message="every worker connected")
        yield base, out, request.param
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: webdriver.Chrome, testid: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, f"[data-testid='{testid}']")
    return found[0].text if found else ""


def _int(driver: webdriver.Chrome, testid: str) -> int:
    text = _text(driver, testid)
    return int(text) if text.isdigit() else -1


def _click(driver: webdriver.Chrome, xpath: str) -> None:
    wait_until(lambda: driver.find_elements(By.XPATH, xpath), 20, interval=0.1, message=xpath)[0].click()


def _tab(driver: webdriver.Chrome, title: str) -> None:
    _click(driver, f"//button[@role='tab' and normalize-space()='{title}']")


def _shot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"ui-{name}.png"
    driver.save_screenshot(str(path))
    copy_to = os.environ.get("AGENTSOAK_UI_SCREENSHOTS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)


def test_a_swarm_from_the_page_survives_a_drop_and_a_toxic_and_passes(ui, browser, tmp_path: Path) -> None:
    base, out, processes = ui
    d = browser
    d.get(base + "/")
    # 1. Locust's own form (its defaults are the profile's -u/-r), then the Agents tab
    _click(d, "//form//button[@type='submit']")
    _tab(d, "Agents")
    wait_until(lambda: _int(d, "gauge-connected") == AGENTS, 60, interval=0.2, message="every agent connected")
    _shot(d, tmp_path, "agents")
    # 2. the Faults tab: drop every connection (a server close 1006)
    _tab(d, "Faults")
    _click(d, "//button[@data-testid='drop-close']")
    # 3. the reconnecting gauge moves, then every agent is connected again
    wait_until(lambda: _int(d, "strip-reconnecting") > 0, 10, interval=0.02, message="agents reconnecting")
    _shot(d, tmp_path, "faults-reconnecting")
    wait_until(lambda: "drop-all#m" in _text(d, "fault-message"), 10, interval=0.1, message="the drop applied")
    _tab(d, "Agents")
    wait_until(lambda: _int(d, "gauge-connected") == AGENTS and _int(d, "gauge-reconnecting") == 0, 60,
               interval=0.2, message="every agent recovered")
    assert _int(d, "gauge-gave-up") == 0
    # 4. add a latency toxic from the form, see it on the proxy, remove it
    _tab(d, "Faults")
    _click(d, "//button[@data-testid='add-toxic']")
    row = wait_until(lambda: d.find_elements(By.XPATH, "//*[starts-with(@data-testid, 'remove-manual-latency')]"), 10,
                     interval=0.1, message="the latency toxic is listed")
    _shot(d, tmp_path, "faults")
    row[0].click()
    wait_until(lambda: not d.find_elements(By.XPATH, "//*[starts-with(@data-testid, 'toxic-manual-latency')]"), 10,
               interval=0.1, message="the toxic is gone")
    # 5. stop: the run is verified and its verdict is on the page
    _click(d, "//button[normalize-space()='Stop']")
    _tab(d, "Agents")
    verdict = wait_until(lambda: _text(d, "verdict"), 120, interval=0.5, message="a verdict")
    _shot(d, tmp_path, "verdict")
    assert verdict == "PASS", d.find_element(By.TAG_NAME, "body").text
    run_dirs = [p for p in (out / "runs").iterdir() if (p / "report.html").exists()]
    assert len(run_dirs) == 1
    assert _up(base + f"/agentsoak/runs/{run_dirs[0].name}/report.html")
    # recorded like a headless run: the components' health, sampled into this swarm's ledger
    sampled = {e.component for e in iter_ledger(run_dirs[0]) if e.kind == "health_sample"}
    expected = {"server", "proxy", "locust-master"}
    expected |= {f"locust-worker-{n}" for n in range(1, processes + 1)} if processes > 1 else set()
    assert expected <= sampled, sampled
