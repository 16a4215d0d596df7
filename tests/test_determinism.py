"""The same seed gives the same run: each agent id does the same first turns with 1 or 2 Locust processes.

Two headless Locust runs of the same agents and seed against a fresh reference server each (same
server seed), no faults: one in one process, one with ``--processes 2`` (a master and two workers).
Agent ids are global indices, and every draw an agent makes comes from its own (seed, index, purpose)
streams; the server's draws depend on its seed and the request. So per agent id, the first turns'
input and output token counts must be equal. Run with ``-s`` to see the per-agent table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.run import LOCUSTFILE, ReferenceServer, processes_args
from reports.ledger import iter_ledger

pytestmark = pytest.mark.slow

AGENTS, SECONDS, FIRST_TURNS = 6, 8, 3


def _run(run_dir: Path, processes: int) -> dict[str, list[tuple[int, int]]]:
    """Per agent id: (input_tokens, output_tokens) of its first completed turns, in turn order."""
    server = ReferenceServer(["--seed", "21", "--tokens-per-s", "4000"])
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", server.url,
           "-u", str(AGENTS), "-r", str(AGENTS), "-t", f"{SECONDS}s", "--only-summary", "--stop-timeout", "2",
           "--agentsoak-run-dir", str(run_dir), "--seed", "17"]
    if processes > 1:
        cmd += processes_args(processes)  # its own master port: other runs may share the box
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    finally:
        server.stop()
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    events = list(iter_ledger(run_dir))
    turns: dict[str, list[tuple[int, int, int, int]]] = {e.agent: [] for e in events if e.kind == "agent_start"}
    for e in events:
        if e.kind == "turn_end" and e.outcome == "completed" and e.session == 1:
            turns[e.agent].append((e.session, e.index, e.input_tokens, e.output_tokens))
    return {agent: [(i, o) for _, _, i, o in sorted(t)[:FIRST_TURNS]] for agent, t in turns.items()}


@pytest.mark.timeout(240)
def test_one_and_two_locust_processes_give_each_agent_the_same_first_turns(tmp_path):
    one = _run(tmp_path / "p1", processes=1)
    two = _run(tmp_path / "p2", processes=2)
    print(f"\nper-agent first {FIRST_TURNS} turns, (input_tokens, output_tokens): 1 process vs --processes 2")
    print(f"{'agent':<12} {'1 process':<36} {'2 processes':<36} same")
    for agent in sorted(set(one) | set(two)):
        a, b = one.get(agent), two.get(agent)
        print(f"{agent:<12} {a!s:<36} {b!s:<36} {'yes' if a == b else 'NO'}")
    assert set(one) == set(two) == {f"agent-{i:04d}" for i in range(1, AGENTS + 1)}
    assert all(len(t) >= 2 for t in one.values()), one  # every agent did at least 2 turns in each run
    for agent in one:
        n = min(len(one[agent]), len(two[agent]))
        assert n >= 2 and one[agent][:n] == two[agent][:n], (agent, one[agent], two[agent])
