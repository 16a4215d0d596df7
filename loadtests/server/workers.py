"""``agentsoak serve --workers N``: the reference server as N pre-forked processes on one port.

The parent binds N listening sockets to the same port with ``SO_REUSEPORT`` (each with the 4096
backlog), so the kernel spreads connections evenly over the workers' own accept queues; it also
binds one private admin port per worker (127.0.0.1:0) and creates the shared store
(:class:`~loadtests.server.shared_store.SharedStore`). Then it forks: worker *i* keeps socket *i*,
closes the others, opens the store and serves (``app.serve``). Every listener exists before the
first fork, so the parent prints its ready line at once: connects queue in the kernel until a
worker accepts.

The workers share one seed (drawn here when none is given), so the cost model answers the same on
every worker. A worker dies with its parent (``PR_SET_PDEATHSIG`` SIGKILL: a killed server drops
every socket, as one process would); SIGTERM/SIGINT to the parent stop the workers gracefully
(Close 1001), and a worker that dies on its own stops the rest, with exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from faults.child import tie_to_parent

from .app import BACKLOG, serve
from .config import ServerConfig
from .shared_store import SharedStore
from .siblings import Siblings

__all__ = ["run_workers"]

log = logging.getLogger("agentsoak.server")


def _listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


_STORE_PREFIX = "agentsoak-store-"


def _store_dir() -> str:
    """A fresh directory for the store, named after this pid; first sweeps the ones whose server is
    gone (a server killed with SIGKILL cannot remove its own)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() else Path(tempfile.gettempdir())
    for old in base.glob(f"{_STORE_PREFIX}*"):
        pid = old.name.removeprefix(_STORE_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{_STORE_PREFIX}{os.getpid()}-", dir=str(base))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True


def _worker(index: int, config: ServerConfig, listeners: list[socket.socket], admins: list[socket.socket],
            store_path: str, parent: int) -> int:
    """The body of worker ``index`` (in the forked child)."""
    tie_to_parent(parent, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    siblings = Siblings(index, len(listeners), tuple(s.getsockname()[1] for s in admins))
    for i, sock in enumerate(listeners + admins):
        if i not in (index, len(listeners) + index):
            sock.close()
    store = SharedStore(store_path, config.store_capacity)
    try:
        asyncio.run(serve(config, sock=listeners[index], admin_sock=admins[index], store=store, siblings=siblings))
    finally:
        store.close()
    return 0


def run_workers(config: ServerConfig, workers: int, *, ready: Callable[[str], None] | None = None) -> int:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; returns the exit code."""
    if config.seed is None:
        config = replace(config, seed=random.SystemRandom().randrange(2**32))
    listeners = [_listener(config.host, config.port, reuse_port=True)]
    port = listeners[0].getsockname()[1]
    try:
        listeners += [_listener(config.host, port, reuse_port=True) for _ in range(workers - 1)]
        admins = [_listener("127.0.0.1", 0, reuse_port=False) for _ in range(workers)]
    except OSError:
        for sock in listeners:
            sock.close()
        raise
    store_dir = _store_dir()
    store_path = os.path.join(store_dir, "store.sqlite")
    SharedStore.create(store_path)
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pids: list[int] = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _worker(index, config, listeners, admins, store_path, parent)
            except BaseException:  # noqa: BLE001 - a worker reports and exits, never returns into the parent's code
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    for sock in listeners + admins:
        sock.close()  # the workers hold them now
    host = config.host
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    log.info("%d workers on %s: pids %s, store %s", workers, url, " ".join(map(str, pids)), store_path)
    return _supervise(pids, store_dir, url, ready)


def _supervise(pids: list[int], store_dir: str, url: str, ready: Callable[[str], None] | None) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in live:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    live = set(pids)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        if ready is not None:
            ready(url)
        while live:
            pid, status = os.wait()
            live.discard(pid)
            if not stopping:
                log.error("worker pid %d exited (status %d): stopping the others", pid, status)
                code = 1
                stop(signal.SIGTERM, None)
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)
    return code
