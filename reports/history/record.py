"""One run as the history stores it, read from its ``report.json`` (the versioned report contract).

``load_run`` takes a run directory: it uses ``report.json`` when that already carries the run
metadata and the metrics (written by this agentsoak), and otherwise rebuilds the report from the
ledger first (and writes it, like ``agentsoak report``). ``RunRecord.from_report_json`` is the one
reader of the document, so synthetic documents exercise the same path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reports.errors import ReportError, RunDirError
from reports.history.meta import RunMeta, target_revision

__all__ = ["CheckRow", "RecordError", "RunRecord", "load_run"]


class RecordError(ReportError):
    """A report.json that cannot be read as a history record (names the file and the field)."""


@dataclass(frozen=True)
class CheckRow:
    """One check's verdict as stored."""

    name: str
    verdict: str
    observed: float | None
    limit: float | None
    unit: str


@dataclass(frozen=True)
class RunRecord:
    """A finished run: identity, metadata, verdict, metrics by name, and every check's verdict."""

    run_key: str  # the run directory's name: unique per run (UTC stamp + profile name)
    run_dir: str
    profile: str
    profile_hash: str | None
    seed: str | None
    verdict: str  # PASS | FAIL | BROKEN (the report's)
    exit_code: int
    meta: RunMeta
    metrics: Mapping[str, float | None]
    checks: tuple[CheckRow, ...] = ()
    recorded_at: str | None = None  # set by the store

    @property
    def order_key(self) -> str:
        """What runs are ordered by: the start time, else when it was recorded."""
        return self.meta.started_at or self.recorded_at or ""

    @classmethod
    def from_report_json(cls, doc: Any, source: str = "report.json",
                         *, revision: str | None = None) -> RunRecord:
        """Read a report.json document; ``revision`` fills a missing target revision.

        Raises ``RecordError`` naming ``source`` and the offending field.
        """
        def need(obj: Any, key: str, types: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
            if not isinstance(obj, dict):
                raise RecordError(f"{source}: {where or 'the document'} is not a JSON object")
            value = obj.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, types) or isinstance(value, bool) and bool not in _tuple(types):
                raise RecordError(f"{source}: field {where + '.' if where else ''}{key} is missing or not "
                                  f"{' or '.join(t.__name__ for t in _tuple(types))}")
            return value

        run = need(doc, "run", dict, "")
        metrics_doc = need(doc, "metrics", dict, "")
        metrics: dict[str, float | None] = {}
        for name, value in metrics_doc.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise RecordError(f"{source}: field metrics.{name} must be a number or null")
            metrics[str(name)] = None if value is None else float(value)
        checks = []
        for i, c in enumerate(need(doc, "checks", list, "")):
            where = f"checks[{i}]"
            checks.append(CheckRow(
                name=need(c, "name", str, where), verdict=need(c, "verdict", str, where),
                observed=_num(need(c, "observed", (int, float), where, optional=True)),
                limit=_num(need(c, "limit", (int, float), where, optional=True)),
                unit=need(c, "unit", str, where, optional=True) or ""))
        meta_fields = {f: need(run, f, str, "run", optional=True)
                       for f in ("agentsoak_version", "host", "target_revision", "started_at", "ended_at")}
        meta = RunMeta(**meta_fields)
        if meta.target_revision is None and revision is not None:
            meta = RunMeta(**{**meta_fields, "target_revision": revision})
        run_dir = need(run, "dir", str, "run")
        seed = run.get("seed")
        return cls(
            run_key=Path(run_dir).name,
            run_dir=run_dir,
            profile=need(run, "profile", str, "run", optional=True) or need(run, "name", str, "run"),
            profile_hash=need(run, "profile_hash", str, "run", optional=True),
            seed=None if seed is None else str(seed),
            verdict=need(doc, "verdict", str, ""),
            exit_code=need(doc, "exit_code", int, ""),
            meta=meta,
            metrics=metrics,
            checks=tuple(checks),
        )


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _num(value: int | float | None) -> float | None:
    return None if value is None else float(value)


def _needs_rebuild(doc: Any) -> bool:
    """A report.json from before the run metadata and metrics were added to it."""
    return not (isinstance(doc, dict) and isinstance(doc.get("metrics"), dict)
                and isinstance(doc.get("run"), dict) and "started_at" in doc["run"])


def load_run(run_dir: str | os.PathLike[str], *, revision: str | None = None) -> RunRecord:
    """The history record of a run directory. ``revision`` (or ``$AGENTSOAK_TARGET_REVISION``) fills
    in the target revision when the run did not record one. Raises ``ReportError`` on bad input."""
    rd = Path(run_dir)
    if not rd.is_dir():
        raise RunDirError(f"{rd}: no such run directory")
    path = rd / "report.json"
    doc: Any = None
    if path.is_file():
        try:
            doc = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise RecordError(f"{path}: unreadable report: {exc}") from None
    if doc is None or _needs_rebuild(doc):
        from reports.report import build_report, write_report

        write_report(build_report(rd))
        doc = orjson.loads(path.read_bytes())
    return RunRecord.from_report_json(doc, str(path), revision=target_revision(revision))
