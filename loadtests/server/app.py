"""The aiohttp application: ``GET /v1/responses`` (auth, refusal faults, upgrade), ``POST /v1/responses``
(the HTTP transport, ``http_api.py``) and the admin routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from loadtests.protocol import error_envelope

from .admin import add_admin_routes
from .config import ServerConfig
from .fault_modes import client_of
from .http_api import post_responses
from .session import Session
from .siblings import Siblings
from .state import ServerState
from .store import ResponseStore

__all__ = ["BACKLOG", "STATE_KEY", "WORKER_HEADER", "build_app", "serve"]

log = logging.getLogger("agentsoak.server")

STATE_KEY: web.AppKey[ServerState] = web.AppKey("agentsoak_state", ServerState)
BACKLOG = 4096  # accept queue, as the proxy's (aiohttp's default is 128: a reconnect storm overflows it)
WORKER_HEADER = "X-Agentsoak-Worker"  # the pid of the process that took the upgrade
MAX_FRAME_BYTES = 64 * 1024 * 1024  # full-input chains resend whole histories
CLOSE_TIMEOUT_S = 2.0
WS_VERSION = "13"  # the only version RFC 6455 defines  # how long a server-side Close waits for the peer's Close


def _http_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An HTTP error body: the ``error`` object of the §4 envelope, as the REST API sends it."""
    err_type = "invalid_request_error" if status < 500 else "server_error"
    envelope = error_envelope(code, message, status=status, error_type=err_type)
    return web.json_response({"error": envelope.to_dict()["error"]}, status=status, headers=headers)


def _authorized(config: ServerConfig, header: str | None) -> bool:
    if not config.api_keys:
        return True
    scheme, _, key = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    key = key.strip().encode()
    # compare with every key, so timing does not reveal which one matched
    return any([hmac.compare_digest(key, k.encode()) for k in config.api_keys])


async def responses_handler(request: web.Request) -> web.StreamResponse:
    """Upgrade to the WebSocket of spec §1 and serve it."""
    state = request.app[STATE_KEY]
    config = state.config
    refuse = state.faults.draw_refuse(client_of(request.headers))
    if refuse is not None:
        headers = {"Retry-After": str(math.ceil(refuse.retry_after_s))} if refuse.status == 429 else None
        log.info("refused upgrade from %s with %d (fault)", request.remote, refuse.status)
        return _http_error(
            refuse.status, "upgrade_refused", f"Upgrade refused ({refuse.status}, injected fault).", headers
        )
    if not _authorized(config, request.headers.get("Authorization")):
        return _http_error(401, "invalid_api_key", "Missing or invalid API key in the Authorization header.")
    upgrade = request.headers.get("Upgrade", "").strip().lower() == "websocket"
    version = request.headers.get("Sec-WebSocket-Version", "").strip()
    if upgrade and version != WS_VERSION:
        # RFC 6455 §4.2.2: 426 naming the version we speak (aiohttp alone would accept 7 and 8)
        return _http_error(
            426,
            "unsupported_websocket_version",
            f"Sec-WebSocket-Version {version or '(missing)'} is not supported; use {WS_VERSION}.",
            {"Sec-WebSocket-Version": WS_VERSION},
        )
    ws = web.WebSocketResponse(
        heartbeat=config.ping_interval_s,
        compress=config.compression,
        max_msg_size=MAX_FRAME_BYTES,
        timeout=CLOSE_TIMEOUT_S,
    )
    ws.headers[WORKER_HEADER] = str(os.getpid())
    if not ws.can_prepare(request).ok:
        return _http_error(
            426, "upgrade_required", "GET /v1/responses needs a WebSocket upgrade.", {"Upgrade": "websocket"}
        )
    beta = request.headers.get("OpenAI-Beta")
    if beta:
        log.debug("OpenAI-Beta: %s", beta)  # spec §1: accepted, logged, changes nothing
    await ws.prepare(request)
    state.faults.leak_connection()
    await Session(state, ws, request).run()
    return ws


async def responses_post_handler(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses`` (spec §9): auth as for the upgrade; refusal faults apply to upgrades only,
    so a client that falls back to HTTP after a 426 gets through."""
    state = request.app[STATE_KEY]
    if not _authorized(state.config, request.headers.get("Authorization")):
        return _http_error(401, "invalid_api_key", "Missing or invalid API key in the Authorization header.")
    return await post_responses(request, state)


async def _close_all(app: web.Application) -> None:
    sessions = list(app[STATE_KEY].sessions.values())
    await asyncio.gather(*(s.close(1001) for s in sessions), return_exceptions=True)


async def _close_siblings(app: web.Application) -> None:
    siblings = app[STATE_KEY].siblings
    if siblings is not None:
        await siblings.close()


def build_app(
    config: ServerConfig, *, store: ResponseStore | None = None, siblings: Siblings | None = None
) -> web.Application:
    """The whole server as one application (WebSocket endpoint and admin API on one port); ``store``
    and ``siblings`` for one worker of several (``workers.py``)."""
    app = web.Application()
    state = ServerState(config, store=store, siblings=siblings)
    app[STATE_KEY] = state
    app.router.add_get("/v1/responses", responses_handler)
    app.router.add_post("/v1/responses", responses_post_handler)
    add_admin_routes(app, STATE_KEY)
    app.on_shutdown.append(_close_all)
    app.on_cleanup.append(_close_siblings)
    return app


async def serve(
    config: ServerConfig,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    sock: socket.socket | None = None,
    admin_sock: socket.socket | None = None,
    store: ResponseStore | None = None,
    siblings: Siblings | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``); ``ready`` gets ``http://host:port`` once listening.

    A worker of several gets its listening ``sock`` (instead of binding ``config.host:port``), its
    private ``admin_sock``, the shared ``store`` and its ``siblings``.
    """
    app = build_app(config, store=store, siblings=siblings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    if sock is not None:
        site: web.BaseSite = web.SockSite(runner, sock, backlog=BACKLOG)
    else:
        site = web.TCPSite(runner, config.host, config.port, backlog=BACKLOG)
    await site.start()
    if admin_sock is not None:
        await web.SockSite(runner, admin_sock).start()
    bound = site._server.sockets[0]  # type: ignore[union-attr]
    host, port = bound.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    log.info(
        "listening on %s%s seed=%d lifetime=%ss tokens_per_s=%s auth=%s",
        url,
        "" if siblings is None else f" worker={siblings.index + 1}/{siblings.count} pid={os.getpid()}",
        app[STATE_KEY].seed,
        config.connection_lifetime_s,
        config.tokens_per_s,
        "on" if config.api_keys else "off",
    )
    if ready is not None:
        ready(url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
