"""``agentsoak reproduce`` end to end (docs/reproduce.md): a failure built on purpose, its repro
bundle, a replay of only the agents it names, and ``--minimize`` down to the one fault and the one
agent that make it. Two causes: one on the server (a turn served from the wrong cached state), one
in the client (no full resend after a drop with ``store: false``: the shipped ``broken-recovery``).

Each test is one scenario start to end (the original run, the replay, the minimisation), so the
replays share nothing with another test's. The runs are short and the replays few: two at a time,
each ``k=2`` of ``n=3`` verdict decided after two when they agree, the run cut just after the
failure first.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reports.repro import read_bundle
from tests.test_integration_run import cli, the_run_dir, write_profile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# 30 agents; the cause (stale) among four faults that do not matter: latency on some sockets, an
# eviction (the store answers), a clean close after the failure (1012, resumed from the store), jitter
WRONG_STATE = """seed: 11
target:
  kind: embedded
  server: {tokens_per_s: 2000}
proxy: {kind: embedded}
load: {users: 30, spawn_rate: 100, duration: 3s}
agent:
  store: true
  turns_per_session: 100
  think_time: {distribution: constant, value: 0.1s}
faults:
  - {name: slow, kind: toxic, type: latency, at: 0.3s, duration: 1s, share: 0.3, attributes: {latency: 20}}
  - {name: evict-some, kind: evict, at: 0.5s, share: 0.3}
  - {name: stale, kind: wrong_state, at: 0.8s, duration: 1s, share: 0.01, turns: 1}
  - {name: drop, kind: close, code: 1012, at: 2s, share: 0.2}
  - {name: jitter, kind: toxic, type: latency, at: 2.2s, duration: 0.5s, share: 0.5, attributes: {latency: 5, jitter: 5}}
checks: {}
"""

# broken-recovery (store: false, full_resend: false) shortened: half the sockets dropped at 1 s, and
# four faults that lose nothing (latency, sliced writes, short stalls between deltas, upstream latency)
BROKEN_RECOVERY = [
    "load.users=30", "load.spawn_rate=100", "load.duration=3s", "target.server.tokens_per_s=400",
    "agent.think_time={distribution: constant, value: 0.1s}",
    "faults=["
    "{name: slow, kind: toxic, type: latency, at: 0.2s, duration: 1s, share: 0.5, attributes: {latency: 20}},"
    "{name: sliced, kind: toxic, type: slicer, at: 0.4s, duration: 1s, share: 0.5, attributes: {average_size: 64}},"
    "{name: drop-half, kind: close, code: 1006, at: 1s, share: 0.5},"
    "{name: hiccup, kind: stall, where: between_deltas, ms: 20, at: 0.6s, duration: 1s, share: 0.3},"
    "{name: upload, kind: toxic, type: latency, stream: upstream, at: 2s, duration: 0.5s, attributes: {latency: 10}}]",
]


def _reproduce_and_minimize(bundle: Path) -> tuple[str, str, float]:
    replay = cli("reproduce", str(bundle), timeout=240)
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    started = time.monotonic()
    minimal = cli("reproduce", "--minimize", str(bundle), timeout=280)
    seconds = time.monotonic() - started
    assert minimal.returncode == 0, minimal.stdout[-4000:] + minimal.stderr[-3000:]
    print(f"\n--minimize of {bundle.name}: {seconds:.1f} s wall\n{minimal.stdout}")
    return replay.stdout, minimal.stdout, seconds


def _hits(stdout: str) -> int:
    (line,) = [line for line in stdout.splitlines() if re.match(r"(not )?reproduced \d/3", line)]
    return int(re.match(r"(?:not )?reproduced (\d)/3", line).group(1))  # type: ignore[union-attr]


def _check_minimal(bundle: Path, stdout: str, kind: str, agent: str) -> None:
    minimal = yaml.safe_load((bundle / "minimal.yaml").read_text())
    assert [f["kind"] for f in minimal["faults"]] == [kind], minimal["faults"]
    assert minimal["load"]["agents"] == [int(agent.removeprefix("agent-"))]
    assert minimal["load"]["duration"] <= 3
    assert f"signature: {read_bundle(bundle).bundle.signature}" in stdout
    assert re.search(r"original\s+5\s+30\s+3\b", stdout) and re.search(r"minimal\s+1\s+1\s+\d", stdout), stdout
    assert re.search(r"runs spent: \d+ \(", stdout)
    test_file = next(bundle.glob("test_minimal_*.py"))
    assert "EXPECT_FAILURE" in test_file.read_text() and yaml.safe_dump(minimal, sort_keys=False) in \
        test_file.read_text()


def test_a_wrong_cached_state_reproduces_from_its_bundle_and_minimizes_to_one_fault_and_one_agent(tmp_path):
    res = cli("run", str(write_profile(tmp_path, "it-stale", WRONG_STATE)), "--quiet")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    bundle = the_run_dir(tmp_path) / "repro" / "context.digest_mismatches"
    b = read_bundle(bundle).bundle
    (agent,) = b.check.agents  # share 0.01 of 30 picks one connection
    assert b.signature.agent == agent and b.agents == [int(agent.removeprefix("agent-"))]
    assert f"repro bundle: {bundle}" in res.stdout
    replay, minimal, _ = _reproduce_and_minimize(bundle)
    assert _hits(replay) >= 2 and f"context.digest_mismatches fails naming {agent}" in replay
    _check_minimal(bundle, minimal, "wrong_state", agent)
    # the regression file runs as written and proves the failure (the flag flipped, it would fail now)
    (test_file,) = bundle.glob("test_minimal_*.py")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:locust",
                          "-W", "ignore::pytest.PytestUnknownMarkWarning", str(test_file)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]


def test_broken_recovery_reproduces_from_its_bundle_and_minimizes_to_the_drop_and_one_agent(tmp_path):
    overrides = [arg for item in BROKEN_RECOVERY for arg in ("--set", item)]
    res = cli("run", "broken-recovery", *overrides, "--output-dir", str(tmp_path / "runs"), "--quiet")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    bundle = the_run_dir(tmp_path) / "repro" / "turns.lost"
    b = read_bundle(bundle).bundle
    assert b.signature.agent is not None and 1 <= len(b.agents) <= 5
    replay, minimal, _ = _reproduce_and_minimize(bundle)
    assert _hits(replay) >= 2 and f"turns.lost fails naming {b.signature.agent}" in replay
    _check_minimal(bundle, minimal, "close", b.signature.agent)
