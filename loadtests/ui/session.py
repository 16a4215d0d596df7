"""``agentsoak ui`` inside each Locust process: every swarm started from the page is a run of its own.

:func:`install` (from ``init``, when Locust runs with ``--agentsoak-ui``) makes a :class:`WebSession`.

- ``test_start`` (:meth:`WebSession.begin`): the master (or local runner) picks the swarm's run
  directory (the one ``agentsoak ui`` made for the first swarm, a new one for each later swarm),
  writes its ``profile.resolved.yaml`` and ``run_start`` (:func:`loadtests.run.run_start_event`, as a
  headless run) and points ``--agentsoak-run-dir`` at it; Locust sends the master's custom options
  with every spawn message, so each worker opens its ledger file there at its own ``test_start``.
- ``test_stop`` (:meth:`WebSession.stopping`, :meth:`WebSession.end`): the faults added by hand are
  removed, every process closes its ledger file, the master writes Locust's CSV and HTML files and the
  components' log lines of the swarm (:mod:`loadtests.ui.swarm_files`), ``run_stop`` and ``run.json`` and
  verifies the run in the background (``agentsoak report RUN_DIR``, which writes report.html and the
  rest); the verdict and the failed checks are then on the page.
- ``quitting`` (:meth:`WebSession.quit`): waits for the last verification.

The live gauges get every event: the master's own through its sink, each worker's through Locust's
worker->master messages (``agentsoak_events``, batched four times a second). Faults act from the
master only (:mod:`loadtests.ui.controls`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev
from reports.ledger.reader import decode_line
from reports.ledger.writer import encode, is_being_written

from ..health import HealthSampler, from_json
from ..run import make_run_dir, run_start_event, write_resolved_profile, write_run_json
from ..run_state import RunState, runner_kind
from ..sink import SwitchSink
from ..timeline import switch_timeline
from .controls import FaultControls
from .gauges import LiveGauges
from .swarm_files import SwarmFiles

__all__ = ["EVENTS_MESSAGE", "FORWARD_EVERY_S", "RunOutcome", "WebSession", "install"]

log = logging.getLogger(__name__)

#: the worker->master message carrying a worker's ledger lines for the live gauges
EVENTS_MESSAGE = "agentsoak_events"
#: how often a worker sends what it wrote
FORWARD_EVERY_S = 0.25
_FORWARD_MAX = 5_000  # lines per message at most; the rest goes with the next one
_CLOSED_WAIT_S = 15.0  # how long the verification waits for the workers' ledger files to be closed
_REPORT_TIMEOUT_S = 300.0


class RunOutcome(dict):
    """One swarm's run as the page shows it: ``run``, ``state`` (running | verifying | done), ``verdict``,
    ``failed`` (names and details of the failed checks), ``report`` (the URL of its report.html)."""


def install(environment: Any, state: RunState, *, start_timeline: Callable[[Any, float], None]) -> WebSession:
    session = WebSession(environment, state, start_timeline)
    session.install()
    return session


class WebSession:
    def __init__(self, environment: Any, state: RunState, start_timeline: Callable[[Any, float], None]) -> None:
        assert isinstance(state.sink, SwitchSink)
        self.env = environment
        self.state = state
        self.sink: SwitchSink = state.sink
        self.kind = runner_kind(environment)
        self.is_worker = self.kind == "WorkerRunner"
        opts = environment.parsed_options
        self.first = Path(opts.agentsoak_run_dir)
        self.base = self.first.parent
        self.used = False
        self.current: Path | None = None
        self.gauges = LiveGauges()
        self.runs: list[RunOutcome] = []
        self._run_ledger: LedgerWriter | None = None
        self._files: SwarmFiles | None = None
        self._health: HealthSampler | None = None
        self._verifier: threading.Thread | None = None
        self._start_timeline = start_timeline
        self._outbox: list[bytes] = []
        self._lock = threading.Lock()
        profile = state.profile
        toxics = admin = None
        if not self.is_worker:
            if opts.agentsoak_proxy_api:
                from faults.client import FaultClient

                toxics = FaultClient(opts.agentsoak_proxy_api, allow_remote=True)  # vetted by the profile
            if opts.agentsoak_admin_url:
                from faults.server_admin import ServerAdmin

                admin = ServerAdmin(opts.agentsoak_admin_url)
        self.controls = FaultControls(
            proxy_kind=profile.proxy.kind if profile else "none",
            target_kind=profile.target.kind if profile else "external",
            toxics=toxics, admin=admin, proxy_name=opts.agentsoak_proxy_name,
            timeline=self._timeline if profile is not None and profile.faults else None)

    # -- wiring ------------------------------------------------------------------------------------
    def install(self) -> None:
        runner = self.env.runner
        if self.is_worker:
            self.sink.taps.append(self._queue)
            threading.Thread(target=self._forward_loop, name="agentsoak-gauges", daemon=True).start()
            return
        self.sink.taps.append(self.gauges.feed)
        if self.kind == "MasterRunner":
            runner.register_message(EVENTS_MESSAGE, self._on_events)
        web_ui = getattr(self.env, "web_ui", None)
        if web_ui is not None:
            from .web import register

            register(web_ui.app, self)

    def _queue(self, event: ev.Event) -> None:
        line = encode(event)
        with self._lock:
            self._outbox.append(line)

    def _forward_loop(self) -> None:
        while True:  # a daemon for the worker's life; each pass is bounded by _FORWARD_MAX lines
            time.sleep(FORWARD_EVERY_S)
            self.forward()

    def forward(self) -> None:
        with self._lock:
            batch, self._outbox = self._outbox[:_FORWARD_MAX], self._outbox[_FORWARD_MAX:]
        if batch:
            try:
                self.env.runner.send_message(EVENTS_MESSAGE, {"run": self._run_name(), "lines": batch})
            except Exception:  # noqa: BLE001 - the gauges are best effort; the ledger is the record
                log.exception("agentsoak: could not send the gauges' events to the master")

    def _on_events(self, msg: Any, **_kw: Any) -> None:
        data = msg.data or {}
        if data.get("run") != self.gauges.run_id:
            return  # a late batch of a previous swarm
        for raw in data.get("lines", ()):
            event = decode_line(raw)
            if event is not None:
                self.gauges.feed(event)

    def _run_name(self) -> str | None:
        run_dir = getattr(self.env.parsed_options, "agentsoak_run_dir", None)
        return Path(run_dir).name if run_dir else None

    # -- one swarm ---------------------------------------------------------------------------------
    def begin(self) -> None:
        opts = self.env.parsed_options
        profile = self.state.profile
        if self.is_worker:
            self.forward()  # what is left of the previous swarm goes with its own run name
            run_dir = Path(opts.agentsoak_run_dir)  # the master's, sent with the spawn message
            self.current = run_dir
            self.sink.switch(LedgerWriter(ledger_path(run_dir / "ledger", "locust")))
            return
        assert profile is not None, "agentsoak ui runs with a profile"
        if self.used:
            run_dir = make_run_dir(profile, self.base)
            write_resolved_profile(profile, run_dir)
        else:
            run_dir = self.first
        self.used = True
        self.current = run_dir
        opts.agentsoak_run_dir = str(run_dir)
        self.gauges.reset(run_dir.name)
        self._files = SwarmFiles(self.env, run_dir, self.first / "logs").start()
        self._run_ledger = LedgerWriter(ledger_path(run_dir / "ledger", "orchestrator"))
        users = getattr(opts, "num_users", None)
        self._run_ledger(run_start_event(profile, run_dir.name, users=users if isinstance(users, int) else None,
                                        interactive=True))
        self._health = self._sampler(run_dir)
        role = "master" if self.kind == "MasterRunner" else "locust"
        self.sink.switch(LedgerWriter(ledger_path(run_dir / "ledger", role)))
        from faults.schedule import FaultSchedule

        manual = FaultSchedule((), toxics=self.controls.toxics, admin=self.controls.admin,
                               proxy_name=self.controls.proxy_name, sink=self.sink)
        manual.t0 = time.monotonic()  # test_start: manual faults' start_s is relative to it
        self.controls.schedule = manual
        self.runs.append(RunOutcome(run=run_dir.name, state="running", verdict=None, failed=[],
                                    report=f"/agentsoak/runs/{run_dir.name}/report.html"))

    def stopping(self) -> None:
        """Before ``test_stop`` is written: remove the faults added by hand."""
        manual = self.controls.schedule
        if manual is not None:
            manual.stop()

    def end(self) -> None:
        """After ``test_stop`` is written: close this process's ledger file; the master closes the run."""
        self.controls.schedule = None
        self.sink.switch(None)
        if self.is_worker:
            self.forward()
            return
        self._stop_health()
        run_dir, run_ledger, files = self.current, self._run_ledger, self._files
        self._run_ledger = self._files = None
        if run_dir is None or run_ledger is None:
            return
        if files is not None:
            files.finish()  # Locust's CSV and HTML, and (later runs) the components' log lines
        run_ledger(ev.RunStop(reason=ev.StopReason.COMPLETED))
        run_ledger.close()
        assert self.state.profile is not None
        write_run_json(run_dir, self.state.profile, "completed", "stopped from the web UI")
        outcome = self.runs[-1]
        outcome["state"] = "verifying"
        self._verifier = threading.Thread(target=self._verify, args=(run_dir, outcome), name="agentsoak-verify",
                                          daemon=True)
        self._verifier.start()

    def _sampler(self, run_dir: Path) -> HealthSampler | None:
        """This swarm's component health sampler: the orchestrator's roots (``--agentsoak-health``), this
        master and its ``--processes`` workers, into the swarm's ledger, as a headless run samples them."""
        text = getattr(self.env.parsed_options, "agentsoak_health", None)
        if not text:
            return None
        try:
            sampler = from_json(run_dir / "ledger", text)
        except ValueError as exc:
            log.error("no component health for %s: %s", run_dir.name, exc)
            return None
        sampler.watch("locust-master", os.getpid(), children="locust-worker-{n}")
        return sampler.start()

    def _stop_health(self) -> None:
        health, self._health = self._health, None
        if health is not None:
            health.stop()

    def quit(self) -> None:
        self._stop_health()
        verifier = self._verifier
        if verifier is not None:
            verifier.join(_REPORT_TIMEOUT_S)

    def _verify(self, run_dir: Path, outcome: RunOutcome) -> None:
        deadline = time.monotonic() + _CLOSED_WAIT_S
        for path in sorted((run_dir / "ledger").iterdir()):
            while is_being_written(path) and time.monotonic() < deadline:
                time.sleep(0.1)  # a worker still closing its file (its test_stop runs after ours began)
        try:
            proc = subprocess.run([sys.executable, "-m", "loadtests.cli", "report", str(run_dir), "--quiet"],
                                  capture_output=True, timeout=_REPORT_TIMEOUT_S, check=False)
            report = orjson.loads((run_dir / "report.json").read_bytes())
            outcome["verdict"] = report.get("verdict")
            outcome["failed"] = [{"name": c.get("name"), "detail": c.get("detail")}
                                 for c in report.get("checks", []) if str(c.get("verdict")).upper() == "FAIL"]
            if proc.returncode not in (0, 1):
                outcome["error"] = proc.stdout.decode(errors="replace")[-2000:]
        except Exception as exc:  # noqa: BLE001 - shown on the page
            outcome["verdict"] = "BROKEN"
            outcome["error"] = f"the report could not be built: {exc}"
        outcome["state"] = "done"

    # -- the profile's fault timeline ----------------------------------------------------------------
    def _timeline(self, start: bool | None) -> bool:
        return switch_timeline(self.state, start, lambda now: self._start_timeline(self.env, now))

    def status(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "current": self.current.name if self.current else None,
                "base": str(self.base)}
