"""Live progress of a run, read from the ledger as it is written, fit for a 2-hour night.

:class:`LedgerTail` follows every ledger file of the run and keeps the counters a status line shows
(agents connected, turns, reconnects, active faults). :func:`format_status` makes the line from a
:class:`Snapshot` of them. :class:`ProgressPrinter` decides when and how to print it:

- on a terminal, one status line redrawn in place about once a second; every fault that applies,
  is removed or fails gets a line of its own above it as it happens, so an instantaneous fault
  (``close``, ``limit``, ``evict``, ``wipe_store``: applied and removed at once) is seen even though
  it is never "active" at a redraw;
- anywhere else (a log file, cron's mail, a CI log), one status line every ``every_s`` seconds
  (``--progress-every``, default 30) that also names the faults fired since the line before, and a
  last one when the run ends. A 2-hour run prints 240 lines, not 7,200.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import orjson

from faults.schedule import INSTANT_KINDS
from reports.ledger import LineTail, ledger_files

__all__ = ["DEFAULT_PROGRESS_EVERY_S", "TTY_REDRAW_S", "FaultNote", "Snapshot", "LedgerTail", "ProgressPrinter",
           "format_clock", "format_status", "format_fault"]

#: ``--progress-every``: seconds between two status lines when the output is not a terminal
DEFAULT_PROGRESS_EVERY_S = 30.0
#: seconds between two redraws of the status line on a terminal
TTY_REDRAW_S = 1.0
_PREFIX = "[agentsoak]"
_MOST_FIRED = 5  # fault events named on one non-terminal line
_OK_OUTCOMES = frozenset({"completed", "incomplete", "stopped", "cut"})


@dataclass(frozen=True, slots=True)
class FaultNote:
    """One fault event as the progress shows it: ``what`` is applied, removed, fired or failed."""

    mono: float
    fault: str
    type: str
    what: str
    detail: str = ""  # the error of a failed one, "N affected" of a protocol fault


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counters of a status line at one moment."""

    elapsed_s: float
    total_s: float
    agents: int = 0
    connected: int = 0
    turns: int = 0
    failed_turns: int = 0
    reconnects: int = 0
    disconnects: int = 0
    active_faults: tuple[tuple[str, str], ...] = ()  # (fault id, type), sorted
    planned_faults: int = 0
    started: bool = True  # False until Locust's test_start is in the ledger


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
        self.reconnects = 0
        self.test_start_mono: float | None = None
        self.test_stop_mono: float | None = None
        self._notes: list[FaultNote] = []
        self._instant: set[str] = set()  # instant faults fired whose fault_remove is not read yet

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

    def take_notes(self) -> list[FaultNote]:
        """The fault events read since the last call, oldest first (an instant fault is one ``fired``)."""
        notes, self._notes = self._notes, []
        return notes

    def _apply(self, e: dict) -> None:
        kind = e.get("kind")
        agent = e.get("agent")
        if kind == "agent_start":
            self.agents.add(agent)
        elif kind == "connect_ok":
            self.connected.add(agent)
            if e.get("reason") == "reconnect":
                self.reconnects += 1
        elif kind in ("disconnect", "agent_stop"):
            self.connected.discard(agent)
            if kind == "disconnect":
                self.disconnects += 1
        elif kind == "turn_end":
            self.turns += 1
            if e.get("outcome") not in _OK_OUTCOMES:
                self.failed_turns += 1
        elif kind in ("test_start", "test_stop"):
            mono = e.get("mono")
            if isinstance(mono, (int, float)):
                if kind == "test_start" and self.test_start_mono is None:
                    self.test_start_mono = float(mono)
                elif kind == "test_stop":
                    self.test_stop_mono = float(mono)
        elif kind in ("fault_apply", "fault_remove", "fault_error"):
            self._fault(kind, e)

    def _fault(self, kind: str, e: dict) -> None:
        fault, ftype = str(e.get("fault", "?")), str(e.get("type", "?"))
        mono = float(e["mono"]) if isinstance(e.get("mono"), (int, float)) else time.monotonic()
        if kind == "fault_apply":
            affected = e.get("affected")
            detail = f"{affected} affected" if isinstance(affected, int) else ""
            if ftype in INSTANT_KINDS:  # its fault_remove follows at once: it is never active
                self._instant.add(fault)
                self._notes.append(FaultNote(mono, fault, ftype, "fired", detail))
            else:
                self.active_faults[fault] = ftype
                self._notes.append(FaultNote(mono, fault, ftype, "applied", detail))
        elif kind == "fault_remove":
            self.active_faults.pop(fault, None)
            if fault in self._instant:
                self._instant.discard(fault)
            else:
                self._notes.append(FaultNote(mono, fault, ftype, "removed"))
        else:
            self._notes.append(FaultNote(mono, fault, ftype, "failed", str(e.get("error", ""))))

    def snapshot(self, now: float, total_s: float, planned_faults: int, fallback_start: float) -> Snapshot:
        """The counters now; the clock runs from Locust's test start (``fallback_start`` until it is read)
        to its stop."""
        origin = self.test_start_mono if self.test_start_mono is not None else fallback_start
        end = self.test_stop_mono if self.test_stop_mono is not None else now
        return Snapshot(elapsed_s=max(0.0, end - origin), total_s=total_s, agents=len(self.agents),
                        connected=len(self.connected), turns=self.turns, failed_turns=self.failed_turns,
                        reconnects=self.reconnects, disconnects=self.disconnects,
                        active_faults=tuple(sorted(self.active_faults.items())), planned_faults=planned_faults,
                        started=self.test_start_mono is not None)


