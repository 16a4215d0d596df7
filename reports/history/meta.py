"""Run metadata: who ran what, where and when, kept in the run directory as ``meta.json``.

``agentsoak run`` writes ``meta.json`` when the run starts (so a run killed half-way still says
where and what it was) and again when it ends. A run directory without one (made by an older
agentsoak, or by hand) still gets the start/end times from its orchestrator ledger; the other
fields are then unknown (None), never guessed from the machine that reads it later.

The profile hash is the SHA-256 of the resolved profile (``profile.resolved.yaml``) as canonical
JSON, without ``output_dir``: where results go does not change what the run does.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import os
import socket
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson
import yaml

from reports.errors import RunDirError
from reports.ledger.reader import decode_line, ledger_files

__all__ = ["META_FILE", "TARGET_REVISION_ENV", "RunMeta", "agentsoak_version", "profile_hash", "read_meta",
           "target_revision", "utc_iso", "write_meta"]

META_FILE = "meta.json"
#: the target's revision when ``--target-revision`` is not given (e.g. a CI job's commit id)
TARGET_REVISION_ENV = "AGENTSOAK_TARGET_REVISION"
_ORCHESTRATOR_LEDGER_PREFIX = "orchestrator"  # loadtests/run.py: run_start and run_stop live there


def utc_iso(ts: float | None = None) -> str:
    """A Unix time (default now) as ``YYYY-MM-DDTHH:MM:SSZ`` (sortable as text)."""
    when = _dt.datetime.now(_dt.timezone.utc) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def agentsoak_version() -> str:
    """The installed agentsoak version (``unknown`` from a source tree that was never installed)."""
    try:
        return importlib.metadata.version("agentsoak")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def target_revision(given: str | None) -> str | None:
    """The target's revision: ``--target-revision`` when given, else ``$AGENTSOAK_TARGET_REVISION``."""
    value = given if given is not None else os.environ.get(TARGET_REVISION_ENV)
    if value is None:
        return None
    return value.strip() or None


@dataclass(frozen=True)
class RunMeta:
    """The metadata of one run; every field is None when unknown."""

    agentsoak_version: str | None = None
    host: str | None = None
    target_revision: str | None = None
    started_at: str | None = None  # UTC, utc_iso()
    ended_at: str | None = None

    @classmethod
    def starting_now(cls, revision: str | None) -> RunMeta:
        """The metadata of a run this process starts now."""
        return cls(agentsoak_version(), socket.gethostname(), revision, utc_iso(), None)

    def ended_now(self) -> RunMeta:
        return replace(self, ended_at=utc_iso())

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def write_meta(run_dir: str | os.PathLike[str], meta: RunMeta) -> Path:
    """Write ``meta.json`` atomically; returns its path."""
    path = Path(run_dir, META_FILE)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(meta.as_dict(), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


def _ledger_span(run_dir: Path) -> tuple[str | None, str | None]:
    """Wall times of the orchestrator's first and last events (run_start, run_stop)."""
    first = last = None
    for path in ledger_files(run_dir):
        if not path.name.startswith(_ORCHESTRATOR_LEDGER_PREFIX):
            continue
        with open(path, "rb") as fh:
            for raw in fh:
                event = decode_line(raw)
                t = getattr(event, "t", None)
                if isinstance(t, float):
                    first = t if first is None else min(first, t)
                    last = t if last is None else max(last, t)
    return (utc_iso(first) if first is not None else None), (utc_iso(last) if last is not None else None)


def read_meta(run_dir: str | os.PathLike[str]) -> RunMeta:
    """The run's metadata. Raises ``RunDirError`` when ``meta.json`` exists but is not valid."""
    rd = Path(run_dir)
    path = rd / META_FILE
    meta = RunMeta()
    if path.is_file():
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise RunDirError(f"{path}: unreadable run metadata: {exc}") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}: run metadata is not a JSON object")
        known: dict[str, Any] = {}
        for f in fields(RunMeta):
            value = data.get(f.name)
            if value is not None and not isinstance(value, str):
                raise RunDirError(f"{path}: field {f.name!r} must be a string or null, not {type(value).__name__}")
            known[f.name] = value
        meta = RunMeta(**known)
    if meta.started_at is None or meta.ended_at is None:
        started, ended = _ledger_span(rd)
        # a run still going (or killed) has no run_stop: only a ledger with two events has an end
        meta = replace(meta, started_at=meta.started_at or started,
                       ended_at=meta.ended_at or (ended if ended != started else None))
    return meta


def profile_hash(run_dir: str | os.PathLike[str]) -> str | None:
    """SHA-256 (hex) of the resolved profile as canonical JSON, ``output_dir`` left out; None without one."""
    path = Path(run_dir, "profile.resolved.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunDirError(f"{path}: unreadable profile: {str(exc).strip().splitlines()[0]}") from None
    if not isinstance(data, dict):
        return None
    data = {k: v for k, v in data.items() if k != "output_dir"}
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()
