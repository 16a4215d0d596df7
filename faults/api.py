"""Toxiproxy's HTTP API served by aiohttp: routes, status codes, bodies and headers (spec §1-2).

One catch-all handler does the routing so the framing matches Go's gorilla/mux exactly: unknown
paths (a trailing ``/`` included) get ``404 page not found`` and known paths with the wrong
method an empty 405, both without a request id; browsers get 403.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .decode import dumps, parse_body
from .errors import ApiError
from .installed import find_toxic
from .state import Collection

__all__ = ["make_app", "VERSION"]

VERSION = "2.12.0"
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_MACHINE = os.urandom(3)


def request_id() -> str:
    """A 20-character xid: time, machine, pid and counter in lowercase base32hex."""
    raw = (int(time.time()).to_bytes(4, "big") + _MACHINE + (os.getpid() & 0xFFFF).to_bytes(2, "big")
           + (next(_counter) & 0xFFFFFF).to_bytes(3, "big"))
    return base64.b32hexencode(raw).decode().rstrip("=").lower()


def _json(status: int, value: Any) -> web.Response:
    return web.Response(status=status, body=dumps(value), headers={"Content-Type": _JSON})


def _empty() -> web.Response:
    return web.Response(status=204)


def error_response(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"error": exc.message, "status": exc.status}
    if hasattr(exc, "proxies"):
        body["proxies"] = exc.proxies
    return web.Response(status=exc.status, body=dumps(body) + b"\n",
                        headers={"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"})


Handler = Callable[..., Awaitable[web.Response]]


class Api:
    """Route table and handlers over one ``Collection``."""

    def __init__(self, collection: Collection, version: str = VERSION) -> None:
        self.c = collection
        self.version = version
        P, T = r"(?P<p>[^/]+)", r"(?P<t>[^/]+)"
        self.routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/proxies"), {"GET": self.list_proxies, "POST": self.create_proxy}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (re.compile(rf"/proxies/{P}"), {"GET": self.get_proxy, "POST": self.update_proxy,
                                            "PATCH": self.update_proxy, "DELETE": self.delete_proxy}),
            (re.compile(rf"/proxies/{P}/toxics"), {"GET": self.list_toxics, "POST": self.create_toxic}),
            (re.compile(rf"/proxies/{P}/toxics/{T}"), {"GET": self.get_toxic, "POST": self.update_toxic,
                                                       "PATCH": self.update_toxic, "DELETE": self.delete_toxic}),
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/version"), {"GET": self.get_version}),
        ]

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        for pattern, methods in self.routes:
            m = pattern.fullmatch(request.path)
            if m is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return web.Response(status=405)
            rid = request_id()
            if request.headers.get("User-Agent", "").startswith("Mozilla/"):
                resp = web.Response(status=403, body=b"User agent not allowed\n",
                                    headers={"Content-Type": "text/plain"})
            else:
                try:
                    resp = await handler(request, **m.groupdict())
                except ApiError as exc:
                    resp = error_response(exc)
                except Exception as exc:  # noqa: BLE001 - a reply, never a traceback
                    resp = error_response(ApiError(500, f"{type(exc).__name__}: {exc}"))
            resp.headers["X-Toxiproxy-Request-Id"] = rid
            return resp
        return web.Response(status=404, body=b"404 page not found\n", headers={"Content-Type": _TEXT})

    @staticmethod
    async def _body(request: web.Request) -> Any:
        return parse_body(await request.read())

    async def list_proxies(self, request: web.Request) -> web.Response:
        return _json(200, {n: r.to_json() for n, r in self.c.proxies.items()})

    async def create_proxy(self, request: web.Request) -> web.Response:
        return _json(201, await self.c.create(await self._body(request)))

    async def populate(self, request: web.Request) -> web.Response:
        try:
            return _json(201, {"proxies": await self.c.populate(await self._body(request))})
        except ApiError as exc:
            # Toxiproxy 2.12.0 puts the proxies made so far in every populate error body, [] when none.
            if not hasattr(exc, "proxies"):
                exc.proxies = []  # type: ignore[attr-defined]
            raise

    async def get_proxy(self, request: web.Request, p: str) -> web.Response:
        return _json(200, self.c.get(p).to_json())

    async def update_proxy(self, request: web.Request, p: str) -> web.Response:
        self.c.get(p)
        return _json(200, await self.c.update(p, await self._body(request)))

    async def delete_proxy(self, request: web.Request, p: str) -> web.Response:
        await self.c.delete(p)
        return _empty()

    async def list_toxics(self, request: web.Request, p: str) -> web.Response:
        rec = self.c.get(p)
        return _json(200, rec.to_json()["toxics"])

    async def create_toxic(self, request: web.Request, p: str) -> web.Response:
        self.c.get(p)
        return _json(200, await self.c.add_toxic(p, await self._body(request)))

    async def get_toxic(self, request: web.Request, p: str, t: str) -> web.Response:
        return _json(200, find_toxic(self.c.get(p).toxics, t).to_json())

    async def update_toxic(self, request: web.Request, p: str, t: str) -> web.Response:
        find_toxic(self.c.get(p).toxics, t)
        return _json(200, await self.c.update_toxic(p, t, await self._body(request)))

    async def delete_toxic(self, request: web.Request, p: str, t: str) -> web.Response:
        await self.c.remove_toxic(p, t)
        return _empty()

    async def reset(self, request: web.Request) -> web.Response:
        await self.c.reset()
        return _empty()

    async def get_version(self, request: web.Request) -> web.Response:
        body = f'{{"version": "{self.version}"}}\n'.encode()
        return web.Response(status=200, body=body, headers={"Content-Type": "application/json;charset=utf-8"})


def make_app(collection: Collection, version: str = VERSION) -> web.Application:
    api = Api(collection, version)
    app = web.Application(client_max_size=16 << 20)
    app.router.add_route("*", "/{tail:.*}", api.dispatch)
    return app
