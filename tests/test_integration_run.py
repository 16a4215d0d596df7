"""``agentsoak run`` / ``report`` / ``validate`` end to end, as real subprocesses on small profiles.

Each run starts the real orchestrator, which starts a reference server, the embedded proxy and Locust
headless (all on 127.0.0.1). The tests read only what a user would: the exit code, stdout and the run
directory. Never import locust here (it monkey-patches the test process).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reports.ledger import iter_lines, ledger_files, ledger_path
from reports.render_html import CHART_IDS
from tests.reports.test_render_html import CHROMIUM, _chromium
from tests.timing import MS, wait_until

pytestmark = pytest.mark.slow
LEDGER_FLUSH_PROMISE_S = 1.0  # reports/ledger.py: a killed process loses at most its last second

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
CLI = [sys.executable, "-c", "import sys; from loadtests.cli import main; sys.exit(main())"]


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_profile(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\noutput_dir: {tmp_path / 'runs'}\n" + body)
    return path


def the_run_dir(tmp_path: Path) -> Path:
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def read_ledger(path: Path) -> tuple[list[dict], int]:
    """Events of one ledger file and how many lines did not parse (only a cut last line may not)."""
    events, bad = [], 0
    lines = list(iter_lines(path))  # plain or compressed
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except ValueError:
            assert i == len(lines) - 1, f"{path.name}: unparseable line {i + 1} is not the last one"
            bad += 1
    return events, bad


def all_events(run_dir: Path) -> list[dict]:
    out: list[dict] = []
    for f in ledger_files(run_dir):
        out += read_ledger(f)[0]
    return out


def completed_turns(run_dir: Path, name: str = "*") -> int:
    """Completed turn ends flushed so far to the ledger files matching ``name``."""
    return sum(e.get("kind") == "turn_end" and e.get("outcome") == "completed"
               for f in (run_dir / "ledger").glob(name) for e in read_ledger(f)[0])  # "*": every ledger file


def run_dir_once_made(tmp_path: Path) -> Path | None:
    runs = sorted((tmp_path / "runs").glob("*")) if (tmp_path / "runs").is_dir() else []
    return runs[0] if runs and (runs[0] / "ledger").is_dir() else None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


HEALTHY = """seed: 21
target:
  kind: embedded
  server: {tokens_per_s: 1000}
proxy: {kind: embedded}
load: {users: 20, spawn_rate: 20, duration: 12s}
agent:
  store: true
  think_time: {distribution: uniform, min: 0.2s, max: 0.5s}
faults:
  - {name: drop-all, kind: close, code: 1006, at: 5s, share: 1.0}
