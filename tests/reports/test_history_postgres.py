"""Run history on a real PostgreSQL server that the test starts itself (Debian's ``postgresql``).

The server is initialised in a temporary folder, listens on a free loopback port with its unix socket
in that folder, and is stopped and removed after the module, whatever happened. PostgreSQL refuses
to run as root, so as root it runs as ``nobody`` (through ``runuser``). The module skips only when
the PostgreSQL binaries are absent.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.reports.test_history import check_store_contract, run_cli


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


INITDB, PG_CTL = _pg_bin("initdb"), _pg_bin("pg_ctl")
pytestmark = pytest.mark.skipif(not (INITDB and PG_CTL),
                                reason="PostgreSQL server binaries (initdb, pg_ctl) are not installed "
                                       "(Debian: apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """postgresql://agentsoak@127.0.0.1:PORT/postgres of a fresh, throwaway server."""
    root = Path(tempfile.mkdtemp(prefix="agentsoak-pg-"))  # not under pytest's 0700 root-only tmp tree
    as_user: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root and no runuser to start PostgreSQL as an unprivileged user")
        shutil.chown(root, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    data, log = root / "data", root / "server.log"

    def pg(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*as_user, *argv], capture_output=True, text=True, timeout=timeout, cwd=root)

    started = False
    try:
        init = pg(INITDB, "-D", str(data), "-A", "trust", "-U", "agentsoak", "-E", "UTF8", "--no-sync")
        assert init.returncode == 0, f"initdb failed: {init.stdout}{init.stderr}"
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            port = _free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
            start = pg(PG_CTL, "-D", str(data), "-l", str(log), "-w", "-t", "30", "-o", opts, "start")
            if start.returncode == 0:
                started = True
                break
        assert started, f"pg_ctl start failed: {start.stdout}{start.stderr}\n{log.read_text() if log.exists() else ''}"
        yield f"postgresql://agentsoak@127.0.0.1:{port}/postgres"
    finally:
        if started:
            pg(PG_CTL, "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _reset(url: str) -> None:
    """Drop the history tables, so each test starts from an empty database."""
    import sqlalchemy as sa

    from reports.history.store import history_url

    engine = sa.create_engine(history_url(url))
    with engine.begin() as conn:
        for table in ("agentsoak_run_metrics", "agentsoak_run_checks", "agentsoak_runs", "agentsoak_history_schema"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def test_postgres_store_contract(postgres_url):
    _reset(postgres_url)
    check_store_contract(postgres_url)


def test_postgres_record_trend_and_gate_commands(postgres_url, make_run, capsys):
    _reset(postgres_url)
    for _ in range(2):
        assert run_cli("history", "record", str(make_run()), "--history", postgres_url) == 0
    assert "in history postgresql+psycopg://agentsoak@127.0.0.1:" in capsys.readouterr().out
    assert run_cli("history", "--history", postgres_url, "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert len(doc["runs"]) == 2 and doc["runs"][0]["metrics"]["reconnect_p99_ms"] == 750.0
    assert run_cli("gate", str(make_run()), "--history", postgres_url) == 3
    assert "insufficient history: 2 of 5 runs" in capsys.readouterr().out
    assert run_cli("gate", str(make_run(lost=("a1-2", 4))), "--history", postgres_url, "--min-history", "2") == 1
    assert "gate REGRESSION: lost_turns regressed" in capsys.readouterr().out
