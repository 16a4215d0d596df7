"""Reading a run's ledger back as typed events, one line at a time, from plain or compressed files.

A line that matches the schema decodes in one step (msgspec validates every field). Anything else
takes the tolerant path: a line that is not a JSON object with a ``kind`` is a bad line (counted,
skipped); a kind this reader does not know becomes an ``UnknownEvent``; a known kind with a wrongly
typed optional field gets that field's default, and one whose ``t``/``mono`` or other required field is
missing or wrongly typed is a bad line. Unknown keys are ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from reports.ledger.schema import EVENT_TYPES, LEDGER_VERSION, AnyEvent, Event
from reports.ledger.segments import SUFFIXES, FileRead, iter_lines

__all__ = ["LedgerReadStats", "UnknownEvent", "decode_line", "iter_ledger", "ledger_files"]

_DECODER = msgspec.json.Decoder(AnyEvent)
_BY_KIND: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}  # type: ignore[misc]
_STAMPS = ("t", "mono")
#: per kind: (name, type, required on read); t and mono are required although built with a default
_FIELDS: dict[type[Event], tuple[tuple[str, Any, bool], ...]] = {
    cls: tuple((f.name, f.type, f.required or f.name in _STAMPS) for f in msgspec.structs.fields(cls))
    for cls in EVENT_TYPES
}
_BAD = None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event of a kind this reader does not know (a newer writer's): counted, placed in time, no more."""

    kind: str
    t: float | None
    mono: float | None
    v: int = LEDGER_VERSION


@dataclass
class LedgerReadStats:
    """What a read saw besides events: files, lines, lines it had to skip, and files cut short."""

    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    newer_version_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)
    #: names of the files cut short (``kill -9``): a plain file whose last line has no newline, parsed
    #: or not; a compressed one whose frame never ended, or that turned unreadable (named in bad_examples)
    cut_files: list[str] = field(default_factory=list)


def _number(v: Any) -> float | None:
    return float(v) if type(v) in (int, float) and math.isfinite(v) else None


def _tolerant(raw: bytes) -> Event | UnknownEvent | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _BAD
    if not isinstance(obj, dict) or "kind" not in obj:
        return _BAD
    kind = obj["kind"]
    cls = _BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        v = obj.get("v")
        return UnknownEvent(kind=kind if isinstance(kind, str) else orjson.dumps(kind).decode(),
                            t=_number(obj.get("t")), mono=_number(obj.get("mono")),
                            v=v if type(v) is int else LEDGER_VERSION)
    kwargs: dict[str, Any] = {}
    for name, typ, required in _FIELDS[cls]:
        if name not in obj:
            if required:
                return _BAD
            continue
        try:
            kwargs[name] = msgspec.convert(obj[name], typ)
        except msgspec.ValidationError:
            if required:
                return _BAD
    return cls(**kwargs)


def decode_line(raw: bytes) -> Event | UnknownEvent | None:
    """The event on one ledger line, or None for a bad line."""
    if b'"mono":' in raw and b'"t":' in raw:  # else a stamp is missing: the struct would default it to now
        try:
            return _DECODER.decode(raw)
        except msgspec.ValidationError:
            pass
        except msgspec.DecodeError:
            return _BAD
    return _tolerant(raw)


def _files_in(folder: Path) -> list[Path]:
    return sorted({p for suffix in SUFFIXES for p in folder.glob(f"*{suffix}")})


def ledger_files(run_dir: str | os.PathLike[str], extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """The ledger files of a run directory (``ledger/*.jsonl`` and ``ledger/*.jsonl.zst``), in a stable order.

    ``extra``: more of the run's files kept elsewhere (a distributed run's workers): a ledger file, a
    folder of them, or a worker's run directory (its ``ledger/``). A run's files are unique by name
    (``<role>-<pid>``): one named like a file already found is the same file's copy and is not read twice.
    """
    files = _files_in(Path(run_dir, "ledger"))
    names = {p.name for p in files}
    for item in extra:
        path = Path(item)
        found = [path] if path.is_file() else _files_in(path / "ledger") or _files_in(path)
        for p in found:
            if p.name not in names:
                names.add(p.name)
                files.append(p)
    return files


def iter_ledger(
    run_dir: str | os.PathLike[str], stats: LedgerReadStats | None = None,
    extra: Sequence[str | os.PathLike[str]] = (),
) -> Iterator[Event | UnknownEvent]:
    """Yield every event of a run, file by file (not globally time-sorted), skipping bad lines.

    Memory is bounded by one line and, for a compressed file, one segment. ``stats`` (if given)
    counts what was skipped, and names the files that were cut short, once the stream is read to the end.
    ``extra``: the run's files kept elsewhere (:func:`ledger_files`).
    """
    stats = stats if stats is not None else LedgerReadStats()
    for path in ledger_files(run_dir, extra):
        stats.files += 1
        read = FileRead()
        lineno = 0
        for lineno, raw in enumerate(iter_lines(path, read), 1):
            stats.lines += 1
            event = decode_line(raw)
            if event is None:
                stats.bad_lines += 1
                if len(stats.bad_examples) < 5:
                    stats.bad_examples.append(f"{path.name}:{lineno}")
                continue
            if event.v > LEDGER_VERSION:
                stats.newer_version_lines += 1
            yield event
        if read.cut:
            stats.cut_files.append(path.name)
        if read.error is not None and len(stats.bad_examples) < 5:
            stats.bad_examples.append(f"{path.name}: not zstd after line {lineno}: {read.error}")