checks: {}
"""


def test_healthy_run_with_a_mass_drop_passes_and_writes_the_whole_run_dir(tmp_path):
    profile = write_profile(tmp_path, "it-healthy", HEALTHY)
    res = cli("run", str(profile), "--progress-every", "5s")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # stderr is a pipe: one progress line per 5 s and a last one, the instant drop named as it fired
    progress = [line for line in res.stderr.splitlines() if line.startswith("[agentsoak] ")]
    assert 2 <= len(progress) <= 4, progress
    assert sum("since last line: drop-all#0 fired" in line for line in progress) == 1, progress
    assert progress[-1].startswith("[agentsoak] 0:00:12/0:00:12 100% | agents "), progress
    run_dir = the_run_dir(tmp_path)
    for name in ("profile.resolved.yaml", "run.json", "report.md", "report.html", "report.json", "junit.xml"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "locust").glob("*.csv")) and (run_dir / "locust" / "report.html").is_file()
    assert {p.name for p in (run_dir / "logs").iterdir()} >= {"server.log", "proxy.log", "locust.log"}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] == "PASS" and report["exit_code"] == 0
    events = all_events(run_dir)
    kinds = [e["kind"] for e in events]
    assert "run_start" in kinds and "run_stop" in kinds
    applies = [e for e in events if e["kind"] == "fault_apply"]
    assert [(e["fault"], e["type"]) for e in applies] == [("drop-all#0", "close")]
    assert [e["fault"] for e in events if e["kind"] == "fault_remove"] == ["drop-all#0"]
    agents = {e["agent"] for e in events if e["kind"] == "agent_start"}
    assert len(agents) == 20
    by_agent: dict[str, list[dict]] = {}
    for e in events:
        if "agent" in e:
            by_agent.setdefault(e["agent"], []).append(e)
    dropped = 0
    for agent, evs in by_agent.items():
        for i, e in enumerate(evs):
            if e["kind"] == "disconnect" and e.get("closed_by") != "client":
                dropped += 1
                assert e["code"] == 1006
                assert any(x["kind"] == "connect_ok" for x in evs[i + 1:]), f"{agent} did not reconnect"
    assert dropped >= 18, "the mass drop reached (nearly) every agent"
    assert "turns.lost" in res.stdout and "PASS" in res.stdout
    if CHROMIUM.exists():  # the real run's report.html draws its four charts in headless Chromium
        dom = _chromium(tmp_path, "--dump-dom", (run_dir / "report.html").resolve().as_uri()).stdout
        for chart in CHART_IDS:
            section = dom[dom.index(f'id="{chart}"'):]
            assert 'class="main-svg"' in section[:200_000], f"{chart} was not drawn"


BROKEN = """seed: 13
target:
  kind: embedded
  server: {tokens_per_s: 200}
proxy: {kind: embedded}
load: {users: 20, spawn_rate: 20, duration: 12s}
agent:
  store: false
  think_time: {distribution: uniform, min: 0.1s, max: 0.3s}
  recovery: {full_resend: false, retry_in_flight: true}
faults:
  - {name: drop-half, kind: close, code: 1006, at: 4s, every: 4s, share: 0.5}
