"""The admin API of docs/admin-api.md: protocol faults on live connections, loopback peers only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from faults import server_admin as client
from faults.loopback import is_loopback

from .fault_modes import Leak, Refuse, Stall, WrongState
from .siblings import LOCAL_ONLY, merge, worker_stats
from .state import LiveSession, ServerState

__all__ = ["add_admin_routes", "CLOSE_CODES", "REFUSE_STATUSES"]

# what the admin client (and so a profile) may ask for; the server also takes spec §11's 403 and 500
CLOSE_CODES = client.CLOSE_CODES
REFUSE_STATUSES = client.REFUSE_STATUSES | {403, 500}
STALL_WHERE = client.STALL_WHERE

Handler = Callable[[web.Request, ServerState, dict[str, Any]], Awaitable[dict[str, Any]]]


class _BadBody(Exception):
    pass


def _share(body: dict[str, Any]) -> float:
    share = body.get("share", 1.0)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise _BadBody(f"share: expected a number between 0 and 1, got {share!r}")
    return float(share)


def _one_of(body: dict[str, Any], key: str, allowed: frozenset[Any]) -> Any:
    value = body.get(key)
    try:
        ok = not isinstance(value, bool) and value in allowed  # ``true`` is not 1
    except TypeError:  # a list or an object: not hashable, so not allowed
        ok = False
    if not ok:
        raise _BadBody(f"{key}: expected one of {sorted(allowed)}, got {value!r}")
    return value


def _number(body: dict[str, Any], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _BadBody(f"{key}: expected a number >= 0, got {value!r}")
    return float(value)


async def _stats(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    return worker_stats({
        "connections": len(state.sessions),
        "responses": state.responses,
        "events_sent": state.events_sent,
        "turns_in_flight": state.turns_in_flight,
        "store_size": len(state.store),
        "faults": state.faults.to_dict(),
    }, state.siblings)


def _spawn(state: ServerState, coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    state.background.add(task)
    task.add_done_callback(state.background.discard)


def _agents(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The ``agents`` a fault is aimed at (agent ids as their connections name them), or None."""
    agents = body.get("agents")
    if agents is None:
        return None
    if not isinstance(agents, list) or not all(isinstance(a, str) and a for a in agents):
        raise _BadBody(f"agents: expected a list of agent ids such as 'agent-0007', got {agents!r}")
    return tuple(agents)


def _live(state: ServerState, body: dict[str, Any]) -> list[LiveSession]:
    """The live sessions a picking fault draws from: all of them, or only those of ``agents``."""
    agents = _agents(body)
    live = state.live_sessions()
    return live if agents is None else [s for s in live if s.agent in agents]


def _clients(hit: list[LiveSession]) -> list[str]:
    """The client ids of the hit sessions that named one (``X-Agentsoak-Conn``), for the ledger."""
    return [s.client for s in hit if s.client is not None]


