"""The run orchestrator: profile → (target + proxy + Locust + fault schedule) → run directory.

``run_profile`` brings up what the profile names, each in its own process (the reference server, the
embedded proxy, Locust headless), creates the proxy route, lets the Locust master play the fault
schedule from the test's real start, shows progress, and shuts everything down cleanly, also on
Ctrl-C. Before the load it makes one real WebSocket handshake along the agents' route
(:mod:`loadtests.preflight`), so an unreachable target fails in seconds. It leaves
``runs/<UTC time>-<name>/`` with the resolved profile, the ledger, Locust's CSV and HTML, the
component logs (``logs/orchestrator.log`` holds the traceback of an unexpected error) and
``run.json``; the report is built from that directory alone. Children start through
:class:`faults.child.Child` and are tied to this process's life where the platform allows.

Stopping (see :mod:`loadtests.stop_signals`): SIGINT and SIGTERM, whoever sends them, end the run as
Ctrl-C does; a second one hurries the shutdown (SIGKILL to Locust's process group) but never skips
it. Locust, its workers, the target and the proxy are all gone before :func:`run_profile` returns,
Locust first, so nothing writes to the ledger after it returns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import orjson
import yaml

from faults.child import Child, parent_death_hook
from faults.client import FaultClient
from faults.identity import PROXY_NAME  # one source: repro bundles recompute the proxy's draws with it
from faults.loopback import free_port
from faults.schedule import plan
from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev

from .distributed import MasterOptions
from .health import HealthSampler
from .layout import Layout, LayoutError, Machine, raise_fd_limit, resolve_layout
from .preflight import PreflightError, preflight
from .profile import Profile
from .profile.model import RESPONSES_PATH
from .progress import DEFAULT_PROGRESS_EVERY_S, LedgerTail, ProgressPrinter
from .server.cli import config_to_args
from .server.config import profile_knobs
from .stop_signals import Interrupted, StopSignals
from .transport_config import DEFAULT_API_KEY_ENV, TRANSPORT_DEFAULTS

__all__ = ["RunResult", "WebOptions", "run_profile", "make_run_dir", "run_start_event", "ReferenceServer",
           "processes_args"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ORCHESTRATOR_LOG = "orchestrator.log"  # in <run>/logs/: tracebacks of what broke the run


@dataclass(frozen=True)
class RunResult:
    """Where a run went and how it ended."""

    run_dir: Path
    status: str  # completed | interrupted | error
    error: str | None = None


@dataclass(frozen=True)
class WebOptions:
    """``agentsoak ui``: Locust runs its web UI instead of headless (``loadtests.ui``).

    The form's defaults (``-u``, ``-r``, ``-t``) are the profile's ``load``; ``build_path`` is the built
    web UI with agentsoak's tabs. Every swarm started from the page is a run
    of its own: the Locust master makes its run directory at ``test_start`` and verifies it at
    ``test_stop`` (:mod:`loadtests.ui.session`).
    """

    host: str = "127.0.0.1"
    port: int = 8089
    build_path: str | None = None


def make_run_dir(profile: Profile, base: str | os.PathLike[str] | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = Path(base if base is not None else profile.output_dir)
    run_dir = root / f"{stamp}-{profile.name}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = root / f"{stamp}-{profile.name}-{n}"
    for sub in ("ledger", "logs", "locust"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    return run_dir


class ReferenceServer:
    """The embedded reference server in its own process, on a free loopback port."""

    def __init__(self, args: list[str], log_path: str | os.PathLike[str] | None = None, *, port: int = 0) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._spawn(port)

    def _spawn(self, port: int) -> None:
        self.child = Child.start(
            "reference server",
            [sys.executable, "-m", "loadtests.server", "--host", "127.0.0.1", "--port", str(port), *self.args],
            ready="listening on http://", log_path=self.log_path, new_session=True,
        )
        self.proc = self.child.proc
        self.http_url = self.child.ready_line.rsplit(" ", 1)[-1].rstrip("/")
        self.port = int(self.http_url.rsplit(":", 1)[-1])
        self.url = f"ws://127.0.0.1:{self.port}{RESPONSES_PATH}"

    def kill(self) -> None:
        """SIGKILL: every socket drops with no Close frame."""
        self.child.kill()

    def restart(self) -> None:
        """Start a fresh process on the same port (empty caches and store)."""
        self.child.close()
        self._spawn(self.port)

    def stop(self) -> None:
        self.child.close()


def server_args(profile: Profile) -> list[str]:
    """CLI flags of ``agentsoak serve`` for the profile's seed and ``target.server`` settings.

    Derived from the server's field table: every field a profile may set is passed as its flag.
    """
    s = profile.target.server
    assert s is not None
    return config_to_args(replace(s, seed=profile.seed), ["seed", *profile_knobs()])


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2))
    tmp.replace(path)


def write_resolved_profile(profile: Profile, run_dir: Path) -> None:
    (run_dir / "profile.resolved.yaml").write_text(
        f"# resolved profile of this run (seed {profile.seed})\n"
        + yaml.safe_dump(profile.to_dict(), sort_keys=False))


def usable_cores() -> int | None:
    """The CPU cores this process may run on (its affinity where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def layout_record(layout: Layout) -> ev.ProcessLayout:
    """The ``run_start.layout`` of a chosen :class:`~loadtests.layout.Layout`."""
    def count(name: str) -> int | None:
        comp = layout.component(name)
        return None if comp is None else comp.processes

    return ev.ProcessLayout(locust=count("locust"), proxy=count("proxy"), server=count("server"),
                            source_addresses=layout.source_addresses, fd_limit=layout.fd_limit,
                            summary=layout.summary())


def run_start_event(profile: Profile, run_id: str, *, users: int | None = None,
                    duration_s: float | None = None, layout: Layout | None = None,
                    interactive: bool = False) -> ev.RunStart:
    """The ``run_start`` a run of ``profile`` opens its ledger with (headless, or a web UI swarm:
    ``interactive``)."""
    backoff = profile.agent.reconnect
    duration = profile.load.duration_s if duration_s is None else duration_s
    return ev.RunStart(run_id=run_id, profile=profile.name, seed=profile.seed,
                       target=ev.TargetKind(profile.target.kind), digests=profile.target.kind == "embedded",
                       proxy=ev.ProxyKind(profile.proxy.kind),
                       users=profile.load.running if users is None else users, duration_s=duration,
                       agents=None if profile.load.agents is None else list(profile.load.agents),
                       cpu_count=usable_cores(),
                       layout=None if layout is None else layout_record(layout), interactive=interactive,
                       reconnect=ev.Backoff(max_retries=backoff.max_retries, base_delay_s=backoff.base_delay_s,
                                            max_delay_s=backoff.max_delay_s, jitter_min=backoff.jitter_min,
                                            jitter_max=backoff.jitter_max, cooldown_s=backoff.cooldown_s),
                       fault_plan=[ev.PlannedFault(fault=w.fault, type=w.spec.ledger_type, start_s=w.start_s)
                                   for w in plan(profile.faults, duration)]
                       + [ev.PlannedFault(fault=f"{f.name}#0", type=f.ledger_type, start_s=f.at_s)
                          for f in profile.faults if f.at_s >= duration])


def write_run_json(run_dir: Path, profile: Profile, status: str, error: str | None) -> None:
    _write_json(run_dir / "run.json", {"status": status, "exit_reason": error or status, "profile": profile.name,
                                       "seed": profile.seed, "interrupted": status == "interrupted"})


def run_profile(profile: Profile, *, run_dir: Path | None = None, progress: TextIO | None = sys.stderr,
                stops: StopSignals | None = None, progress_every_s: float = DEFAULT_PROGRESS_EVERY_S,
                web: WebOptions | None = None, master: MasterOptions | None = None) -> RunResult:
    """Run one scenario end to end and return where it went. Never raises for a broken run.

    ``master``: Locust runs as a master and the agents on the workers that connect to it
    (:mod:`loadtests.distributed`).

    ``progress``: where the status line goes (None: nowhere); redrawn in place when it is a terminal,
    else one line every ``progress_every_s`` (:mod:`loadtests.progress`). ``stops`` is the caller's
    :class:`StopSignals` (installed around the report too); without one, one is installed for the run.
    """
    if stops is None:
        with StopSignals() as own:
            return run_profile(profile, run_dir=run_dir, progress=progress, stops=own,
                               progress_every_s=progress_every_s, web=web, master=master)
    run_dir = run_dir or make_run_dir(profile)
    # Every component gets the hard FD limit; the layout (loadtests.layout) was planned against it.
    raise_fd_limit()
    layout: Layout | None = None
    refused: LayoutError | None = None
    try:
        profile, layout = resolve_layout(profile, Machine.detect(), locust_here=master is None)
    except LayoutError as exc:  # agentsoak run refuses this before making the run; other callers land here
        refused = exc
    write_resolved_profile(profile, run_dir)
    # With the web UI the Locust master opens and closes each swarm's run (loadtests.ui.session); the
    # first swarm uses this directory. Until then only the components' logs are here.
    ledger = None if web else LedgerWriter(ledger_path(run_dir / "ledger", "orchestrator"))
    if ledger is not None:
        ledger(run_start_event(profile, run_dir.name, layout=layout))
    status, error = "completed", None
    # component health (loadtests.health): here for a headless run; with the web UI each swarm is a run
    # of its own, so this only gathers the roots and the Locust master samples each swarm
    health = HealthSampler(run_dir / "ledger", profile.load.health_every_s)
    with contextlib.ExitStack() as stack:  # unwinds in reverse: Locust is gone before the proxy and target stop
        try:
            if refused is not None:
                raise refused
            stops.check()
            target_url, target_ws, admin_url = _start_target(profile, run_dir, stack, health)
            stops.check()
            agents_url, proxy_api = _start_proxy(profile, run_dir, stack, target_url, health,
                                                 listen=master.agents_listen if master else None)
            stops.check()
            if not web:
                stack.callback(health.stop)  # before the proxy and the target stop
                health.start()
            if master is not None and master.agents_url:
                agents_url = master.agents_url  # the name workers reach the route by; the preflight tries it
            preflight(agents_url, target=target_ws, via_proxy=proxy_api is not None,
                      headers=_agent_headers(profile))
            stops.check()
            code = _run_locust(profile, run_dir, agents_url, proxy_api, admin_url, progress, progress_every_s,
                               stops, web, health, master)
            stops.check()
            if code not in (0, 1):  # 1 can come from Locust's own failure ratio checks; our report judges those
                status, error = "error", f"locust exited with code {code}; see logs/locust.log"
        except (Interrupted, KeyboardInterrupt):
            status, error = "interrupted", stops.reason() if stops.count else "stopped by the user (Ctrl-C)"
        except (PreflightError, LayoutError) as exc:
            status, error = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken run is reported, not raised
            status, error = "error", f"{type(exc).__name__}: {exc}; traceback in logs/{ORCHESTRATOR_LOG}"
            with open(run_dir / "logs" / ORCHESTRATOR_LOG, "a") as log:
                traceback.print_exc(file=log)
    if ledger is not None:
        ledger(ev.RunStop(reason=ev.StopReason(status), error=error))
        ledger.close()
        write_run_json(run_dir, profile, status, error)
    elif status == "error" and not (run_dir / "run.json").exists():
        # the session broke before any swarm (e.g. the preflight): the directory says why
        ledger = LedgerWriter(ledger_path(run_dir / "ledger", "orchestrator"))
        ledger(run_start_event(profile, run_dir.name))
        ledger(ev.RunStop(reason=ev.StopReason(status), error=error))
        ledger.close()
        write_run_json(run_dir, profile, status, error)
    return RunResult(run_dir=run_dir, status=status, error=error)


def _agent_headers(profile: Profile) -> list[str]:
    """The handshake headers every agent sends (``loadtests.agent``), the API key among them."""
    headers = [f"{k}: {v}" for k, v in TRANSPORT_DEFAULTS.headers]
    key = os.environ.get(profile.target.api_key_env or DEFAULT_API_KEY_ENV)
    if key:
        headers.append(f"Authorization: Bearer {key}")
    return headers


def _start_target(profile: Profile, run_dir: Path, stack: contextlib.ExitStack,
                  health: HealthSampler | None = None) -> tuple[str, str, str | None]:
    """Returns (host:port of the target, its WebSocket URL, admin base URL or None)."""
    if profile.target.kind == "external":
        assert profile.target.url is not None
        return urlsplit(profile.target.url).netloc, profile.target.url, None
    server = ReferenceServer(server_args(profile), run_dir / "logs" / "server.log")
    stack.callback(server.stop)
    if health is not None:
        health.watch("server", server.proc.pid)
    return f"127.0.0.1:{server.port}", server.url, server.http_url


def _start_proxy(profile: Profile, run_dir: Path, stack: contextlib.ExitStack, target: str,
                 health: HealthSampler | None = None, listen: str | None = None) -> tuple[str, str | None]:
    """Returns (the URL agents use, the Toxiproxy API URL or None); ``listen``: the route's host:port."""
    # The loader gave an external URL its path (RESPONSES_PATH when it had none).
    external = urlsplit(profile.target.url) if profile.target.kind == "external" and profile.target.url else None
    scheme, path = (external.scheme, external.path) if external else ("ws", RESPONSES_PATH)
    if profile.proxy.kind == "none":
        return f"{scheme}://{target}{path}", None

    log_path = str(run_dir / "logs" / "proxy.log")
    if profile.proxy.kind == "url":
        assert profile.proxy.url is not None
        client = FaultClient(profile.proxy.url, allow_remote=True)  # the profile loader vetted the host
        client.version()
    elif profile.proxy.kind == "real":
        if not shutil.which("toxiproxy-server"):
            raise RuntimeError("proxy.kind is 'real' but no toxiproxy-server binary is on PATH")
        client = FaultClient.start(seed=profile.seed, log_path=log_path)
    else:
        client = FaultClient.start_embedded(seed=profile.seed, log_path=log_path, workers=profile.proxy.workers)
    stack.callback(client.close)
    if health is not None and client.pid is not None:  # the API process, and the data-plane workers it forks
        health.watch("proxy", client.pid, children="proxy-worker-{n}", first=0)
    with contextlib.suppress(Exception):
        client.delete_proxy(PROXY_NAME)
    proxy = client.create_proxy(PROXY_NAME, upstream=target, listen=listen or "127.0.0.1:0")

    def _remove_route() -> None:
        with contextlib.suppress(Exception):
            client.delete_proxy(PROXY_NAME)

    stack.callback(_remove_route)
    return f"{scheme}://{proxy['listen']}{path}", client.url


def processes_args(processes: int) -> list[str]:
    """Locust's ``--processes N`` with its master on a port of this run's own, on loopback only.

    Locust's default binds 5557 on every interface, so a second run on the box would meet the first
    run's master (or fail to bind) and the master would listen beyond loopback.
    """
    port = str(free_port())
    return ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
            "--master-host", "127.0.0.1", "--master-port", port]


