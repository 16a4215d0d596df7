"""The health sampler: every few seconds, each component process's RSS, FDs, CPU and sockets, into the ledger.

It runs in the orchestrator (never inside Locust) on a daemon thread with a ledger file of its own
(``health-<pid>.jsonl.zst``), so the orchestrator's own writer is never shared between threads. The
components are roots given by pid (``watch``); a root may name its children (Locust's
``--processes`` workers, the proxy's workers), found again at every sample, so a worker forked late
is seen. A process that vanished is skipped: sampling never blocks or fails the run. ``stop`` ends
the thread and closes the file; the run calls it before it stops the components.

With the web UI each swarm is a run of its own, with a run directory the Locust master picks, so the
orchestrator hands its roots to the master (``roots_json``, Locust's ``--agentsoak-health``) and the
master samples each swarm into that swarm's ledger (:func:`from_json`, :mod:`loadtests.ui.session`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from reports.ledger import LedgerWriter, ledger_path
from reports.ledger import schema as ev

__all__ = ["DEFAULT_EVERY_S", "Root", "HealthSampler", "from_json", "sample_once"]

DEFAULT_EVERY_S = 5.0


@dataclass(frozen=True)
class Root:
    """A component process; ``children`` names its child processes (``locust-worker-{n}``: n from 1 in
    pid order; ``proxy-worker-{n}``: n from the child's ``--shard`` argument, else from 0 in pid order)."""

    name: str
    pid: int
    children: str | None = None
    first: int = 1


class HealthSampler:
    """Samples the watched processes every ``every_s`` seconds into ``ledger_dir`` until ``stop``."""

    def __init__(self, ledger_dir: str | Path, every_s: float = DEFAULT_EVERY_S) -> None:
        self.every_s = every_s
        self._ledger_dir = Path(ledger_dir)
        self._roots: list[Root] = []
        self._procs: dict[int, psutil.Process] = {}  # kept so cpu_percent measures since the last sample
        self._fresh: set[int] = set()  # pids sampled for the first time: no CPU figure yet
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: LedgerWriter | None = None
        self.samples = 0

    def watch(self, name: str, pid: int, *, children: str | None = None, first: int = 1) -> None:
        """Sample process ``pid`` as ``name`` (and its children, named by ``children``) from now on."""
        with self._lock:
            self._roots.append(Root(name, pid, children, first))

    def roots_json(self) -> str:
        """The watched roots and the period as JSON, for a sampler in another process (:func:`from_json`)."""
        with self._lock:
            return json.dumps({"every_s": self.every_s, "roots": [asdict(r) for r in self._roots]})

    def start(self) -> HealthSampler:
        if self._thread is None:
            self._ledger_dir.mkdir(parents=True, exist_ok=True)
            self._writer = LedgerWriter(ledger_path(self._ledger_dir, "health"))
            self._thread = threading.Thread(target=self._loop, name="agentsoak-health", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the sampling and close the ledger file (bounded: one sample's time at most)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def sample(self) -> list[ev.HealthSample]:
        """One sample of every watched process (written when started); never raises."""
        with self._lock:
            roots = list(self._roots)
        out: list[ev.HealthSample] = []
        for name, pid in _components(roots):
            try:
                p = self._proc(pid)
                e = sample_once(name, p, first=pid in self._fresh)
            except (psutil.Error, OSError):
                self._procs.pop(pid, None)
                continue
            self._fresh.discard(pid)
            out.append(e)
        writer = self._writer
        if writer is not None:
            for e in out:
                with contextlib.suppress(Exception):  # a full disk must not break the run
                    writer(e)
        self.samples += len(out)
        return out

    def _proc(self, pid: int) -> psutil.Process:
        p = self._procs.get(pid)
        if p is None or not p.is_running():
            p = self._procs[pid] = psutil.Process(pid)
            p.cpu_percent(None)  # the first call only starts the measurement
            self._fresh.add(pid)
        return p


def from_json(ledger_dir: str | Path, text: str) -> HealthSampler:
    """A sampler of the roots ``roots_json`` wrote, into ``ledger_dir`` (not started).

    Raises:
        ValueError: ``text`` is not what ``roots_json`` writes.
    """
    try:
        data = json.loads(text)
        sampler = HealthSampler(ledger_dir, float(data["every_s"]))
        for r in data["roots"]:
            sampler.watch(str(r["name"]), int(r["pid"]), children=r.get("children"), first=int(r.get("first", 1)))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"--agentsoak-health: expected the JSON of HealthSampler.roots_json, got {text[:80]!r}: "
                         f"{exc}") from exc
    return sampler


def _components(roots: list[Root]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for r in roots:
        out.append((r.name, r.pid))
        if r.children is None:
            continue
        try:
            kids = sorted(psutil.Process(r.pid).children(recursive=False), key=lambda p: p.pid)
        except (psutil.Error, OSError):
            continue
        for i, kid in enumerate(kids):
            out.append((r.children.format(n=_shard(kid, r.first + i)), kid.pid))
    return out


def _shard(p: psutil.Process, default: int) -> int:
    """The ``--shard N`` of a proxy worker's command line, else ``default``."""
    try:
        argv = p.cmdline()
    except (psutil.Error, OSError):
        return default
    for i, a in enumerate(argv[:-1]):
        if a == "--shard" and argv[i + 1].isdigit():
            return int(argv[i + 1])
    return default


def sample_once(name: str, p: psutil.Process, *, first: bool = False) -> ev.HealthSample:
    """The sample of one process (raises ``psutil.Error`` when it is gone); ``first``: no CPU figure."""
    with p.oneshot():
        rss = p.memory_info().rss
        if rss == 0 or p.status() == psutil.STATUS_ZOMBIE:
            # an exiting process reads as 0 bytes and 0 FDs: that is its end, not a sample
            raise psutil.ZombieProcess(p.pid)
        try:
            fds: int | None = p.num_fds()
        except (psutil.AccessDenied, AttributeError):
            fds = None
        cpu: float | None = None if first else p.cpu_percent(None)
        try:
            conns = p.net_connections(kind="tcp") if hasattr(p, "net_connections") else p.connections(kind="tcp")
            tcp: int | None = len(conns)
            est: int | None = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED)
        except (psutil.AccessDenied, OSError):
            tcp = est = None
    return ev.HealthSample(component=name, component_pid=p.pid, rss_bytes=rss, fds=fds,
                           cpu_pct=None if cpu is None else round(cpu, 1), connections=tcp, established=est)