checks: {}
"""


def test_broken_recovery_profile_fails_with_exit_1_naming_the_checks(tmp_path):
    profile = write_profile(tmp_path, "it-broken", BROKEN)
    res = cli("run", str(profile), "--quiet")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    failing = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("FAIL ")]
    assert "turns.lost" in failing and "recovery.failed" in failing, res.stdout[:3000]
    report = json.loads((the_run_dir(tmp_path) / "report.json").read_text())
    assert report["verdict"] == "FAIL" and report["exit_code"] == 1
    junit = (the_run_dir(tmp_path) / "junit.xml").read_text()
    assert "<failure" in junit
    # the first agent a failed check names: its timeline from the real (compressed) ledger, and its swimlane
    (lost,) = [c for c in report["checks"] if c["name"] == "turns.lost"]
    agent = lost["agents"][0]
    trace = cli("trace", str(the_run_dir(tmp_path)), agent.removeprefix("agent-").lstrip("0"))
    assert trace.returncode == 0, trace.stderr
    assert trace.stdout.startswith(f"agentsoak trace: {agent} (index ") and "turns.lost" in trace.stdout
    rows = trace.stdout.splitlines()
    assert any(" disconnect code 1006," in r and "[fault: drop-half#" in r for r in rows), trace.stdout
    assert any("GIVEN UP" in r and "full_resend_disabled" in r for r in rows), trace.stdout
    page = (the_run_dir(tmp_path) / "report.html").read_text()
    assert f'<a href="#lane-{agent}">{agent}</a>' in page and f'<div class="lane" id="lane-{agent}">' in page


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_to_the_process_alone_stops_the_run_as_ctrl_c_does(tmp_path, sig):
    """SIGINT or SIGTERM sent to the agentsoak process only (``timeout -s INT``, a CI cancel, a
    supervisor; not to its group): Locust stops gracefully and writes its files, exit 2, INTERRUPTED,
    and the report can be rebuilt. agentsoak starts with SIGINT ignored, as a background job of a
    non-interactive shell (``agentsoak run … &`` in a CI script) does: it used to run on to PASS."""
    profile = write_profile(tmp_path, "it-ctrlc", HEALTHY.replace("duration: 12s", "duration: 60s"))
    proc = subprocess.Popen([*CLI, "run", str(profile), "--quiet"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint)
    try:
        run_dir = wait_until(lambda: run_dir_once_made(tmp_path), 30, interval=0.2, message="the run directory")
        wait_until(lambda: proc.poll() is not None or completed_turns(run_dir) >= 20, 40, interval=0.2,
                   message="the load is running")
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, sig)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=40)
        took = time.monotonic() - sent
    finally:
        stop(proc)
    assert took < 10 + 20_000 * MS, f"took {took:.1f}s to stop"
    assert proc.returncode == 2, out[-2000:] + err[-2000:]  # the run did not complete (docs/reports.md)
    assert "INTERRUPTED" in err and f"stopped by {sig.name}" in err, err[-2000:]
    run_dir = the_run_dir(tmp_path)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["interrupted"] is True
    locust_log = (run_dir / "logs" / "locust.log").read_text()
    assert "Got SIGTERM signal" in locust_log and "Shutting down (exit code" in locust_log  # graceful ...
    assert (run_dir / "locust" / "stats_stats.csv").stat().st_size > 0  # ... and it wrote its stats
    events = all_events(run_dir)
    stops = [e for e in events if e["kind"] == "run_stop"]
    assert [e["reason"] for e in stops] == ["interrupted"]
    assert any(e["kind"] == "turn_end" and e["outcome"] == "completed" for e in events)
    for name in ("report.md", "report.html", "report.json", "junit.xml"):
        (run_dir / name).unlink()
    res = cli("report", str(run_dir))
    report = json.loads((run_dir / "report.json").read_text())
    assert res.returncode == report["exit_code"] == 2, res.stdout[-2000:] + res.stderr  # INTERRUPTED, never FAIL
    assert report["verdict"] == "INTERRUPTED"
    for name in ("report.md", "report.html", "junit.xml"):
        assert (run_dir / name).is_file()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its command line."""
    out: dict[int, str] = {}
    todo = [pid]
    for _ in range(1000):  # bounded: a run has a handful of processes
        if not todo:
            break
        for child in _children(todo.pop()):
            out[child] = _cmdline(child)
            todo.append(child)
    return out


def _alive(pid: int, cmdline: str) -> bool:
    """Still running (not a zombie) and still the same program (a pid can be reused)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and _cmdline(pid) == cmdline


def _survivors(procs: dict[int, str]) -> dict[int, str]:
    return {pid: cmd for pid, cmd in procs.items() if _alive(pid, cmd)}


def _run_processes(pid: int, *, workers: int = 0) -> dict[int, str] | None:
    """The run's processes once they are all up: server, proxy, the Locust master (and its workers)."""
    procs = _descendants(pid)
    kinds = {"server": "loadtests.server", "proxy": "-m faults", "locust": "-m locust"}
    if not all(any(needle in cmd for cmd in procs.values()) for needle in kinds.values()):
        return None
    masters = [p for p, cmd in procs.items() if "-m locust" in cmd and _children(p)]
    if workers and not (masters and len(_children(masters[0])) >= workers):
        return None
    return procs


def _ledger_state(run_dir: Path) -> dict[str, tuple[int, int]]:
    return {f.name: (f.stat().st_size, f.stat().st_mtime_ns) for f in ledger_files(run_dir)}


SLOW_TURNS = """seed: 5
target:
  kind: embedded
  server: {tokens_per_s: 40, output_tokens: {min: 150, max: 200}}
proxy: {kind: embedded}
load: {users: 6, spawn_rate: 6, duration: 60s}
agent:
  store: true
  output_tokens: {min: 150, max: 200}
  think_time: {distribution: constant, value: 0.1s}
checks: {}
"""