def _locust_command(profile: Profile, run_dir: Path, agents_url: str, proxy_api: str | None,
                    admin_url: str | None, web: WebOptions | None = None,
                    master: MasterOptions | None = None) -> list[str]:
    load = profile.load
    if web is None:
        mode = ["--headless", "-u", str(load.running), "-r", str(load.spawn_rate),
                "-t", f"{max(1, round(load.duration_s))}s",
                "--csv", str(run_dir / "locust" / "stats"), "--html", str(run_dir / "locust" / "report.html"),
                "--only-summary"]
    else:
        mode = ["--web-host", web.host, "--web-port", str(web.port), "-u", str(load.users),
                "-r", str(load.spawn_rate), "-t", f"{max(1, round(load.duration_s))}s", "--agentsoak-ui"]
        if web.build_path:
            mode += ["--build-path", web.build_path]
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", agents_url, *mode,
        "--stop-timeout", "5", "--exit-code-on-error", "0",
        "--agentsoak-run-dir", str(run_dir), "--agentsoak-profile", str(run_dir / "profile.resolved.yaml"),
        "--seed", str(profile.seed), "--loglevel", "INFO", "--logfile", str(run_dir / "logs" / "locust.log"),
    ]
    if master is not None:
        cmd += master.locust_args()
    elif load.processes != 1:
        cmd += processes_args(load.processes)
    if proxy_api:
        cmd += ["--agentsoak-proxy-api", proxy_api, "--agentsoak-proxy-name", PROXY_NAME]
    if admin_url:
        cmd += ["--agentsoak-admin-url", admin_url]
    return cmd


