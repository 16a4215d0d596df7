"""Fault windows from ``fault_apply``/``fault_remove``/``fault_error``, in any file order."""

from __future__ import annotations

from reports.ledger import schema as ev
from reports.summary.model import FaultWindow, TimelinePlay

__all__ = ["Faults"]


class Faults:
    """Collects fault events; ``windows()`` turns them into windows relative to the test start."""

    def __init__(self) -> None:
        self.applied: list[ev.FaultApply] = []
        self.removed: dict[str, float] = {}  # fault -> mono of its (last) removal
        self.errors: dict[str, list[str]] = {}
        self.starts: dict[int, float] = {1: 0.0}  # play -> timeline_start.at_s
        self.stops: dict[int, float] = {}  # play -> timeline_stop.at_s (stopped by hand)

    def apply(self, e: ev.FaultApply) -> None:
        self.applied.append(e)

    def remove(self, e: ev.FaultRemove) -> None:
        self.removed[e.fault] = e.mono

    def error(self, e: ev.FaultError) -> None:
        self.errors.setdefault(e.fault, []).append(e.error)

    def timeline_start(self, e: ev.TimelineStart) -> None:
        self.starts[e.play] = e.at_s

    def timeline_stop(self, e: ev.TimelineStop) -> None:
        if e.manual:
            self.stops[e.play] = min(e.at_s, self.stops.get(e.play, e.at_s))

    def plays(self) -> tuple[TimelinePlay, ...]:
        """The timeline's plays, by play number."""
        return tuple(TimelinePlay(play, start, self.stops.get(play)) for play, start in sorted(self.starts.items()))

    def windows(self, base: float, last_mono: float) -> tuple[FaultWindow, ...]:
        """Windows in apply order; an unremoved fault lasts its planned duration, cut at the ledger's end."""
        out = []
        for e in sorted(self.applied, key=lambda a: a.mono):
            start = e.mono
            removed = self.removed.get(e.fault)
            end = min(start + e.duration_s, last_mono) if removed is None or removed < start else removed
            out.append(FaultWindow(
                fault=e.fault, type=e.type, share=e.share, start=start - base, end=max(start, end) - base,
                removed=removed is not None, planned_start_s=e.start_s, planned_duration_s=e.duration_s,
                errors=tuple(self.errors.get(e.fault, ())), standing=e.type in ev.STANDING_FAULT_TYPES,
            ))
        applied = {f.fault for f in out}
        for fault, errors in self.errors.items():  # errors of faults that never applied still count
            if fault not in applied:
                out.append(FaultWindow(fault, "?", None, 0.0, 0.0, False, None, None, tuple(errors)))
        return tuple(out)
