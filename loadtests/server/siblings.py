"""The worker processes of one ``agentsoak serve --workers N``, as each worker sees them: its own
place, the private admin port of every worker, and the admin fan-out.

An admin request reaches whichever worker the kernel hands the connection to. That worker answers
for itself, forwards the same request to every other worker's private admin port (127.0.0.1, a
second listener of the same app) and merges the replies: counts add up (``affected``,
``connections``...), lists join (``clients``), the rest is its own (standing faults are the same on
all). ``wipe_store`` is not forwarded: the store is shared. A request that arrives on a private
port is answered locally only.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["FORWARD_TIMEOUT_S", "LOCAL_ONLY", "Siblings", "merge"]

FORWARD_TIMEOUT_S = 10.0
#: Paths answered by the receiving worker alone.
LOCAL_ONLY = frozenset({"/admin/wipe_store"})
#: Counts that describe the one shared store, so are the same on every worker: never added up.
_SHARED = frozenset({"store_size"})


@dataclass
class Siblings:
    """Worker ``index`` of ``count``; ``admin_ports[i]`` is worker i's private admin port."""

    index: int
    count: int
    admin_ports: tuple[int, ...]
    _session: ClientSession | None = None

    @property
    def own_port(self) -> int:
        return self.admin_ports[self.index]

    def is_private(self, request: web.Request) -> bool:
        """The request came in on this worker's private admin port (a sibling forwarded it)."""
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        return bool(sockname) and sockname[1] == self.own_port

    async def forward(self, request: web.Request, body: bytes) -> list[dict[str, Any]]:
        """The replies of every other worker to the same request (its status must be 200)."""
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=FORWARD_TIMEOUT_S))
        session = self._session

        async def one(port: int) -> dict[str, Any]:
            url = f"http://127.0.0.1:{port}{request.path}"
            async with session.request(request.method, url, data=body) as resp:
                reply = json.loads(await resp.read())
                if resp.status != 200:
                    raise web.HTTPBadGateway(text=json.dumps({"error": f"worker on {port}: {reply}"}),
                                             content_type="application/json")
                return reply

        others = [p for i, p in enumerate(self.admin_ports) if i != self.index]
        return list(await asyncio.gather(*(one(p) for p in others)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def merge(own: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """One reply from every worker's: integers add up, lists join, anything else is ``own``'s."""
    out = dict(own)
    for key, value in own.items():
        if key in _SHARED:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value + sum(int(o.get(key) or 0) for o in others)
        elif isinstance(value, list):
            out[key] = value + [x for o in others for x in (o.get(key) or [])]
    return out


def worker_stats(reply: dict[str, Any], siblings: Siblings | None) -> dict[str, Any]:
    """``/admin/stats`` of one worker: its pid, and its index when there are several."""
    mine = {"pid": os.getpid(), "connections": reply.get("connections", 0)}
    if siblings is not None:
        mine["index"] = siblings.index
    return {**reply, "workers": [mine]}
