"""Warnings for timeline entries that can never run: they start at or after ``load.duration``.

Not an error (a profile is often shortened with ``--set load.duration=15s`` to try it), but a run
whose planned faults never happen proves nothing about recovery, so ``validate`` and ``run`` say so.
"""

from __future__ import annotations

from loadtests.profile.fields import format_duration
from loadtests.profile.model import Profile

__all__ = ["late_fault_warnings"]


def late_fault_warnings(profile: Profile) -> list[str]:
    """One ``WARNING: …`` line naming every entry that starts at or after the test's end, or none."""
    end = profile.load.duration_s
    late = [spec for spec in profile.faults if spec.at_s >= end]
    if not late:
        return []
    names = ", ".join(f"{spec.name} (at {format_duration(spec.at_s)})" for spec in late)
    where = f"at or after load.duration ({format_duration(end)})"
    if len(late) == len(profile.faults):
        return [f"WARNING: no fault will run: every fault starts {where}: {names}"]
    return [f"WARNING: {len(late)} of {len(profile.faults)} faults start {where} and will never run: {names}"]
