"""Listeners are wired only by the locustfile: importing the users (or hooks) registers nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

# Run in a fresh interpreter (``import locust`` patches the process for gevent; never here). It prints,
# for each of Locust's event hooks, the agentsoak modules whose listeners it holds.
_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from locust import events
from locust.event import EventHook
found = {}
for attr, hook in vars(events).items():
    if isinstance(hook, EventHook):
        mods = sorted({getattr(h, "__module__", "") or "" for h in hook._handlers})
        mods = [m for m in mods if m.split(".")[0] in ("loadtests", "faults", "reports")]
        if mods:
            found[attr] = mods
print(json.dumps(found))
"""


def _listeners_after_import(*modules: str) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_users_or_hooks_registers_no_listener() -> None:
    assert _listeners_after_import("loadtests.users") == {}
    assert _listeners_after_import("loadtests.hooks", "loadtests.users") == {}


def test_the_locustfile_wires_every_listener_once() -> None:
    """The control: the probe does see agentsoak's listeners once the locustfile is imported."""
    found = _listeners_after_import("loadtests.locustfile")
    assert set(found) == {"init_command_line_parser", "init", "test_start", "test_stop", "quitting"}
    assert all(mods == ["loadtests.hooks"] for mods in found.values())


# A stand-in master forks a worker that ties itself as hooks does, then exits. The worker keeps running
# until the tie ends it. ``state`` is its runner's state when the master dies.
_TIE = """
import os, select, sys
import gevent
from types import SimpleNamespace
from loadtests import hooks
hooks._QUIT_MARGIN_S = float(sys.argv[2])
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid:
    select.select([ready_r], [], [], 30)  # the worker has tied itself
    sys.stdout.write(f"{pid}\\n"); sys.stdout.flush()
    os._exit(0)
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1); os.dup2(null, 2)  # the stand-in's run then ends with its master, not its worker
env = SimpleNamespace(runner=SimpleNamespace(state=sys.argv[1]), parsed_options=SimpleNamespace(stop_timeout=0))
hooks._tie_worker_to_master(env)
os.write(ready_w, b't')
for _ in range(600):
    gevent.sleep(0.05)
"""


def _worker_after_master_dies(state: str, margin_s: float) -> tuple[int, float]:
    """Run the stand-in; returns the worker's pid and when the master was gone (monotonic)."""
    done = subprocess.run([sys.executable, "-c", _TIE, state, str(margin_s)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[0]), time.monotonic()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return time.monotonic()
        time.sleep(0.02)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death tie is Linux-only")
@pytest.mark.parametrize("state", ["running", "stopping"])
def test_a_worker_outlives_its_master_by_its_stop_timeout_and_margin_then_ends(state: str) -> None:
    """Locust's master exits once it has told its workers to quit; a worker still stopping its users
    (and closing its ledger), or one that was too busy to have read the quit message yet, is not cut
    short, and ends by itself after its stop timeout and the margin."""
    margin = 2.0
    pid, gone = _worker_after_master_dies(state, margin)
    assert _wait_gone(pid, margin * 0.5) is None, "the worker was ended at once"
    ended = _wait_gone(pid, 20.0)
    assert ended is not None, "the worker outlived its master for good"
    assert ended - gone >= margin * 0.5