async def _close(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    code = _one_of(body, "code", CLOSE_CODES)
    hit = state.faults.pick(_live(state, body), _share(body))
    for session in hit:  # reply at once; close handshakes finish in the background
        _spawn(state, session.close(int(code)))
    return {"affected": len(hit), "clients": _clients(hit)}


async def _limit(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    hit = state.faults.pick([s for s in _live(state, body) if not s.expired], _share(body))
    expired = [s for s in hit if s.expire("unsolicited")]
    return {"affected": len(expired), "clients": _clients(expired)}


async def _evict(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    hit = state.faults.pick(_live(state, body), _share(body))
    for session in hit:
        session.evict()
    return {"affected": len(hit), "clients": _clients(hit)}


async def _wipe_store(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    return {"affected": state.store.clear()}


async def _stall_on(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    where = _one_of(body, "where", STALL_WHERE)
    state.faults.stall = Stall(where=where, ms=_number(body, "ms", 3000), share=_share(body))
    return {"active": True}


async def _stall_off(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.stall = None
    return {"active": False}


async def _refuse_on(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    status = _one_of(body, "status", REFUSE_STATUSES)
    state.faults.refuse = Refuse(
        status=int(status), retry_after_s=_number(body, "retry_after_s", 5), share=_share(body)
    )
    return {"active": True}


async def _refuse_off(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.refuse = None
    return {"active": False}


async def _leak_on(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    size = body.get("bytes", 65536)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 64 * 2**20:
        raise _BadBody(f"bytes: expected an integer from 0 to {64 * 2**20} (64 MiB), got {size!r}")
    state.faults.leak = Leak(bytes=size)
    return {"active": True}


async def _leak_off(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.leak = None
    return {"active": False, "buffers": len(state.faults.leaked)}


async def _wrong_state_on(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    connection, metadata, turns = body.get("connection"), body.get("metadata"), body.get("turns")
    if connection is not None and not isinstance(connection, str):
        raise _BadBody(f"connection: expected a connection id such as 'c1', got {connection!r}")
    if metadata is not None and (not isinstance(metadata, dict) or not metadata):
        raise _BadBody(f"metadata: expected a non-empty object, got {metadata!r}")
    if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int) or turns < 1):
        raise _BadBody(f"turns: expected an integer >= 1, got {turns!r}")
    hit: list[LiveSession] = []
    if connection is not None:
        targets: tuple[str, ...] | None = (connection,)
        hit = [s for s in state.live_sessions() if s.id == connection]
    elif metadata is None or "share" in body or "agents" in body:
        hit = state.faults.pick(_live(state, body), _share(body))  # ``agents``: only theirs
        targets = tuple(s.id for s in hit)
    else:
        targets = None  # metadata alone: any connection, also later ones
    state.faults.wrong = WrongState(connections=targets, metadata=metadata, turns=turns)
    state.faults.wrong_served = 0
    return {"active": True, "connections": list(targets) if targets is not None else None,
            "clients": _clients(hit)}


async def _wrong_state_off(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.wrong = None
    return {"active": False, "served": state.faults.wrong_served}


async def _reset(request: web.Request, state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    state.faults.reset()
    return {}


def _route(
    key: web.AppKey[ServerState], handler: Handler | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        if not is_loopback(request.remote):
            return web.json_response({"error": "the admin API answers loopback peers only"}, status=403)
        if handler is None:
            return web.json_response({"error": f"no admin route {request.method} {request.path}"}, status=404)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return web.json_response({"error": "body: invalid JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body: expected a JSON object"}, status=400)
        state = request.app[key]
        try:
            reply = await handler(request, state, body)
        except _BadBody as exc:
            return web.json_response({"error": str(exc)}, status=400)
        siblings = state.siblings
        if siblings is not None and request.path not in LOCAL_ONLY and not siblings.is_private(request):
            reply = merge(reply, await siblings.forward(request, raw))  # every worker acts, one reply
        return web.json_response(reply)

    return route


def add_admin_routes(app: web.Application, key: web.AppKey[ServerState]) -> None:
    """Register ``/admin/*`` on ``app``; unknown admin paths get a JSON 404."""
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/admin/stats", _stats),
        ("POST", "/admin/close", _close),
        ("POST", "/admin/limit", _limit),
        ("POST", "/admin/evict", _evict),
        ("POST", "/admin/wipe_store", _wipe_store),
        ("POST", "/admin/stall", _stall_on),
        ("DELETE", "/admin/stall", _stall_off),
        ("POST", "/admin/refuse", _refuse_on),
        ("DELETE", "/admin/refuse", _refuse_off),
        ("POST", "/admin/leak", _leak_on),
        ("DELETE", "/admin/leak", _leak_off),
        ("POST", "/admin/wrong_state", _wrong_state_on),
        ("DELETE", "/admin/wrong_state", _wrong_state_off),
        ("POST", "/admin/reset", _reset),
    ]
    for method, path, handler in table:
        app.router.add_route(method, path, _route(key, handler))
    app.router.add_route("*", "/admin/{tail:.*}", _route(key, None))
