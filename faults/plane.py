"""The data plane behind the API: proxies served in this process, or sharded over workers.

The API process (``faults.state``) is the single source of truth and drives a plane through a
handful of async commands. ``LocalPlane`` runs the proxies in-process. ``ShardedPlane`` starts N
worker processes (``python -m faults.worker``), each running a ``LocalPlane`` whose listeners
bind the same port with ``SO_REUSEPORT``, so the kernel spreads accepted connections over them.
Every command is sent to every worker over a socketpair (JSON lines) and waits for all acks, so
an API reply means the change is live everywhere. Port 0 is resolved by worker 0 first; the
others then bind the concrete port.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
from typing import Any

from .child import parent_death_hook
from .draws import LocalOrdinals, SharedOrdinals
from .errors import ApiError
from .installed import Installed
from .proxy import Proxy
from .toxics import make_toxic

__all__ = ["LocalPlane", "ShardedPlane", "raise_nofile"]


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; each proxied connection costs two descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class LocalPlane:
    """Proxies served by this process's event loop."""

    def __init__(self, seed: int | None = None, *, shard: int = 0, reuse_port: bool = False,
                 ordinals: LocalOrdinals | SharedOrdinals | None = None) -> None:
        self.seed, self.shard, self.reuse_port = seed, shard, reuse_port
        self.proxies: dict[str, Proxy] = {}
        self.ordinals = ordinals if ordinals is not None else LocalOrdinals()
        self._created = itertools.count()  # the same in every worker: they get the same commands

    def _get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, "proxy not found") from None

    async def add(self, name: str, listen: str, upstream: str) -> None:
        slot = next(self._created)
        self.proxies[name] = Proxy(name, listen, upstream, seed=self.seed,
                                   ordinal=lambda: self.ordinals.next(slot), reuse_port=self.reuse_port)

    async def start(self, name: str) -> str:
        return await self._get(name).start()

    async def stop(self, name: str) -> None:
        self._get(name).stop()

    async def set_address(self, name: str, listen: str, upstream: str) -> None:
        p = self._get(name)
        p.listen, p.upstream = listen, upstream

    async def set_listen(self, name: str, listen: str) -> None:
        """Point the listener at ``listen`` (the port worker 0 resolved), keeping the upstream."""
        self._get(name).listen = listen

    async def remove(self, name: str) -> None:
        self._get(name).stop()
        del self.proxies[name]

    async def add_toxic(self, name: str, rec: dict[str, Any]) -> None:
        toxic = make_toxic(rec["type"], rec["attributes"])
        self._get(name).add_toxic(Installed(rec["name"], rec["type"], rec["stream"], rec["direction"],
                                            rec["toxicity"], toxic))

    async def update_toxic(self, name: str, toxic: str, toxicity: float, attributes: dict[str, int]) -> None:
        self._get(name).update_toxic(toxic, toxicity, attributes)

    async def remove_toxic(self, name: str, toxic: str) -> None:
        self._get(name).remove_toxic(toxic)

    async def stats(self) -> dict[str, dict[str, int]]:
        return {n: {"active": len(p.conns), "accepted": p.accepted} for n, p in self.proxies.items()}

    async def close(self) -> None:
        for p in self.proxies.values():
            p.stop()


class _Worker:
    def __init__(self, index: int, seed: int | None, ordinals_fd: int) -> None:
        parent, child = socket.socketpair()
        args = [sys.executable, "-m", "faults.worker", "--fd", str(child.fileno()), "--shard", str(index),
                "--ordinals-fd", str(ordinals_fd)]
        if seed is not None:
            args += ["--seed", str(seed)]
        # Tied to the API process twice: EOF on the socketpair, and the parent-death signal.
        self.proc = subprocess.Popen(args, pass_fds=[child.fileno(), ordinals_fd], cwd=_root(),
                                     preexec_fn=parent_death_hook())
        child.close()
        self.sock = parent
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.seq = 0
        self.lock = asyncio.Lock()

    async def call(self, op: str, *args: Any) -> Any:
        async with self.lock:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(sock=self.sock, limit=1 << 24)
            self.seq += 1
            self.writer.write(json.dumps({"id": self.seq, "op": op, "args": args}).encode() + b"\n")
            await self.writer.drain()
            assert self.reader is not None
            line = await self.reader.readline()
        if not line:
            raise ApiError(500, f"worker {self.proc.pid} exited")
        reply = json.loads(line)
        if "error" in reply:
            raise ApiError(*reply["error"])
        return reply.get("ok")


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ShardedPlane:
    """The same commands fanned out to N worker processes sharing each listen port."""

    def __init__(self, workers: int, seed: int | None = None) -> None:
        self._ordinals = tempfile.TemporaryFile(prefix="agentsoak-ordinals-")  # faults.draws.SharedOrdinals
        self.workers = [_Worker(i, seed, self._ordinals.fileno()) for i in range(workers)]

    async def _all(self, op: str, *args: Any) -> list[Any]:
        return list(await asyncio.gather(*(w.call(op, *args) for w in self.workers)))

    async def add(self, name: str, listen: str, upstream: str) -> None:
        await self._all("add", name, listen, upstream)

    async def start(self, name: str) -> str:
        first, rest = self.workers[0], self.workers[1:]
        listen = await first.call("start", name)
        try:
            for w in rest:
                await w.call("set_listen", name, listen)
                await w.call("start", name)
        except ApiError:
            await self._all("stop", name)
            raise
        return listen

    async def stop(self, name: str) -> None:
        await self._all("stop", name)

    async def set_address(self, name: str, listen: str, upstream: str) -> None:
        await self._all("set_address", name, listen, upstream)

    async def remove(self, name: str) -> None:
        await self._all("remove", name)

    async def add_toxic(self, name: str, rec: dict[str, Any]) -> None:
        await self._all("add_toxic", name, rec)

    async def update_toxic(self, name: str, toxic: str, toxicity: float, attributes: dict[str, int]) -> None:
        await self._all("update_toxic", name, toxic, toxicity, attributes)

    async def remove_toxic(self, name: str, toxic: str) -> None:
        await self._all("remove_toxic", name, toxic)

    async def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for part in await self._all("stats"):
            for name, s in part.items():
                agg = out.setdefault(name, {"active": 0, "accepted": 0})
                for k, v in s.items():
                    agg[k] += v
        return out

    async def close(self) -> None:
        for w in self.workers:
            w.sock.close()
        for w in self.workers:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.proc.kill()
        self._ordinals.close()