def _run_locust(profile: Profile, run_dir: Path, agents_url: str, proxy_api: str | None, admin_url: str | None,
                progress: TextIO | None, progress_every_s: float, stops: StopSignals,
                web: WebOptions | None = None, health: HealthSampler | None = None,
                master: MasterOptions | None = None) -> int:
    """Run Locust to its end, or until a stop signal; returns its exit code once its whole group is gone."""
    cmd = _locust_command(profile, run_dir, agents_url, proxy_api, admin_url, web, master)
    if web is not None and health is not None:  # the master samples each swarm, itself and its workers too
        cmd += ["--agentsoak-health", health.roots_json()]
    env = dict(os.environ)
    env.pop("TOXIPROXY_URL", None)  # the master gets the proxy API explicitly
    with open(run_dir / "logs" / "locust.out", "w") as out:
        # Its own session: a terminal's Ctrl-C reaches only us, and we stop Locust in order.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=parent_death_hook())
    if health is not None and web is None:  # the master and, with --processes, the workers it forks
        health.watch("locust-master", proc.pid, children="locust-worker-{n}")
    printer = None if progress is None or web is not None else ProgressPrinter(
        progress, LedgerTail(run_dir / "ledger"), profile.load.duration_s, planned_faults=len(profile.plan()),
        every_s=progress_every_s)
    try:
        while proc.poll() is None and not stops.count:
            time.sleep(_POLL_S)
            if printer is not None:
                printer.tick()
    finally:
        try:
            _end_locust(proc, stops, printer)
        finally:
            if printer is not None:
                printer.finish()
    return proc.returncode


