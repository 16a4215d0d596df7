"""Runs across machines on Locust's own master/worker engine: ``run --master`` and ``agentsoak worker``.

``agentsoak run PROFILE --master --expect-workers N`` runs what the profile names (target, proxy, the
fault schedule) with a Locust master and no users of its own; ``agentsoak worker --master-host H``
on any machine runs a Locust worker that takes the profile and the agents' URL from that master. The
master binds 127.0.0.1 unless ``--allow-remote`` lets it bind further (the loopback rule), and the
route the agents use listens where ``--agents-listen`` says (on loopback by default). Every worker
writes its own ledger, and the master collects them into its run directory when the test stops
(:mod:`loadtests.ledger_collect`). ``--processes N`` stays the one-box form. See docs/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from faults.child import parent_death_hook
from faults.loopback import is_loopback

__all__ = ["DEFAULT_MASTER_PORT", "MasterOptions", "add_master_options", "master_options", "register_cli",
           "worker_command"]

DEFAULT_MASTER_PORT = 5557  # Locust's
DEFAULT_WORKERS_WAIT_S = 300.0
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class MasterOptions:
    """``run --master``: how many workers to wait for, where to listen for them, and the agents' route."""

    expect_workers: int
    bind_host: str = "127.0.0.1"
    port: int = DEFAULT_MASTER_PORT
    workers_wait_s: float = DEFAULT_WORKERS_WAIT_S
    agents_listen: str | None = None  # host:port of the proxy route (default 127.0.0.1:0)
    agents_url: str | None = None  # the URL workers' agents dial (default: from the route's address)

    def locust_args(self) -> list[str]:
        return ["--master", "--expect-workers", str(self.expect_workers), "--master-bind-host", self.bind_host,
                "--master-bind-port", str(self.port), "--expect-workers-max-wait", f"{self.workers_wait_s:g}"]


def add_master_options(parser: argparse.ArgumentParser) -> None:
    """The ``run`` options of a distributed run."""
    group = parser.add_argument_group("distributed run (docs/distributed.md)")
    group.add_argument("--master", action="store_true",
                       help="run as a Locust master: target, proxy and fault schedule here, agents on the "
                            "`agentsoak worker`s that connect")
    group.add_argument("--expect-workers", type=int, default=None, metavar="N",
                       help="with --master: start the test once N workers are connected")
    group.add_argument("--master-bind-host", default="127.0.0.1", metavar="HOST",
                       help="with --master: the address workers connect to (default 127.0.0.1; any other "
                            "needs --allow-remote)")
    group.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                       help=f"with --master: the port workers connect to (default {DEFAULT_MASTER_PORT})")
    group.add_argument("--workers-wait", type=float, default=DEFAULT_WORKERS_WAIT_S, metavar="SECONDS",
                       help=f"with --master: give up when the workers are not all there after this long "
                            f"(default {DEFAULT_WORKERS_WAIT_S:g})")
    group.add_argument("--agents-listen", default=None, metavar="HOST:PORT",
                       help="with --master: where the proxy route the agents dial listens (default "
                            "127.0.0.1 and a free port; any other host needs --allow-remote)")
    group.add_argument("--agents-url", default=None, metavar="URL",
                       help="with --master: the URL the workers' agents dial, when they reach the route by "
                            "another name (e.g. ws://agentsoak-master:9000/v1/responses)")


def master_options(args: argparse.Namespace) -> MasterOptions | str | None:
    """The ``run`` arguments' :class:`MasterOptions` (None without ``--master``), or why they are wrong."""
    if not getattr(args, "master", False):
        stray = [flag for flag, value in (("--expect-workers", args.expect_workers),
                                          ("--agents-listen", args.agents_listen),
                                          ("--agents-url", args.agents_url)) if value is not None]
        return f"{', '.join(stray)} needs --master" if stray else None
    if args.expect_workers is None or args.expect_workers < 1:
        return "--master needs --expect-workers N (N >= 1)"
    if args.agents_listen is not None and _port(args.agents_listen) is None:
        return f"--agents-listen {args.agents_listen!r}: expected HOST:PORT"
    remote = [f"{flag} {host}" for flag, host in (("--master-bind-host", args.master_bind_host),
                                                  ("--agents-listen", _host(args.agents_listen)))
              if host is not None and not is_loopback(host)]
    if remote and not args.allow_remote:
        return f"{', '.join(remote)} listens beyond loopback; add --allow-remote to mean it"
    if not 0 < args.master_port < 65536:
        return f"--master-port {args.master_port}: expected 1..65535"
    if not args.workers_wait > 0:
        return "--workers-wait: expected seconds above 0"
    if args.agents_listen is not None and _host(args.agents_listen) in ("0.0.0.0", "::", "") \
            and args.agents_url is None:
        return "--agents-listen on every interface needs --agents-url (the address workers dial)"
    return MasterOptions(expect_workers=args.expect_workers, bind_host=args.master_bind_host,
                         port=args.master_port, workers_wait_s=args.workers_wait,
                         agents_listen=args.agents_listen, agents_url=args.agents_url)


def _host(hostport: str | None) -> str | None:
    return None if hostport is None else hostport.rsplit(":", 1)[0].strip("[]")


def _port(hostport: str) -> int | None:
    try:
        port = int(hostport.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
    return port if 0 <= port < 65536 else None


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "worker", help="run Locust worker(s) for an `agentsoak run --master` on another machine",
        description="Connect to the Locust master of `agentsoak run PROFILE --master` and run agents for it: "
                    "the profile, the seed and the agents' URL come from the master. This worker's ledger is "
                    "written to RUN_DIR/ledger/ and sent to the master when the test stops. Ends when the "
                    "master quits.")
    p.add_argument("--master-host", required=True, metavar="HOST", help="the master's address")
    p.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="PORT",
                   help=f"the master's port (default {DEFAULT_MASTER_PORT})")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="Locust worker processes on this machine (default 1; each counts as a worker)")
    p.add_argument("--run-dir", default=None, metavar="DIR",
                   help="where this worker's ledger and logs go (default runs/worker-<UTC>-<host>)")
    p.set_defaults(func=_cmd_worker)


def _safe_host() -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname()) or "host"


def worker_command(master_host: str, master_port: int, run_dir: Path, processes: int = 1) -> list[str]:
    """The Locust command line of ``agentsoak worker``."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", master_host,
           "--master-port", str(master_port), "--agentsoak-run-dir", str(run_dir),
           "--agentsoak-ledger-role", f"locust-{_safe_host()}",
           "--loglevel", "INFO", "--logfile", str(run_dir / "logs" / "locust.log")]
    if processes != 1:
        cmd += ["--processes", str(processes)]
    return cmd


def _cmd_worker(args: argparse.Namespace) -> int:
    if args.processes < 1:
        print("agentsoak: error: --processes: expected N >= 1", file=sys.stderr)
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = Path(args.run_dir or Path("runs") / f"worker-{stamp}-{_safe_host()}")
    for sub in ("ledger", "logs"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    print(f"agentsoak: worker for {args.master_host}:{args.master_port} -> {run_dir}", file=sys.stderr)
    env = dict(os.environ)
    env.pop("TOXIPROXY_URL", None)  # faults act from the master only
    cmd = worker_command(args.master_host, args.master_port, run_dir, args.processes)
    with open(run_dir / "logs" / "locust.out", "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=parent_death_hook())
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            code = proc.wait()
    print(f"agentsoak: worker ended (Locust exit code {code}); ledger in {run_dir / 'ledger'}", file=sys.stderr)
    return 0 if code in (0, 1) else 2
