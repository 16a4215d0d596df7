"""The run history database: SQLite by default, or PostgreSQL, through one SQLAlchemy Core schema.

``--history`` takes a file path (SQLite; default ``runs/history.sqlite``, or ``$AGENTSOAK_HISTORY``
so a CI job can keep a password out of the command line), ``sqlite:///PATH``, or
``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (driven by psycopg 3: ``pip install
'agentsoak[postgres]'``). Both backends run the same statements: SQLAlchemy Core emits each
dialect's DDL and parameter style, so there is no second code path to drift.

Schema (tables are prefixed, so a shared database is fine): ``agentsoak_runs`` (one row per run,
unique by ``run_key``, the run directory's name), ``agentsoak_run_metrics`` (run, name, value: new
metrics need no migration), ``agentsoak_run_checks`` (run, check, verdict, observed, limit, unit)
and ``agentsoak_history_schema`` (the schema version). Times are UTC ``YYYY-MM-DDTHH:MM:SSZ`` text,
which sorts the same on both backends. Recording a run again replaces its rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from reports.errors import ReportError
from reports.history.meta import RunMeta, utc_iso
from reports.history.record import CheckRow, RunRecord

__all__ = ["DEFAULT_HISTORY", "HISTORY_ENV", "SCHEMA_VERSION", "HistoryError", "HistoryStore", "history_url"]

DEFAULT_HISTORY = "runs/history.sqlite"
HISTORY_ENV = "AGENTSOAK_HISTORY"
SCHEMA_VERSION = 1
_CONNECT_TIMEOUT_S = 10  # an unreachable server is an error in seconds, never a hang

_md = sa.MetaData()
RUNS = sa.Table(
    "agentsoak_runs", _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(255), nullable=False, unique=True),
    sa.Column("run_dir", sa.Text, nullable=False),
    sa.Column("profile", sa.String(255), nullable=False, index=True),
    sa.Column("profile_hash", sa.String(64)),
    sa.Column("seed", sa.String(255)),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=False),
    sa.Column("agentsoak_version", sa.String(64)),
    sa.Column("target_revision", sa.String(255)),
    sa.Column("host", sa.String(255)),
    sa.Column("started_at", sa.String(20)),
    sa.Column("ended_at", sa.String(20)),
    sa.Column("recorded_at", sa.String(20), nullable=False),
)
RUN_METRICS = sa.Table(
    "agentsoak_run_metrics", _md,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("agentsoak_runs.id"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.Float),
)
RUN_CHECKS = sa.Table(
    "agentsoak_run_checks", _md,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("agentsoak_runs.id"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("observed", sa.Float),
    sa.Column("limit_value", sa.Float),  # "limit" is an SQL keyword
    sa.Column("unit", sa.String(64)),
)
SCHEMA = sa.Table("agentsoak_history_schema", _md, sa.Column("version", sa.Integer, nullable=False))


class HistoryError(ReportError):
    """The history cannot be opened, read or written (names the database, password hidden)."""


def history_url(value: str | None = None) -> str:
    """The SQLAlchemy URL of ``--history`` (default ``$AGENTSOAK_HISTORY``, then ``runs/history.sqlite``)."""
    value = value or os.environ.get(HISTORY_ENV) or DEFAULT_HISTORY
    if "://" not in value:
        return "sqlite:///" + str(Path(value).expanduser().resolve())
    scheme, rest = value.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + rest
    if scheme in ("sqlite", "postgresql+psycopg"):
        return value
    raise HistoryError(f"--history {_mask(value)}: unsupported scheme {scheme!r}; "
                       "give a file path, sqlite:///PATH or postgresql://USER@HOST/DB")


def _mask(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:") else None


class HistoryStore:
    """An open history database. ``create=False`` opens a missing SQLite file as an empty history."""

    def __init__(self, value: str | None = None, *, create: bool = True) -> None:
        self.url = history_url(value)
        self.name = _mask(self.url)
        self._engine: Engine | None = None
        path = _sqlite_path(self.url)
        if path is not None and not path.exists():
            if not create:
                return
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(f"history {path}: cannot create its folder: {exc.strerror or exc}") from None
        connect_args: dict[str, Any] = (
            {"connect_timeout": _CONNECT_TIMEOUT_S} if self.url.startswith("postgresql")
            else {"timeout": _CONNECT_TIMEOUT_S})
        try:
            self._engine = sa.create_engine(self.url, connect_args=connect_args)
        except ModuleNotFoundError as exc:
            raise HistoryError(f"history {self.name}: the PostgreSQL driver is not installed ({exc.name}); "
                               "pip install 'agentsoak[postgres]'") from None
        except ArgumentError as exc:
            raise HistoryError(f"--history {self.name}: {exc}") from None
        with self._db("open") as conn:
            _md.create_all(conn, checkfirst=True)
            version = conn.execute(sa.select(SCHEMA.c.version)).scalar()
            if version is None:
                conn.execute(SCHEMA.insert().values(version=SCHEMA_VERSION))
            elif version > SCHEMA_VERSION:
                raise HistoryError(f"history {self.name}: schema version {version} is newer than this "
                                   f"agentsoak's ({SCHEMA_VERSION}); upgrade agentsoak")

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @contextmanager
    def _db(self, doing: str) -> Iterator[Connection]:
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise HistoryError(f"history {self.name}: cannot {doing}: {first}") from None

    def record(self, rec: RunRecord) -> bool:
        """Store one run (replacing an earlier record of the same run); True when it replaced one."""
        if self._engine is None:
            raise HistoryError(f"history {self.name}: opened read-only")
        with self._db("record the run") as conn:
            old = conn.execute(sa.select(RUNS.c.id).where(RUNS.c.run_key == rec.run_key)).scalar()
            if old is not None:
                conn.execute(RUN_METRICS.delete().where(RUN_METRICS.c.run_id == old))
                conn.execute(RUN_CHECKS.delete().where(RUN_CHECKS.c.run_id == old))
                conn.execute(RUNS.delete().where(RUNS.c.id == old))
            m = rec.meta
            run_id = conn.execute(RUNS.insert().values(
                run_key=rec.run_key, run_dir=rec.run_dir, profile=rec.profile, profile_hash=rec.profile_hash,
                seed=rec.seed, verdict=rec.verdict, exit_code=rec.exit_code,
                agentsoak_version=m.agentsoak_version, target_revision=m.target_revision, host=m.host,
                started_at=m.started_at, ended_at=m.ended_at, recorded_at=rec.recorded_at or utc_iso(),
            )).inserted_primary_key[0]
            if rec.metrics:
                conn.execute(RUN_METRICS.insert(), [{"run_id": run_id, "name": k, "value": v}
                                                for k, v in rec.metrics.items()])
            checks = {c.name: c for c in rec.checks}  # one row per check name
            if checks:
                conn.execute(RUN_CHECKS.insert(), [
                    {"run_id": run_id, "name": c.name, "verdict": c.verdict, "observed": c.observed,
                     "limit_value": c.limit, "unit": c.unit} for c in checks.values()])
        return old is not None

    def runs(self, profile: str | None = None, last: int | None = None) -> list[RunRecord]:
        """The recorded runs (of ``profile``), the ``last`` most recent, oldest first."""
        if self._engine is None:
            return []
        order = sa.func.coalesce(RUNS.c.started_at, RUNS.c.recorded_at)
        query = sa.select(RUNS).order_by(order.desc(), RUNS.c.id.desc())
        if profile is not None:
            query = query.where(RUNS.c.profile == profile)
        if last is not None:
            query = query.limit(last)
        with self._db("read the runs") as conn:
            rows = list(conn.execute(query).mappings())[::-1]
            ids = [r["id"] for r in rows]
            metrics: dict[int, dict[str, float | None]] = {i: {} for i in ids}
            checks: dict[int, list[CheckRow]] = {i: [] for i in ids}
            for chunk in _chunks(ids, 500):
                for mr in conn.execute(sa.select(RUN_METRICS).where(RUN_METRICS.c.run_id.in_(chunk))).mappings():
                    metrics[mr["run_id"]][mr["name"]] = mr["value"]
                for cr in conn.execute(sa.select(RUN_CHECKS).where(RUN_CHECKS.c.run_id.in_(chunk))
                                       .order_by(RUN_CHECKS.c.name)).mappings():
                    checks[cr["run_id"]].append(CheckRow(cr["name"], cr["verdict"], cr["observed"],
                                                         cr["limit_value"], cr["unit"] or ""))
        return [RunRecord(
            run_key=r["run_key"], run_dir=r["run_dir"], profile=r["profile"], profile_hash=r["profile_hash"],
            seed=r["seed"], verdict=r["verdict"], exit_code=r["exit_code"],
            meta=RunMeta(r["agentsoak_version"], r["host"], r["target_revision"], r["started_at"], r["ended_at"]),
            metrics=metrics[r["id"]], checks=tuple(checks[r["id"]]), recorded_at=r["recorded_at"],
        ) for r in rows]


def _chunks(values: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]
