"""Listeners are wired only by the locustfile: importing the users (or hooks) registers nothing."""

from __future__ import annotations

import json
import subprocess
import sys

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
