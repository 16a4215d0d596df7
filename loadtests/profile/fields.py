"""Validation primitives for profiles: the error type, a cursor that knows where a value came
from, and small typed readers (integers, numbers, durations, choices, sections).

Every reader takes ``(value, at)`` and returns the typed value or raises ``ProfileError`` naming the
file, line and key path, what was expected, and (for unknown keys) the nearest valid key.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from loadtests.profile.yaml import LineList, LineMap, PathKey, format_path

__all__ = ["At", "ProfileError", "Section", "as_float", "format_duration", "parse_duration_text"]

T = TypeVar("T")

#: Longest accepted duration (30 days): bounds the fault plan and catches unit slips.
MAX_DURATION_S = 30 * 86400.0


class ProfileError(Exception):
    """A profile is invalid. ``str()`` is ``<file>:<line>: <path>: <message>``.

    Attributes:
        file: the profile path, ``<string>``, or ``--set a.b`` when an override set the value.
        line: 1-based line, or None (overrides, whole-file errors).
        path: dotted key path such as ``faults[2].attributes.latency`` ("" for the whole profile).
        message: what is wrong.
        expected: what would be valid, or None.
        suggestion: the nearest valid key for a typo, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "<string>",
        line: int | None = None,
        path: str = "",
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        self.expected = expected
        self.suggestion = suggestion
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.suggestion:
            text += f"; did you mean '{self.suggestion}'?"
        return text


@dataclass(frozen=True)
class Origin:
    """Where the raw profile came from: the file name and the paths ``--set`` overrode."""

    file: str
    overrides: dict[tuple[PathKey, ...], str]


@dataclass(frozen=True)
class At:
    """The position of one raw value: its key path and source line."""

    origin: Origin
    path: tuple[PathKey, ...] = ()
    line: int | None = None

    def child(self, key: Any, container: Any) -> At:
        """The position of ``container[key]``; a non-string mapping key is shown by its repr."""
        lines = getattr(container, "lines", None) or {}
        label = (
            key
            if isinstance(key, str) or (isinstance(key, int) and isinstance(container, list))
            else repr(key)
        )
        return At(self.origin, (*self.path, label), lines.get(key, self.line))

    @property
    def dotted(self) -> str:
        return format_path(self.path)

    def error(self, message: str, expected: str | None = None, suggestion: str | None = None) -> ProfileError:
        file, line = self.origin.file, self.line
        for n in range(len(self.path), 0, -1):
            source = self.origin.overrides.get(self.path[:n])
            if source is not None:
                file, line = source, None
                break
        return ProfileError(
            message, file=file, line=line, path=self.dotted, expected=expected, suggestion=suggestion
        )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def nearest(word: Any, options: Iterable[str]) -> str | None:
    """The closest of ``options`` to ``word`` (a likely typo), or None."""
    if not isinstance(word, str):
        return None
    lowered = {o.lower(): o for o in options}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.7)
    return lowered[hits[0]] if hits else None


class Section:
    """A raw mapping with a fixed set of keys; ``get`` reads one key through a reader.

    ``forbidden`` maps keys that must never appear (such as ``api_key``) to (message, expected).
    """

    def __init__(
        self,
        value: Any,
        at: At,
        keys: Sequence[str],
        *,
        what: str = "a mapping",
        forbidden: Mapping[str, tuple[str, str | None]] | None = None,
    ) -> None:
        if value is None:
            value = LineMap()
        if not isinstance(value, dict):
            raise at.error(f"expected {what}, got {_show(value)}", expected=f"keys {', '.join(sorted(keys))}")
        for key in value:
            if not isinstance(key, str):
                raise at.child(key, value).error(f"keys must be strings, got {_show(key)}")
            if forbidden and key in forbidden:
                message, expected = forbidden[key]
                raise at.child(key, value).error(message, expected=expected)
            if key not in keys:
                raise at.child(key, value).error(
                    "unknown key", expected=f"one of {', '.join(sorted(keys))}", suggestion=nearest(key, keys)
                )
        self.value = value
        self.at = at

    def has(self, key: str) -> bool:
        return key in self.value

    def at_key(self, key: str) -> At:
        return self.at.child(key, self.value)

    def get(self, key: str, reader: Callable[[Any, At], T], default: T) -> T:
        if key not in self.value:
            return default
        return reader(self.value[key], self.at_key(key))

    def require(self, key: str, reader: Callable[[Any, At], T], expected: str) -> T:
        if key not in self.value:
            raise self.at.error(f"missing required key '{key}'", expected=expected)
        return reader(self.value[key], self.at_key(key))


