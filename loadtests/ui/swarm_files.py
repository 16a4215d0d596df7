"""What a headless run leaves besides its ledger, for each swarm of ``agentsoak ui`` (master or local runner).

A headless run's Locust writes ``locust/stats_*.csv`` (``--csv``) and ``locust/report.html`` (``--html``)
and its components log to ``logs/``. With the web UI one Locust serves many swarms, so :class:`SwarmFiles`
does it per swarm, through Locust's own writers:

- ``locust/``: :class:`locust.stats.StatsCSVFileWriter` runs from the swarm's start (the history file
  grows once a second, as with ``--csv``); at its stop the request, failure and exception files are
  written once more from the final numbers, and :func:`locust.html.get_html_report` gives report.html;
- ``logs/``: the components (reference server, proxy, Locust) log to the session's first run
  directory for the whole session; every later run directory gets the lines written during its swarm
  (``server.log``, ``proxy.log``, ``locust.log``...), so ``agentsoak report`` and the repro bundle find
  them where a headless run has them.

Locust is imported only when a swarm starts: this module is loaded in Locust's processes.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

__all__ = ["LOCUST_FILES", "SwarmFiles"]

log = logging.getLogger(__name__)

#: what ``locust/`` of a headless run holds (``--csv locust/stats --html locust/report.html``)
LOCUST_FILES = ("stats_stats.csv", "stats_stats_history.csv", "stats_failures.csv", "stats_exceptions.csv",
                "report.html")
_COPY_CHUNK = 1 << 20


class SwarmFiles:
    """One swarm's Locust statistics files and component log lines, in its run directory."""

    def __init__(self, environment: Any, run_dir: Path, session_logs: Path) -> None:
        self.env = environment
        self.run_dir = run_dir
        self.session_logs = session_logs
        self._offsets: dict[str, int] = {}
        self._writer: Any = None
        self._greenlet: Any = None

    def start(self) -> SwarmFiles:
        """At ``test_start``, after Locust cleared its statistics for the new swarm."""
        import gevent
        from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

        if self.run_dir / "logs" != self.session_logs:
            self._offsets = {p.name: p.stat().st_size for p in self._session_log_files()}
        locust_dir = self.run_dir / "locust"
        locust_dir.mkdir(parents=True, exist_ok=True)
        self._writer = StatsCSVFileWriter(self.env, PERCENTILES_TO_REPORT, str(locust_dir / "stats"))
        self._greenlet = gevent.spawn(self._writer.stats_writer)
        return self

    def finish(self) -> None:
        """At ``test_stop``, once the workers' last statistics are in: write the final files."""
        try:
            self._locust_files()
        except Exception:  # noqa: BLE001 - the ledger is the record; Locust's files are a courtesy
            log.exception("agentsoak: could not write Locust's statistics files of %s", self.run_dir.name)
        try:
            self._log_slices()
        except OSError:
            log.exception("agentsoak: could not copy the components' logs to %s", self.run_dir.name)

    def _locust_files(self) -> None:
        from locust.html import get_html_report

        writer, greenlet = self._writer, self._greenlet
        if writer is None:
            return
        greenlet.kill(block=True)
        writer.close_files()
        base = self.run_dir / "locust" / "stats"
        for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv),
                              ("_exceptions.csv", writer.exceptions_csv)):
            with open(f"{base}{suffix}", "w", newline="") as f:
                write(csv.writer(f))
        html = get_html_report(self.env, show_download_link=False)
        (self.run_dir / "locust" / "report.html").write_text(html, encoding="utf-8")

    def _session_log_files(self) -> list[Path]:
        if not self.session_logs.is_dir():
            return []
        return sorted(p for p in self.session_logs.iterdir() if p.is_file())

    def _log_slices(self) -> None:
        if self.run_dir / "logs" == self.session_logs:
            return  # the first run directory holds the session's logs themselves
        out_dir = self.run_dir / "logs"
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in self._session_log_files():
            start = self._offsets.get(path.name, 0)
            with open(path, "rb") as src, open(out_dir / path.name, "wb") as dst:
                src.seek(start)
                while chunk := src.read(_COPY_CHUNK):
                    dst.write(chunk)
