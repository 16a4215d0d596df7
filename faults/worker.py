"""A data-plane worker process: a ``LocalPlane`` driven over a socketpair by the API process.

It binds its listeners with ``SO_REUSEPORT`` and exits when the API process closes the pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

from .draws import SharedOrdinals
from .errors import ApiError
from .gc_tuning import tune_gc
from .link import log_connections
from .plane import LocalPlane, raise_nofile


async def serve(fd: int, plane: LocalPlane) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
    while line := await reader.readline():
        msg = json.loads(line)
        op, args = msg["op"], msg["args"]
        reply: dict[str, Any] = {"id": msg["id"]}
        try:
            reply["ok"] = await getattr(plane, op)(*args)
        except ApiError as exc:
            reply["error"] = [exc.status, exc.message]
        except Exception as exc:  # noqa: BLE001 - report, never die on one bad command
            reply["error"] = [500, f"{type(exc).__name__}: {exc}"]
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
    await plane.close()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m faults.worker")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ordinals-fd", type=int, default=None, help="the shared connection counters")
    args = ap.parse_args()
    raise_nofile()
    tune_gc()
    log_connections()
    ordinals = SharedOrdinals(args.ordinals_fd) if args.ordinals_fd is not None else None
    plane = LocalPlane(args.seed, shard=args.shard, reuse_port=True, ordinals=ordinals)
    try:
        asyncio.run(serve(args.fd, plane))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