_POLL_S = 0.1
_GRACEFUL_S = 30.0  # Locust's --stop-timeout is 5 s; writing its CSV and HTML takes a moment more
_HURRIED_S = 10.0


def _end_locust(proc: subprocess.Popen[bytes], stops: StopSignals, progress: ProgressPrinter | None) -> None:
    """Return only when every process of Locust's group is gone (with ``--processes`` the master can
    exit before its workers have stopped their users; the target and the proxy must outlive them all).

    A stop signal sends the group SIGTERM: Locust stops its users and writes its files. A later
    signal, or a shutdown over its time, sends SIGKILL.
    """
    pgid = proc.pid
    terminated = killed = False
    deadline = time.monotonic() + _GRACEFUL_S
    for _ in range(int((_GRACEFUL_S + _HURRIED_S) / 0.05) + 10):  # bounded; the deadlines end it first
        proc.poll()  # reap the master, so a dead one does not count as alive
        if not _group_alive(pgid):
            break
        if stops.count and not terminated:
            terminated = True
            _signal_group(pgid, signal.SIGTERM)
        if not killed and (stops.count >= 2 or time.monotonic() > deadline):
            killed = True
            if progress is not None and stops.count >= 2:
                progress.message("[agentsoak] stopping now: Locust is killed")
            _signal_group(pgid, signal.SIGKILL)
            deadline = time.monotonic() + _HURRIED_S
        elif killed and time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(_HURRIED_S)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in group ``pgid``.

    A zombie still counts for ``killpg(pgid, 0)``, and an orphaned one is reaped only by init (which
    in a container may never do it), so /proc is read where there is one.
    """
    proc_dir = Path("/proc")
    if not (proc_dir / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