def format_clock(seconds: float) -> str:
    """``H:MM:SS`` (``0:00:05``, ``2:00:00``): the same width all night."""
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _faults_text(active: tuple[tuple[str, str], ...], planned: int, most: int = 3) -> str:
    if not active:
        text = "none active"
    else:
        shown = ", ".join(f"{f} ({t})" for f, t in active[:most])
        more = f", +{len(active) - most} more" if len(active) > most else ""
        text = f"{len(active)} active: {shown}{more}"
    return f"faults {text}, {planned} planned" if planned else f"faults {text}"


def format_status(s: Snapshot, fired: list[FaultNote] | None = None) -> str:
    """The status line: elapsed/total, agents connected, turns, reconnects, faults.

    ``fired``: fault events since the line before, named at the end (the non-terminal line, where
    an instantaneous fault would otherwise never show).
    """
    pct = f" {min(100.0, 100.0 * s.elapsed_s / s.total_s):3.0f}%" if s.total_s > 0 else ""
    clock = f"{format_clock(s.elapsed_s)}/{format_clock(s.total_s)}{pct}" if s.started else "starting"
    failed = f" ({s.failed_turns:,} failed)" if s.failed_turns else ""
    parts = [f"{_PREFIX} {clock}",
             f"agents {s.connected:,}/{s.agents:,} connected",
             f"turns {s.turns:,}{failed}",
             f"reconnects {s.reconnects:,} (disconnects {s.disconnects:,})",
             _faults_text(s.active_faults, s.planned_faults)]
    if fired:
        shown = ", ".join(f"{n.fault} {n.what}" for n in fired[:_MOST_FIRED])
        more = f", +{len(fired) - _MOST_FIRED} more" if len(fired) > _MOST_FIRED else ""
        parts.append(f"since last line: {shown}{more}")
    return " | ".join(parts)


def format_fault(note: FaultNote, elapsed_s: float) -> str:
    """The line a fault event gets of its own on a terminal."""
    detail = f": {note.detail}" if note.what == "failed" and note.detail else (
        f" ({note.detail})" if note.detail else "")
    return f"{_PREFIX} {format_clock(elapsed_s)} fault {note.fault} ({note.type}) {note.what}{detail}"


def _is_tty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 120


@dataclass
class ProgressPrinter:
    """Prints the progress to ``out``: redrawn in place on a terminal, one line per ``every_s`` elsewhere.

    ``tick`` is called as often as the caller likes (it keeps its own pace); ``poll`` reads the
    ledger only when something is due. ``message`` prints a line of its own without breaking the
    status line; ``finish`` prints the last status line and leaves the cursor on a fresh line.
    """

    out: TextIO
    tail: LedgerTail
    total_s: float
    planned_faults: int = 0
    every_s: float = DEFAULT_PROGRESS_EVERY_S
    tty: bool | None = None  # None: out.isatty()
    clock: Callable[[], float] = time.monotonic
    width: Callable[[], int] | None = None  # terminal columns (None: the terminal's, read per redraw)
    redraw_s: float = TTY_REDRAW_S
    started: float | None = None  # the clock's reading when Locust started (None: now)
    _last: float = field(default=0.0, init=False)
    _drawn: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.every_s <= 0:
            raise ValueError(f"every_s must be positive, got {self.every_s}")
        if self.tty is None:
            self.tty = _is_tty(self.out)
        if self.started is None:
            self.started = self.clock()
        self._last = self.started

    @property
    def interval_s(self) -> float:
        return self.redraw_s if self.tty else self.every_s

    def tick(self) -> None:
        """Print what is due now (nothing when the interval has not passed)."""
        now = self.clock()
        if now - self._last < self.interval_s:
            return
        self._last = now
        self._show(now)

    def finish(self) -> None:
        """The last status line, ended with a newline (also when nothing was printed before)."""
        self._show(self.clock())
        if self.tty and self._drawn:
            self.out.write("\n")
            self._drawn = False
        self.out.flush()

    def message(self, text: str) -> None:
        """A line of its own (on a terminal above the status line, which is redrawn after it)."""
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()

    def _show(self, now: float) -> None:
        assert self.started is not None
        self.tail.poll()
        snap = self.tail.snapshot(now, self.total_s, self.planned_faults, self.started)
        notes = self.tail.take_notes()
        if self.tty:
            origin = self.tail.test_start_mono if self.tail.test_start_mono is not None else self.started
            for note in notes:
                self._clear()
                self.out.write(format_fault(note, note.mono - origin) + "\n")
            line = format_status(snap)
            cols = self.width() if self.width is not None else _width(self.out)
            if cols > 1 and len(line) >= cols:  # a wrapped line cannot be redrawn in place
                line = line[:cols - 2] + "…"
            self.out.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.out.write(format_status(snap, notes) + "\n")
        self.out.flush()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False
