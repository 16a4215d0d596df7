"""Live progress of a run, read from the ledger as it is written (time left, agents, active faults)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from reports.ledger import LineTail, ledger_files

__all__ = ["LedgerTail"]


class LedgerTail:
    """Follows every ledger file of a run and keeps a few live counters."""

    def __init__(self, ledger_dir: Path) -> None:
        self.dir = ledger_dir
        self._tails: dict[Path, LineTail] = {}
        self.connected: set[str] = set()
        self.agents: set[str] = set()
        self.active_faults: dict[str, str] = {}
        self.turns = 0
        self.failed_turns = 0
        self.disconnects = 0

    def poll(self) -> None:
        """Read what was appended since the last poll (plain or compressed: whole flushed segments)."""
        for path in ledger_files(self.dir.parent):
            if path not in self._tails:
                self._tails[path] = LineTail(path)
            for line in self._tails[path].poll():
                try:
                    self._apply(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue

    def _apply(self, e: dict) -> None:
        kind = e.get("kind")
        agent = e.get("agent")
        if kind == "agent_start":
            self.agents.add(agent)
        elif kind == "connect_ok":
            self.connected.add(agent)
        elif kind in ("disconnect", "agent_stop"):
            self.connected.discard(agent)
            if kind == "disconnect":
                self.disconnects += 1
        elif kind == "turn_end":
            self.turns += 1
            if e.get("outcome") not in ("completed", "incomplete", "stopped", "cut"):
                self.failed_turns += 1
        elif kind == "fault_apply":
            self.active_faults[e.get("fault", "?")] = e.get("type", "?")
        elif kind == "fault_remove":
            self.active_faults.pop(e.get("fault", "?"), None)

    def status_line(self, duration_s: float, started: float, planned_faults: int) -> str:
        elapsed = time.monotonic() - started
        left = max(0.0, duration_s - elapsed)
        faults = ", ".join(f"{k} ({v})" for k, v in sorted(self.active_faults.items())) or "none"
        return (f"[agentsoak] {elapsed:6.0f}s elapsed, {left:5.0f}s left | agents connected "
                f"{len(self.connected)}/{len(self.agents)} | turns {self.turns} (failed {self.failed_turns}) | "
                f"disconnects {self.disconnects} | faults active: {faults} ({planned_faults} planned)")
