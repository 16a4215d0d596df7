"""The server-wide store shared by the worker processes of ``agentsoak serve --workers N``: one SQLite
file in WAL mode, with :class:`~loadtests.server.store.ResponseStore`'s interface and semantics.

Why SQLite: the connection core resolves ``previous_response_id`` synchronously (``core._admit``), so
the store must answer without awaiting. SQLite is an in-process call, ordered across processes by
the file's lock, with no store process to supervise or schedule: a response stored by one worker
hydrates on another, ``wipe_store`` is one ``DELETE`` seen by all. Most turns only write (a cache hit
never reads the store); ``benchmarks/bench_store.py`` measures the cost per turn against the
in-process LRU.

The LRU is exact: ``meta.clock`` stamps every put and every hit into ``used``, ``meta.n`` counts the
entries, and a put past ``capacity`` deletes the least recently used. ``synchronous=OFF``: the store
is a test server's memory and need not survive the machine, only the process. The file lives in
/dev/shm when there is one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .store import ContextEntry

__all__ = ["SharedStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    response_id TEXT PRIMARY KEY, digest_after TEXT NOT NULL, tokens INTEGER NOT NULL, used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_used ON entries (used);
CREATE TABLE IF NOT EXISTS meta (k INTEGER PRIMARY KEY CHECK (k = 0), n INTEGER NOT NULL, clock INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES (0, 0, 0);
"""
BUSY_TIMEOUT_S = 10.0  # a writer waits this long for another worker's write (each takes microseconds)


class SharedStore:
    """Bounded LRU in a SQLite file; one instance per process (open it after a fork, never before)."""

    def __init__(self, path: str | Path, capacity: int) -> None:
        self.capacity = capacity
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._db.execute("PRAGMA synchronous=OFF")

    @classmethod
    def create(cls, path: str | Path) -> None:
        """Make the file and its schema (once, before the workers open it)."""
        db = sqlite3.connect(str(path), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT n FROM meta").fetchone()[0])

    def _tick(self) -> int:
        return int(self._db.execute("UPDATE meta SET clock = clock + 1 RETURNING clock").fetchone()[0])

    def put(self, entry: ContextEntry) -> None:
        if self.capacity <= 0:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            used = self._tick()
            added = db.execute(
                "INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?)",
                (entry.response_id, entry.digest_after, entry.tokens, used),
            ).rowcount
            if added:
                n = int(db.execute("UPDATE meta SET n = n + 1 RETURNING n").fetchone()[0])
                if n > self.capacity:
                    db.execute(
                        "DELETE FROM entries WHERE response_id IN "
                        "(SELECT response_id FROM entries ORDER BY used LIMIT ?)",
                        (n - self.capacity,),
                    )
                    db.execute("UPDATE meta SET n = ?", (self.capacity,))
            else:
                db.execute(
                    "UPDATE entries SET digest_after = ?, tokens = ?, used = ? WHERE response_id = ?",
                    (entry.digest_after, entry.tokens, used, entry.response_id),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def get(self, response_id: str) -> ContextEntry | None:
        db = self._db
        row = db.execute(
            "SELECT digest_after, tokens FROM entries WHERE response_id = ?", (response_id,)
        ).fetchone()
        if row is None:
            return None
        db.execute("BEGIN IMMEDIATE")
        try:  # a hit is a use: it moves to the young end, as in the in-process LRU
            db.execute("UPDATE entries SET used = ? WHERE response_id = ?", (self._tick(), response_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return ContextEntry(response_id, row[0], int(row[1]))

    def clear(self) -> int:
        """Drop everything (for every worker); returns how many entries were dropped."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            dropped = db.execute("DELETE FROM entries").rowcount
            db.execute("UPDATE meta SET n = 0")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return int(dropped)
