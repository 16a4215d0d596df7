"""The replay profile of a bundle: the run's resolved profile, cut down to the bundle's agents, with
every fault that picks connections aimed at the agents it hit. Pure functions of plain data.

Why aim: a ``close`` with ``share: 0.5`` picks half of the connections live at that moment; with 2
agents instead of 30 it would pick others. Aimed at the agents it hit (``agents: [...]``, ``share:
1.0``) it hits exactly those again. A repeating entry (``every``) hits different agents each time,
so it becomes one entry per window (``drop.0``, ``drop.1``, ...). Toxics need nothing: their draws
follow each agent's connections (``faults.draws``), and their names, part of the draw's key, are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from faults.identity import index_of
from faults.schedule import AIMED_KINDS
from reports.repro.model import AppliedFault, Counts

__all__ = ["counts", "replay_profile"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _hit_indices(window: AppliedFault | None, agents: set[int]) -> list[int]:
    if window is None:
        return []
    found = (index_of(a) for a in window.hit_agents)
    return sorted({i for i in found if i is not None and i in agents})


def _aim(entry: dict[str, Any], windows: list[tuple[int, AppliedFault | None]], agents: set[int]) -> list[dict]:
    """``entry`` aimed at the hit agents, one entry per window when it repeats."""
    name = str(entry.get("name"))
    if entry.get("every") is None:
        window = windows[0][1] if windows else None
        return [{**entry, "share": 1.0, "agents": _hit_indices(window, agents)}]
    out = []
    for k, window in windows:
        single = {key: v for key, v in entry.items() if key != "every"}
        at = window.planned_start_s if window is not None else float(entry["at"]) + k * float(entry["every"])
        out.append({**single, "name": f"{name[:56]}.{k}", "at": at, "share": 1.0,
                    "agents": _hit_indices(window, agents)})
    return out


def _windows_of(name: str, timeline: Sequence[AppliedFault]) -> list[tuple[int, AppliedFault | None]]:
    out = []
    for w in timeline:
        base, _, k = w.fault.rpartition("#")
        if base == name and k.isdigit():
            out.append((int(k), w))
    return sorted(out, key=lambda kw: kw[0])


def replay_profile(resolved: dict[str, Any], agents: Sequence[int],
                   timeline: Sequence[AppliedFault]) -> dict[str, Any]:
    """The profile that replays ``agents`` of the run whose resolved profile is ``resolved``.

    ``agents`` empty: every agent runs and the timeline stays as it was (the same run again).
    """
    out = {k: v for k, v in resolved.items()}
    name = str(resolved.get("name") or "run")
    replay_name = f"{name[:58]}-repro"
    out["name"] = replay_name if _NAME.fullmatch(replay_name) else "repro"
    if not agents:
        return out
    chosen = set(agents)
    load = dict(resolved.get("load") or {})
    load.update(agents=sorted(chosen), processes=1)  # a few agents need no more Locust processes
    out["load"] = load
    faults = []
    for entry in resolved.get("faults") or []:
        if isinstance(entry, dict) and entry.get("kind") in AIMED_KINDS:
            faults += _aim(entry, _windows_of(str(entry.get("name")), timeline), chosen)
        else:
            faults.append(entry)
    out["faults"] = faults
    return out


def counts(profile: dict[str, Any], windows: int) -> Counts:
    """The size of ``profile``: its fault entries, ``windows``, its agents and seconds."""
    load = profile.get("load") or {}
    chosen = load.get("agents")
    return Counts(faults=len(profile.get("faults") or []), windows=windows,
                  agents=len(chosen) if chosen else int(load.get("users", 0) or 0),
                  seconds=float(load.get("duration", 0) or 0))
