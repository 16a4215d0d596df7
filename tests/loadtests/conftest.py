"""Shared fixtures for loadtests tests: the reference server as a real process on 127.0.0.1.

``reference_server(**flags)`` (a fixture returning a factory) starts ``python -m loadtests.server
--port 0`` with ``flags`` turned into ``--kebab-case`` options (``True`` → bare flag, ``False``/``None``
→ omitted, lists → repeated), learns the port from the first stdout line, and kills every server it
started at teardown. The returned :class:`ServerProcess` has ``url`` (ws://…/v1/responses),
``http_url``, ``port``, ``proc``, ``stop()``, ``kill()``, ``restart()`` (same port), ``admin()`` and
``log_text()``. Outside pytest, ``with ServerProcess.start(**flags) as server:`` does the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.child import Child

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0


def server_argv(flags: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for name, value in flags.items():
        opt = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(opt)
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [opt, str(v)]
        else:
            argv += [opt, str(value)]
    return argv


class ServerProcess:
    """A reference server subprocess on 127.0.0.1 (a :class:`faults.child.Child`, one log across restarts)."""

    def __init__(self, flags: dict[str, Any], *, env: dict[str, str] | None = None) -> None:
        self.flags = dict(flags)
        self.env = env
        self.port: int = int(self.flags.pop("port", 0))
        self.host: str = str(self.flags.pop("host", "127.0.0.1"))
        self.child: Child | None = None
        fd, self.log_path = tempfile.mkstemp(prefix="agentsoak-server-", suffix=".log")
        os.close(fd)

    @classmethod
    def start(cls, *, env: dict[str, str] | None = None, **flags: Any) -> ServerProcess:
        server = cls(flags, env=env)
        server._spawn()
        return server

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.child is None else self.child.proc

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/responses"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "loadtests.server", "--host", self.host, "--port", str(self.port)]
        argv += server_argv(self.flags)
        self.child = Child.start("reference server", argv, ready="listening on http://", log_path=self.log_path,
                                 timeout=START_TIMEOUT_S, env=self.env)
        self.port = int(self.child.ready_line.rsplit(":", 1)[1])

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (graceful: live sockets get Close 1001), then SIGKILL if needed."""
        return None if self.child is None else self.child.stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL: every socket drops without a Close frame."""
        return None if self.child is None else self.child.kill()

    def restart(self) -> ServerProcess:
        """Stop and start again on the same port (a fresh store and fresh connection state)."""
        if self.child is not None:
            self.child.close()
        self._spawn()
        return self

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Call the admin API; returns (status, JSON reply)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.http_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.close()
        Path(self.log_path).unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def reference_server() -> Iterator[Any]:
    """Factory: ``reference_server(**flags)`` starts a server; all are killed at teardown."""
    started: list[ServerProcess] = []

    def start(*, env: dict[str, str] | None = None, **flags: Any) -> ServerProcess:
        server = ServerProcess.start(env=env, **flags)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


# -- websocket-client helpers for driving the server from tests (import from tests.loadtests.conftest) --

TERMINAL = ("response.completed", "response.incomplete", "response.failed", "response.done")


def connect(server: ServerProcess, *, headers: list[str] | None = None, timeout: float = 5.0) -> Any:
    """A websocket-client connection to ``server``'s ``/v1/responses``."""
    import websocket

    return websocket.create_connection(server.url, timeout=timeout, header=headers or [])


def send_create(ws: Any, **body: Any) -> None:
    """Send one ``response.create`` (``input`` defaults to a short user message)."""
    body.setdefault("model", "gpt-5.2")
    body.setdefault("input", "hello")
    ws.send(json.dumps({"type": "response.create", **body}))


def recv_event(ws: Any) -> dict[str, Any]:
    text = ws.recv()
    assert isinstance(text, str) and text, f"expected a text frame, got {text!r}"
    return json.loads(text)


def recv_turn(ws: Any) -> list[dict[str, Any]]:
    """Events of one turn, up to and including its terminal event or ``error`` envelope."""
    events = []
    for _ in range(100_000):
        event = recv_event(ws)
        events.append(event)
        if event["type"] in TERMINAL or event["type"] == "error":
            return events
    raise AssertionError("no terminal event within 100000 events")


def recv_close(ws: Any) -> int | None:
    """Read frames until a Close frame; returns its code (None: empty payload)."""
    import websocket

    for _ in range(100_000):
        frame = ws.recv_data_frame(True)[1]
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
    raise AssertionError("no Close frame")


def run_turn(ws: Any, **body: Any) -> list[dict[str, Any]]:
    send_create(ws, **body)
    return recv_turn(ws)


@pytest.fixture
def make_bundle():
    """make_bundle(tmp_path) -> the bundle directory of a small failing run (reports' builder; no runs)."""
    from faults.identity import agent_name
    from reports.report import build_report
    from reports.repro import write_bundles
    from tests.reports import builder

    def make(tmp_path):
        old = builder.agent_id
        builder.agent_id = lambda i: agent_name(i + 1)
        try:
            run = builder.build(tmp_path / "run", builder.Scenario(mismatch=("agent-0002", 5)))
        finally:
            builder.agent_id = old
        (where,) = write_bundles(build_report(run))
        return where

    return make
