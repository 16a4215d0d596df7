"""The run orchestrator: profile → (target + proxy + Locust + fault schedule) → run directory.

``run_profile`` brings up what the profile names, each in its own process (the reference server, the
embedded proxy, Locust headless), creates the proxy route, lets the Locust master play the fault
schedule from the test's real start, shows progress, and shuts everything down cleanly, also on
Ctrl-C. It leaves ``runs/<UTC time>-<name>/`` with the resolved profile, the ledger, Locust's CSV and
HTML, the component logs (``logs/orchestrator.log`` holds the traceback of an unexpected error) and
``run.json``; the report is built from that directory alone. Children start through
:class:`faults.child.Child` and are tied to this process's life where the platform allows.
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
from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev

from .profile import Profile
from .profile.model import RESPONSES_PATH
from .progress import LedgerTail
from .server.cli import config_to_args
from .server.config import profile_knobs

__all__ = ["RunResult", "run_profile", "make_run_dir", "ReferenceServer"]

PROXY_NAME = "agentsoak"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ORCHESTRATOR_LOG = "orchestrator.log"  # in <run>/logs/: tracebacks of what broke the run


@dataclass(frozen=True)
class RunResult:
    """Where a run went and how it ended."""

    run_dir: Path
    status: str  # completed | interrupted | error
    error: str | None = None


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


def run_profile(profile: Profile, *, run_dir: Path | None = None, progress: TextIO | None = sys.stderr) -> RunResult:
    """Run one scenario end to end and return where it went. Never raises for a broken run."""
    run_dir = run_dir or make_run_dir(profile)
    (run_dir / "profile.resolved.yaml").write_text(
        f"# resolved profile of this run (seed {profile.seed})\n"
        + yaml.safe_dump(profile.to_dict(), sort_keys=False))
    ledger = LedgerWriter(ledger_path(run_dir / "ledger", "orchestrator"))
    digests = profile.target.kind == "embedded"
    ledger(ev.RunStart(run_id=run_dir.name, profile=profile.name, seed=profile.seed,
                       target=ev.TargetKind(profile.target.kind), digests=digests,
                       proxy=ev.ProxyKind(profile.proxy.kind), users=profile.load.users,
                       duration_s=profile.load.duration_s))
    status, error = "completed", None

    def _on_sigterm(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    with contextlib.ExitStack() as stack:
        try:
            target_url, admin_url = _start_target(profile, run_dir, stack)
            agents_url, proxy_api = _start_proxy(profile, run_dir, stack, target_url)
            code = _run_locust(profile, run_dir, agents_url, proxy_api, admin_url, progress)
            if code not in (0, 1):  # 1 can come from Locust's own failure ratio checks; our report judges those
                status, error = "error", f"locust exited with code {code}; see logs/locust.log"
        except KeyboardInterrupt:
            status, error = "interrupted", "stopped by the user (Ctrl-C)"
        except Exception as exc:  # noqa: BLE001 - a broken run is reported, not raised
            status, error = "error", f"{type(exc).__name__}: {exc}; traceback in logs/{ORCHESTRATOR_LOG}"
            with open(run_dir / "logs" / ORCHESTRATOR_LOG, "a") as log:
                traceback.print_exc(file=log)
        finally:
            signal.signal(signal.SIGTERM, old_term)
    ledger(ev.RunStop(reason=ev.StopReason(status), error=error))
    ledger.close()
    _write_json(run_dir / "run.json", {"status": status, "exit_reason": error or status, "profile": profile.name,
                                       "seed": profile.seed, "interrupted": status == "interrupted"})
    return RunResult(run_dir=run_dir, status=status, error=error)


def _start_target(profile: Profile, run_dir: Path, stack: contextlib.ExitStack) -> tuple[str, str | None]:
    """Returns (host:port of the target, admin base URL or None)."""
    if profile.target.kind == "external":
        assert profile.target.url is not None
        return urlsplit(profile.target.url).netloc, None
    server = ReferenceServer(server_args(profile), run_dir / "logs" / "server.log")
    stack.callback(server.stop)
    return f"127.0.0.1:{server.port}", server.http_url


def _start_proxy(profile: Profile, run_dir: Path, stack: contextlib.ExitStack,
                 target: str) -> tuple[str, str | None]:
    """Returns (the URL agents use, the Toxiproxy API URL or None)."""
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
    with contextlib.suppress(Exception):
        client.delete_proxy(PROXY_NAME)
    proxy = client.create_proxy(PROXY_NAME, upstream=target, listen="127.0.0.1:0")

    def _remove_route() -> None:
        with contextlib.suppress(Exception):
            client.delete_proxy(PROXY_NAME)

    stack.callback(_remove_route)
    return f"{scheme}://{proxy['listen']}{path}", client.url


def _locust_command(profile: Profile, run_dir: Path, agents_url: str, proxy_api: str | None,
                    admin_url: str | None) -> list[str]:
    load = profile.load
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", agents_url,
        "-u", str(load.users), "-r", str(load.spawn_rate), "-t", f"{max(1, round(load.duration_s))}s",
        "--csv", str(run_dir / "locust" / "stats"), "--html", str(run_dir / "locust" / "report.html"),
        "--only-summary", "--stop-timeout", "5", "--exit-code-on-error", "0",
        "--agentsoak-run-dir", str(run_dir), "--agentsoak-profile", str(run_dir / "profile.resolved.yaml"),
        "--seed", str(profile.seed), "--loglevel", "INFO", "--logfile", str(run_dir / "logs" / "locust.log"),
    ]
    if load.processes != 1:
        cmd += ["--processes", str(load.processes)]
    if proxy_api:
        cmd += ["--agentsoak-proxy-api", proxy_api, "--agentsoak-proxy-name", PROXY_NAME]
    if admin_url:
        cmd += ["--agentsoak-admin-url", admin_url]
    return cmd


def _run_locust(profile: Profile, run_dir: Path, agents_url: str, proxy_api: str | None, admin_url: str | None,
                progress: TextIO | None) -> int:
    cmd = _locust_command(profile, run_dir, agents_url, proxy_api, admin_url)
    env = dict(os.environ)
    env.pop("TOXIPROXY_URL", None)  # the master gets the proxy API explicitly
    with open(run_dir / "logs" / "locust.out", "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=parent_death_hook())
        tail = LedgerTail(run_dir / "ledger")
        windows = profile.plan()
        started = time.monotonic()
        try:
            while proc.poll() is None:
                time.sleep(1.0)
                if progress is not None:
                    tail.poll()
                    progress.write(tail.status_line(profile.load.duration_s, started, len(windows)) + "\n")
                    progress.flush()
        except KeyboardInterrupt:
            # Locust stops gracefully on SIGTERM: it ends the test, writes its CSV/HTML and quits.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            _wait_for_group(proc.pid, timeout=15.0)
            raise
        _wait_for_group(proc.pid)
        return proc.returncode


def _wait_for_group(pgid: int, timeout: float = 30.0) -> None:
    """Wait until every process of Locust's group is gone (with ``--processes`` the master can exit
    before its workers have stopped their users); the target and the proxy must outlive them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)