# -- scalar readers -------------------------------------------------------------------------------


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[Any, At], int]:
    """An integer in [lo, hi]; integral floats such as ``100.0`` are accepted."""
    bounds = _bounds_text(lo, hi)

    def read(value: Any, at: At) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise at.error(f"got {_show(value)}", expected=f"an integer{bounds}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise at.error(f"{_show(value)} is out of range", expected=f"an integer{bounds}")
        return value

    return read


def number(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False
) -> Callable[[Any, At], float]:
    """A finite number in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    bounds = _bounds_text(lo, hi, lo_open)

    def read(value: Any, at: At) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise at.error(f"got {_show(value)}", expected=f"a number{bounds}")
        value = as_float(value)
        if not math.isfinite(value):
            raise at.error(f"got {_show(value)}", expected=f"a finite number{bounds}")
        if lo is not None and (value <= lo if lo_open else value < lo) or hi is not None and value > hi:
            raise at.error(f"{value:g} is out of range", expected=f"a number{bounds}")
        return value

    return read


def as_float(value: float) -> float:
    """``float(value)``, with ints too large for a float mapped to infinity (then rejected)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _fmt(x: float) -> str:
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _bounds_text(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" > {_fmt(lo)} and <= {_fmt(hi)}" if lo_open else f" between {_fmt(lo)} and {_fmt(hi)}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f" <= {_fmt(hi)}"
    return ""


def boolean(value: Any, at: At) -> bool:
    if not isinstance(value, bool):
        raise at.error(f"got {_show(value)}", expected="true or false")
    return value


def text(pattern: str | None = None, what: str = "a string") -> Callable[[Any, At], str]:
    regex = re.compile(pattern) if pattern else None

    def read(value: Any, at: At) -> str:
        if not isinstance(value, str) or not value or (regex is not None and not regex.fullmatch(value)):
            raise at.error(f"got {_show(value)}", expected=what)
        return value

    return read


def choice(options: Sequence[Any]) -> Callable[[Any, At], Any]:
    """One of ``options`` (compared by value and type, so ``true`` is not ``1``)."""
    shown = ", ".join("null" if o is None else str(o) for o in options)

    def read(value: Any, at: At) -> Any:
        for option in options:
            if type(value) is type(option) and value == option:
                return option
        suggestion = nearest(value, [o for o in options if isinstance(o, str)])
        raise at.error(f"got {_show(value)}", expected=f"one of {shown}", suggestion=suggestion)

    return read


def optional(reader: Callable[[Any, At], T]) -> Callable[[Any, At], T | None]:
    """``null`` or whatever ``reader`` accepts."""

    def read(value: Any, at: At) -> T | None:
        return None if value is None else reader(value, at)

    return read


def mapping_of(value: Any, at: At) -> LineMap:
    if not isinstance(value, dict):
        raise at.error(f"got {_show(value)}", expected="a mapping")
    return value


def agent_indices(hi: int | None = None, *, empty: bool = False) -> Callable[[Any, At], tuple[int, ...]]:
    """A list of distinct agent indices (1-based, as in ``agent-0007``), at most ``hi``, non-empty
    unless ``empty``; returned sorted."""
    bounds = _bounds_text(1, hi)
    what = "a list" if empty else "a non-empty list"

    def read(value: Any, at: At) -> tuple[int, ...]:
        if not isinstance(value, list) or not (value or empty):
            raise at.error(f"got {_show(value)}", expected=f"{what} of agent indices{bounds}")
        seen: set[int] = set()
        for i, item in enumerate(value):
            index = integer(1, hi)(item, at.child(i, value))
            if index in seen:
                raise at.child(i, value).error(f"agent {index} is listed twice", expected="distinct indices")
            seen.add(index)
        return tuple(sorted(seen))

    return read


def sequence_of(value: Any, at: At) -> list:
    if value is None:
        return LineList()
    if not isinstance(value, list):
        raise at.error(f"got {_show(value)}", expected="a list")
    return value


# -- durations -------------------------------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HELP = "a duration: seconds as a number, or a string such as 500ms, 30s, 10m, 2h, 1h30m"


def parse_duration_text(value: str) -> float | None:
    """``"1h30m"`` -> 5400.0; None if ``value`` is not a duration string."""
    s = value.strip().replace(" ", "")
    if not s:
        return None
    try:
        return float(s)  # a bare number in a string: seconds
    except ValueError:
        pass
    pos, total, last_unit = 0, 0.0, math.inf
    for m in _PART.finditer(s):
        if m.start() != pos:
            return None
        unit = _UNITS[m.group(2)]
        if unit >= last_unit:  # units must go from large to small: 1h30m, not 30m1h
            return None
        last_unit = unit
        total += float(m.group(1)) * unit
        pos = m.end()
    return total if pos == len(s) and pos > 0 else None


def duration(*, positive: bool = False) -> Callable[[Any, At], float]:
    """A duration in float seconds (>= 0, or > 0 with ``positive``), at most 30 days."""
    bound = "> 0" if positive else ">= 0"

    def read(value: Any, at: At) -> float:
        seconds: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = as_float(value)
        elif isinstance(value, str):
            seconds = parse_duration_text(value)
        if seconds is None or not math.isfinite(seconds):
            raise at.error(f"got {_show(value)}", expected=DURATION_HELP)
        if seconds < 0 or (positive and seconds == 0) or seconds > MAX_DURATION_S:
            raise at.error(f"{_show(value)} is out of range", expected=f"a duration {bound} and at most 30d")
        return seconds

    return read


def format_duration(seconds: float) -> str:
    """Human form for summaries: 0.5 -> ``500ms``, 5400 -> ``1h30m``, 61.5 -> ``1m1.5s``."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    out = ""
    rest = seconds
    for unit, size in (("h", 3600), ("m", 60)):
        n = int(rest // size)
        if n:
            out += f"{n}{unit}"
            rest -= n * size
    if rest or not out:
        out += f"{round(rest, 3):g}s"
    return out
