"""Put N concurrent connections through the embedded proxy and count how many hold.

    python -m faults.soak --connections 10000 --workers 2

Starts the embedded server (``--workers`` data-plane processes), a loopback echo server and
client processes. Each process holds at most ~10,000 descriptors: 10,000 client sockets are split
over ``--clients`` processes, the proxy's 20,000 over its workers, and the echo server's
10,000 in one process. Every connection does one echo round trip, all are held open together for
``--hold`` seconds, then each does a second round trip. Bounded by ``--deadline`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from typing import Any

from .client import FaultClient
from .plane import raise_nofile

PAYLOAD = b"0123456789abcdef"


async def _echo_main(port_q: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port_q.put(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


def _echo(port_q: Any) -> None:
    raise_nofile()
    asyncio.run(_echo_main(port_q))


async def _clients_main(port: int, n: int, hold: float, deadline: float, gate: Any, out: Any) -> None:
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    sem = asyncio.Semaphore(256)
    failures: dict[str, int] = {}

    async def one() -> None:
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
                w.write(PAYLOAD)
                await asyncio.wait_for(r.readexactly(len(PAYLOAD)), 30)
                conns.append((r, w))
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), deadline)
    out.put(("opened", len(conns), failures))
    await asyncio.get_running_loop().run_in_executor(None, gate.wait)  # all processes are at full count
    await asyncio.sleep(hold)

    async def check(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        try:
            w.write(PAYLOAD)
            await asyncio.wait_for(r.readexactly(len(PAYLOAD)), 30)
            return True
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return False

    sem2 = asyncio.Semaphore(512)

    async def bounded(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        async with sem2:
            return await check(r, w)

    alive = sum(await asyncio.gather(*(bounded(r, w) for r, w in conns)))
    out.put(("held", alive))
    for _, w in conns:
        w.close()


def _clients(port: int, n: int, hold: float, deadline: float, gate: Any, out: Any) -> None:
    raise_nofile()
    asyncio.run(_clients_main(port, n, hold, deadline, gate, out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m faults.soak", description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2, help="proxy data-plane processes")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds all connections stay open together")
    ap.add_argument("--deadline", type=float, default=120.0, help="give up opening after this many seconds")
    args = ap.parse_args(argv)
    raise_nofile()
    ctx = mp.get_context("spawn")
    port_q, out = ctx.Queue(), ctx.Queue()
    gate = ctx.Event()
    echo = ctx.Process(target=_echo, args=(port_q,), daemon=True)
    echo.start()
    echo_port = port_q.get(timeout=30)
    client = FaultClient.start_embedded(workers=args.workers)
    procs = []
    try:
        proxy = client.create_proxy("soak", f"127.0.0.1:{echo_port}")
        port = int(proxy["listen"].rsplit(":", 1)[1])
        share = [args.connections // args.clients + (i < args.connections % args.clients)
                 for i in range(args.clients)]
        t0 = time.monotonic()
        for n in share:
            p = ctx.Process(target=_clients, args=(port, n, args.hold, args.deadline, gate, out), daemon=True)
            p.start()
            procs.append(p)
        opened, failures = 0, {}
        for _ in procs:
            _, count, fails = out.get(timeout=args.deadline + 60)
            opened += count
            for k, v in fails.items():
                failures[k] = failures.get(k, 0) + v
        open_s = time.monotonic() - t0
        print(f"opened {opened}/{args.connections} connections through the proxy in {open_s:.1f} s"
              f" ({args.workers} proxy workers, {args.clients} client processes)"
              + (f"; failures: {failures}" if failures else ""), flush=True)
        gate.set()
        held = sum(out.get(timeout=args.hold + 120)[1] for _ in procs)
        print(f"held {held}/{args.connections} concurrent connections for {args.hold:.0f} s "
              f"(second echo round trip on each succeeded)", flush=True)
        return 0 if held == args.connections else 1
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        client.close()
        echo.kill()


if __name__ == "__main__":
    sys.exit(main())
