"""The master collects its workers' ledger files into its run directory when the test stops.

Each Locust worker writes its own ledger file (``ledger/<role>-<pid>.jsonl.zst`` in its own run
directory, on its own machine). At ``test_stop`` the master (:func:`collect`) sends every worker
``agentsoak_ledger_collect``; the worker stops its users (so its last events are written), closes
its ledger and sends the file back in ``agentsoak_ledger_part`` messages (Locust's custom
messages), which the master writes into ``<run>/ledger/`` under the same name. A worker whose
ledger directory *is* the master's (``--processes`` on one box, or a shared volume: the same kernel
boot and the same device and inode) sends nothing but "in place". A file the master already holds by
that name is kept as it is, so a run's ledger files stay unique by name.

:func:`install` registers the messages; call it from Locust's ``init`` event in every process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .run_state import runner_kind

__all__ = ["COLLECT_TIMEOUT_S", "CollectResult", "boot_id", "collect", "install"]

COLLECT = "agentsoak_ledger_collect"
PART = "agentsoak_ledger_part"
CHUNK = 512 * 1024  # one message's payload; ZeroMQ carries it whole
#: how long the master waits for every worker's file, beyond Locust's ``--stop-timeout``
COLLECT_TIMEOUT_S = 60.0

_MISSING = "missing"  # locust.runners.STATE_MISSING (not imported: importing locust patches for gevent)

log = logging.getLogger(__name__)


def boot_id() -> str | None:
    """This kernel's boot id: two processes with the same one share ``CLOCK_MONOTONIC`` and inodes."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _dir_key(path: Path) -> list[Any]:
    st = os.stat(path)
    return [boot_id(), st.st_dev, st.st_ino]


@dataclass
class CollectResult:
    """What one collection got: per worker id, ``copied``, ``in place``, ``kept`` (already there) or
    ``gone`` (died first); ``missing``: the workers whose file did not come."""

    outcome: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass
class _Incoming:
    """The master's side of one collection: files being received, and who is done."""

    ledger_dir: Path
    expected: set[str]
    outcome: dict[str, str] = field(default_factory=dict)
    files: dict[str, BinaryIO | None] = field(default_factory=dict)  # per worker; None: skipping a kept file
    done: threading.Event = field(default_factory=threading.Event)

    def part(self, node: str, data: dict[str, Any]) -> None:
        if node not in self.expected or node in self.outcome:
            return
        if data.get("in_place"):
            self._finish(node, "in place")
            return
        name = os.path.basename(str(data["name"]))
        if data["seq"] == 0:
            target = self.ledger_dir / name
            self.files[node] = None if target.exists() else open(target, "xb")  # noqa: SIM115 - closed below
        fh = self.files.get(node)
        if fh is not None:
            fh.write(data["data"])
        if data["last"]:
            if fh is not None:
                fh.close()
            self._finish(node, "copied" if fh is not None else "kept")

    def _finish(self, node: str, how: str) -> None:
        self.outcome[node] = how
        if self.expected <= set(self.outcome):
            self.done.set()

    def close(self) -> None:
        for fh in self.files.values():
            if fh is not None and not fh.closed:
                fh.close()  # a file cut short still reads up to its last whole segment


_INCOMING: dict[int, _Incoming] = {}


def install(environment: Any) -> None:
    """Register the collection messages on ``environment``'s runner (master: parts; worker: requests)."""
    runner = environment.runner
    kind = runner_kind(environment)
    if kind == "MasterRunner" and PART not in runner.custom_messages:
        def on_part(environment: Any, msg: Any, **_kw: Any) -> None:
            incoming = _INCOMING.get(id(environment))
            if incoming is not None:
                incoming.part(msg.node_id, msg.data)

        runner.register_message(PART, on_part)
    elif kind == "WorkerRunner" and COLLECT not in runner.custom_messages:
        # concurrent: stopping the users takes up to --stop-timeout, and the worker must keep
        # receiving (heartbeats) meanwhile
        runner.register_message(COLLECT, _send_ledger, concurrent=True)


def collect(environment: Any, ledger_dir: str | os.PathLike[str], timeout_s: float | None = None) -> CollectResult:
    """On the master: ask every worker for its ledger and wait (bounded) until each has sent it."""
    runner = environment.runner
    workers = {c.id for c in runner.clients.values() if _alive(runner, c.id)}
    if not workers:
        return CollectResult()
    ledger_dir = Path(ledger_dir)
    incoming = _INCOMING[id(environment)] = _Incoming(ledger_dir, workers)
    if timeout_s is None:
        timeout_s = float(getattr(environment, "stop_timeout", 0) or 0) + COLLECT_TIMEOUT_S
    try:
        key = _dir_key(ledger_dir)
        for worker in sorted(workers):
            runner.send_message(COLLECT, {"dir": key}, client_id=worker)
        deadline = time.monotonic() + timeout_s
        while not incoming.done.wait(0.1) and time.monotonic() < deadline:
            gone = {w for w in incoming.expected - set(incoming.outcome) if not _alive(runner, w)}
            for worker in gone:  # it died (or quit): what it flushed, if anyone copies it, is all there is
                incoming.outcome[worker] = "gone"
            if gone and incoming.expected <= set(incoming.outcome):
                break
    finally:
        _INCOMING.pop(id(environment), None)
        incoming.close()
    missing = sorted(w for w in workers if incoming.outcome.get(w, "gone") == "gone")
    if missing:
        log.error("no ledger from worker(s) %s within %.0f s; the report lacks their events",
                  ", ".join(missing), timeout_s)
    return CollectResult(outcome=dict(incoming.outcome), missing=missing)


def _alive(runner: Any, worker: str) -> bool:
    """The master still counts ``worker`` (Locust marks one ``missing`` after its missed heartbeats)."""
    client = runner.clients.get(worker)
    return client is not None and client.state != _MISSING


def _send_ledger(environment: Any, msg: Any, **_kw: Any) -> None:
    """On a worker: stop the users, close the ledger, send it to the master (or say it is in place)."""
    from .run_state import state_for

    runner = environment.runner
    runner.stop()  # fires test_stop here: the worker's last events are written
    state = state_for(environment)
    path = getattr(state.sink, "path", None)
    close = getattr(state.sink, "close", None)
    if close is not None:
        close()
    if path is None:
        runner.send_message(PART, {"in_place": True})  # no ledger file: nothing to send
        return
    path = Path(path)
    if _dir_key(path.parent) == list(msg.data["dir"]):
        runner.send_message(PART, {"in_place": True})
        return
    seq = 0
    with open(path, "rb") as fh:
        chunk = fh.read(CHUNK)
        while True:
            following = fh.read(CHUNK)
            runner.send_message(PART, {"name": path.name, "seq": seq, "data": chunk, "last": not following})
            if not following:
                break
            chunk, seq = following, seq + 1
