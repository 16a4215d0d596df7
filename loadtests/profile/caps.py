"""Size caps of a profile, checked before the work they bound is done.

A profile is small: its file is at most :data:`MAX_PROFILE_BYTES`, and its timeline at most
:data:`MAX_FAULT_WINDOWS` fault windows once every ``every:`` entry is expanded. The window count is
computed arithmetically from each entry's ``at``/``every`` and the test's duration, before any
entry is expanded (a ``every: 1ms`` over 24 h would otherwise build 86 million windows).
"""

from __future__ import annotations

import math
from typing import Any

from loadtests.profile.fields import At, ProfileError, duration, format_duration

__all__ = ["MAX_FAULT_WINDOWS", "MAX_PROFILE_BYTES", "check_fault_windows", "check_profile_bytes"]

MAX_PROFILE_BYTES = 1 << 20  # 1 MiB: the largest shipped profile is about 2 KiB
MAX_FAULT_WINDOWS = 10_000  # fault windows in one run, every ``every:`` expanded


def check_profile_bytes(size: int, source: str) -> None:
    """Refuse a profile text of ``size`` bytes over the cap."""
    if size > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"the profile is {size:,} bytes, over the cap of {MAX_PROFILE_BYTES:,} bytes (1 MiB)",
            file=source, expected="a profile of at most 1 MiB",
        )


def _windows(raw: Any, at: At, duration_s: float) -> tuple[int, float, float | None] | None:
    """(windows, at, every) of one raw entry, or None when it does not parse (the reader says why)."""
    if not isinstance(raw, dict):
        return None
    try:
        start = duration()(raw.get("at"), at)
        every = None if raw.get("every") is None else duration(positive=True)(raw["every"], at)
    except ProfileError:
        return None
    if start >= duration_s:
        return 1, start, every  # no window, but it is still an entry
    if every is None:
        return 1, start, None
    return max(1, math.ceil((duration_s - start) / every)), start, every


def check_fault_windows(raw_faults: Any, at: At, duration_s: float) -> None:
    """Refuse a timeline of more than :data:`MAX_FAULT_WINDOWS` windows, naming the entry that crosses it."""
    if not isinstance(raw_faults, list):
        return
    total = 0
    for i, raw in enumerate(raw_faults):
        item_at = at.child(i, raw_faults)
        counted = _windows(raw, item_at, duration_s)
        total += 1 if counted is None else counted[0]
        if total <= MAX_FAULT_WINDOWS:
            continue
        name = raw.get("name") if isinstance(raw, dict) else None
        label = f"{name!r} " if isinstance(name, str) else ""
        if counted is not None and counted[2] is not None and counted[0] > MAX_FAULT_WINDOWS:
            n, start, every = counted
            message = (f"fault {label}repeats {n:,} times (every {format_duration(every)} from "
                       f"{format_duration(start)} to the test's end at {format_duration(duration_s)})")
        else:
            message = f"fault {label}brings the timeline to {total:,} fault windows (every `every:` expanded)"
        where = item_at.child("every", raw) if isinstance(raw, dict) and "every" in raw else item_at
        raise where.error(f"{message}; a profile may have at most {MAX_FAULT_WINDOWS:,} fault windows",
                          expected="a longer 'every', a shorter test, or fewer entries")
