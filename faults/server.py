"""The embedded server process: API + data plane, optionally sharded over worker processes.

``run(...)`` serves until cancelled; ``start_in_thread(...)`` runs one on a background thread
(tests, tools). With ``workers <= 1`` the proxies live in the API process; with ``workers = N``
they are served by N processes sharing each listen port (see ``faults.plane``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .api import VERSION, make_app
from .decode import parse_body
from .errors import ApiError
from .gc_tuning import tune_gc
from .link import log_connections
from .plane import LocalPlane, ShardedPlane, raise_nofile
from .state import Collection

__all__ = ["run", "start_in_thread", "ServerThread"]

READY = "agentsoak proxy: API listening on http://"


async def run(host: str = "127.0.0.1", port: int = 8474, *, config: str | None = None, seed: int | None = None,
              workers: int = 1, version: str = VERSION, ready: Any = None, stop: asyncio.Event | None = None) -> None:
    """Serve the API until ``stop`` is set (or forever); ``ready(url, collection)`` once bound."""
    raise_nofile()
    plane: Any = ShardedPlane(workers, seed) if workers > 1 else LocalPlane(seed)
    collection = Collection(plane, shared_ports=workers > 1)
    runner = web.AppRunner(make_app(collection, version), access_log=None)
    await runner.setup()
    try:
        if config:
            with open(config, "rb") as fh:
                await collection.populate(parse_body(fh.read()))  # toxics in the file are ignored
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        url = f"http://{host}:{bound[1]}"
        if ready is not None:
            ready(url, collection)
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await runner.cleanup()
        await plane.close()


def main(args: Any) -> int:
    """Entry for ``agentsoak proxy`` / ``python -m faults``."""

    log_connections()
    tune_gc()

    def ready(url: str, _: Collection) -> None:
        print(f"{READY}{url[len('http://'):]}", flush=True)

    try:
        asyncio.run(run(args.host, args.port, config=args.config, seed=args.seed, workers=args.workers,
                        version=args.version_string, ready=ready))
    except KeyboardInterrupt:
        return 0
    except (ApiError, OSError, json.JSONDecodeError) as exc:
        print(f"agentsoak proxy: {exc}", file=sys.stderr)
        return 1
    return 0


@dataclass
class ServerThread:
    """An embedded server running on a background thread; ``stop()`` ends it."""

    url: str
    collection: Collection
    loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event
    _thread: threading.Thread

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def start_in_thread(host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> ServerThread:
    """Start ``run`` on a daemon thread and return once the API answers."""
    box: dict[str, Any] = {}
    started = threading.Event()

    def target() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        box["stop"] = asyncio.Event()

        def ready(url: str, collection: Collection) -> None:
            box["url"], box["collection"] = url, collection
            started.set()

        try:
            loop.run_until_complete(run(host, port, ready=ready, stop=box["stop"], **kwargs))
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller below
            box["error"] = exc
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="faults-server", daemon=True)
    thread.start()
    if not started.wait(30) or "error" in box:
        raise RuntimeError(f"embedded server failed to start: {box.get('error')!r}")
    return ServerThread(box["url"], box["collection"], box["loop"], box["stop"], thread)