def test_a_second_ctrl_c_still_stops_every_child_and_nothing_writes_after_the_report(tmp_path):
    """Ctrl-C twice in a terminal (SIGINT to agentsoak's process group), the second while Locust is
    still stopping its users (turns of ~4 s, so its graceful stop takes seconds): exit 2, INTERRUPTED,
    no process of the run is left, and no ledger file changes once report.json exists."""
    profile = write_profile(tmp_path, "it-twice", SLOW_TURNS)
    proc = subprocess.Popen([*CLI, "run", str(profile), "--quiet"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        run_dir = wait_until(lambda: run_dir_once_made(tmp_path), 30, interval=0.2, message="the run directory")
        procs = wait_until(lambda: proc.poll() is not None or _run_processes(proc.pid), 30, interval=0.1,
                           message="server, proxy and Locust running")
        assert proc.poll() is None, proc.communicate()
        wait_until(lambda: proc.poll() is not None or any(
            e["kind"] == "turn_start" for e in all_events(run_dir)), 30, interval=0.2, message="turns under way")
        procs = _run_processes(proc.pid) or procs
        os.killpg(proc.pid, signal.SIGINT)
        locust_log = run_dir / "logs" / "locust.log"
        wait_until(lambda: "Got SIGTERM signal" in locust_log.read_text(), 10 + 5000 * MS, interval=0.05,
                   message="Locust is stopping")
        assert _survivors({p: c for p, c in procs.items() if "-m locust" in c}), "Locust already gone"
        os.killpg(proc.pid, signal.SIGINT)  # the second Ctrl-C, during the shutdown
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 2, out[-2000:] + err[-2000:]
    assert "INTERRUPTED" in err and "Traceback" not in err, err[-2000:]
    assert _survivors(procs) == {}, "processes of the run outlived agentsoak"
    report_written = (run_dir / "report.json").stat().st_mtime_ns
    before = _ledger_state(run_dir)
    late = {name: mtime for name, (_size, mtime) in before.items() if mtime > report_written}
    assert not late, f"ledger files written after report.json: {late}"
    time.sleep(2.0)  # the promise is "nothing writes afterwards": watch for a while
    assert _ledger_state(run_dir) == before


def test_when_the_orchestrator_is_killed_no_child_lives_on(tmp_path):
    """kill -9 of agentsoak (the OOM killer, a CI timeout): the reference server, the proxy, Locust's
    master and its ``--processes`` workers all end within seconds, and the server's port is free."""
    body = HEALTHY.replace("load: {users: 20, spawn_rate: 20, duration: 12s}",
                           "load: {users: 4, spawn_rate: 4, duration: 60s, processes: 2}")
    profile = write_profile(tmp_path, "it-orphans", body)
    proc = start_cli("run", str(profile), "--quiet")
    procs: dict[int, str] = {}
    try:
        procs = wait_until(lambda: proc.poll() is not None or _run_processes(proc.pid, workers=2), 40,
                           interval=0.1, message="server, proxy, Locust master and 2 workers")
        assert proc.poll() is None, proc.communicate()
        run_dir = the_run_dir(tmp_path)
        wait_until(lambda: completed_turns(run_dir) >= 2, 30, interval=0.2, message="turns completing")
        procs = _run_processes(proc.pid, workers=2) or procs
        master = next(c for c in procs.values() if "-m locust" in c)
        port = int(master.split("--agentsoak-admin-url http://127.0.0.1:", 1)[1].split()[0])
        assert len(procs) >= 5, procs  # server, proxy, master, 2 workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        wait_until(lambda: not _survivors(procs), 10 + 5000 * MS, interval=0.1,
                   message=f"the run's children to end (alive: {_survivors(procs)})")
        took = time.monotonic() - killed
    finally:
        stop(proc)
        for pid in _survivors(procs):
            os.kill(pid, signal.SIGKILL)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # nobody listens there any more
    print(f"children gone {took:.1f}s after the kill")


def test_an_unreachable_target_fails_the_preflight_within_seconds(tmp_path):
    """Nothing listens behind the proxy: one handshake finds it before any load starts (it used to
    run the full length and fail with connection resets). A fault after the test's end warns too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = f"""seed: 1
target: {{kind: external, url: "ws://127.0.0.1:{port}/v1/responses"}}
proxy: {{kind: embedded}}
load: {{users: 5, spawn_rate: 5, duration: 30s}}
faults:
  - {{name: late-lag, kind: toxic, type: latency, at: 40s, duration: 5s, attributes: {{latency: 100}}}}
checks: {{}}
"""
    profile = write_profile(tmp_path, "it-unreachable", body)
    started = time.monotonic()
    res = cli("run", str(profile), "--quiet", timeout=60)
    took = time.monotonic() - started
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    target = f"ws://127.0.0.1:{port}/v1/responses"
    assert f"target {target} not reachable through the proxy: connection refused" in res.stderr, res.stderr
    assert "WARNING: no fault will run" in res.stderr and "late-lag (at 40s)" in res.stderr
    assert took < 10 + 10_000 * MS, f"took {took:.1f}s"  # the whole command; the run was to last 30 s
    run_dir = the_run_dir(tmp_path)
    assert not (run_dir / "logs" / "locust.log").exists()  # no load was started
    assert json.loads((run_dir / "run.json").read_text())["status"] == "error"
    print(f"preflight refusal: the whole `agentsoak run` took {took:.2f}s")


def test_kill_9_of_a_worker_leaves_its_ledger_readable_up_to_the_kill(tmp_path):
    body = HEALTHY.replace("load: {users: 20, spawn_rate: 20, duration: 12s}",
                           "load: {users: 20, spawn_rate: 20, duration: 15s, processes: 2}")
    profile = write_profile(tmp_path, "it-kill9", body)
    proc = start_cli("run", str(profile), "--quiet")
    try:
        def master_and_workers() -> tuple[int, list[int]] | None:
            masters = [p for p in _children(proc.pid) if "locust" in _cmdline(p)]
            workers = _children(masters[0]) if masters else []
            return (masters[0], workers) if len(workers) == 2 else None

        master, workers = wait_until(master_and_workers, 30, interval=0.2, message="a master with 2 workers")
        victim = workers[0]
        # the test is well under way: both workers have flushed completed turns
        wait_until(lambda: all(completed_turns(the_run_dir(tmp_path), ledger_path("", "locust", w).name) >= 5 for w in workers),
                   30, interval=0.2, message="both workers running turns")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        out, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    run_dir = the_run_dir(tmp_path)
    assert proc.returncode in (0, 1, 2), err[-2000:]
    assert (run_dir / "report.json").is_file() and (run_dir / "run.json").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] in ("completed", "error")
    events, bad = read_ledger(ledger_path(run_dir / "ledger", "locust", victim))
    assert bad <= 1 and events
    assert {e["pid"] for e in events} == {victim}
    last = max(e["t"] for e in events)
    lost = LEDGER_FLUSH_PROMISE_S + 1000 * MS  # the promise, plus a loaded host's late flush
    assert killed_at - lost <= last <= killed_at + 0.1, f"last event {killed_at - last:.2f}s before the kill"
    # the other worker carried on to the end of the test
    other = [f for f in ledger_files(run_dir) if f.name.startswith("locust-")
             and f.name != ledger_path("", "locust", victim).name and str(workers[1]) in f.name]
    assert other and max(e["t"] for e in read_ledger(other[0])[0]) > killed_at + 3


def test_validate_every_shipped_profile_and_a_broken_one(tmp_path):
    shipped = sorted(PROFILES.glob("*.yaml"))
    assert len(shipped) >= 5
    for path in shipped:
        res = cli("validate", str(path), timeout=30)
        assert res.returncode == 0, f"{path.name}: {res.stderr}"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nseed: 1\nload:\n  users: 0\n")
    res = cli("validate", str(bad), timeout=30)
    assert res.returncode == 2
    assert f"{bad}:4:" in res.stderr and "load.users" in res.stderr, res.stderr
