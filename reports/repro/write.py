"""Writing ``repro/<check>/`` for every failed check of a report (see docs/reproduce.md).

Each bundle holds what a replay needs and what a reader checks it against, all bounded: the replay
profile and the run's resolved profile, ``bundle.json`` (the fault timeline as applied, the agents,
the signature), the agents' ledger slices and the run-level events, the lines of the server and
proxy logs that name the agents' connections, and a README with the replay command. A ledger slice
keeps ``SLICE_EVENTS`` events, a log ``LOG_LINES`` lines (first and last halves); ``bundle.json``
and the README say when one was cut.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import yaml

from faults.identity import index_of
from reports.ledger import encode, iter_ledger
from reports.model import Report
from reports.repro.evidence import Evidence, Slice, gather
from reports.repro.model import FORMAT, Bundle, CheckFailure, FileSlice, Signature
from reports.repro.readme import render_readme
from reports.repro.replay import counts, replay_profile
from reports.verify import FOCUS_AGENTS, Check, Focus

__all__ = ["LOG_LINES", "REPRO_DIR", "bundle_agents", "version", "write_bundles"]

REPRO_DIR = "repro"
#: lines kept of each log in a bundle (the first and the last halves of the matching ones)
LOG_LINES = 2000
_SERVER_OPEN = re.compile(r"agentsoak\.server: (c\d+) open .*\bclient=(\S+)/c\d+")
_SERVER_SESSION = re.compile(r"agentsoak\.server: (c\d+) ")
_AGENT = re.compile(r"\b(agent-\d{4,})\b")


def version() -> str:
    """The installed agentsoak's version ("unknown" outside an install)."""
    try:
        return importlib.metadata.version("agentsoak")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def bundle_agents(check: Check) -> list[str]:
    """The agents a bundle of ``check`` replays: those the report focused on (the first few it names)."""
    focused = [f.agent for f in check.focus] or list(check.agents[:FOCUS_AGENTS])
    return list(dict.fromkeys(focused))


def _focus_of(check: Check, agent: str | None) -> Focus | None:
    return next((f for f in check.focus if f.agent == agent), None) if agent else None


def _read_resolved(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "profile.resolved.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


class _Lines:
    """Matching log lines, bounded like a ``Slice``."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=LOG_LINES - LOG_LINES // 2)
        self.total = 0

    def add(self, line: str) -> None:
        self.total += 1
        (self.head.append if len(self.head) < LOG_LINES // 2 else self.tail.append)(line)

    @property
    def lines(self) -> list[str]:
        return [*self.head, *self.tail]


def _read_lines(path: Path) -> Iterator[str]:
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as fh:
        yield from fh


def _log_lines(path: Path, groups: dict[str, set[str]]) -> dict[str, _Lines]:
    """For each group (bundle -> its agents), the lines of ``path`` that name one of its agents or one
    of their server-side connections (``c36 open ... client=agent-0010/c2``). Two passes, any size."""
    wanted = set().union(*groups.values()) if groups else set()
    sessions: dict[str, str] = {}
    for line in _read_lines(path):
        m = _SERVER_OPEN.search(line)
        if m and m.group(2) in wanted:
            sessions[m.group(1)] = m.group(2)
    out = {name: _Lines() for name in groups}
    for line in _read_lines(path):
        named = set(_AGENT.findall(line)) & wanted
        m = _SERVER_SESSION.search(line)
        if m and m.group(1) in sessions:
            named.add(sessions[m.group(1)])
        if not named:
            continue
        for name, agents in groups.items():
            if named & agents:
                out[name].add(line.rstrip("\n"))
    return out


def _write_events(path: Path, s: Slice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for e in s.events:
            fh.write(encode(e))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def write_bundles(report: Report, run_dir: str | Path | None = None) -> list[Path]:
    """Write ``repro/<check>/`` for every failed check of ``report``; returns the bundle directories.

    One pass over the ledger serves every bundle. Files a later ``agentsoak reproduce`` added to a
    bundle directory (its replays, ``minimal.yaml``) are left alone.
    """
    failed = report.failed
    if not failed:
        return []
    rd = Path(run_dir) if run_dir is not None else report.run_dir
    chosen = {c.name: bundle_agents(c) for c in failed}
    focus = [f for c in failed for f in c.focus]
    evidence = gather(iter_ledger(rd, extra=report.extra_ledgers), {a for agents in chosen.values() for a in agents}, focus)
    resolved = _read_resolved(rd)
    groups = {c.name: set(chosen[c.name]) for c in failed}
    logs = {name: _log_lines(rd / "logs" / name, groups) for name in ("server.log", "proxy.log")}
    out = []
    for check in failed:
        out.append(_write_one(report, rd, check, chosen[check.name], evidence, resolved,
                              {name: lines[check.name] for name, lines in logs.items()}))
    return out


def _write_one(report: Report, rd: Path, check: Check, agents: list[str], evidence: Evidence,
               resolved: dict[str, Any] | None, logs: dict[str, _Lines]) -> Path:
    where = rd / REPRO_DIR / _safe(check.name)
    where.mkdir(parents=True, exist_ok=True)
    timeline = evidence.timeline(agents)
    indices = sorted(i for i in (index_of(a) for a in agents) if i is not None)
    primary = check.agents[0] if check.agents else None
    failed_at, failed_on = evidence.failed_at(_focus_of(check, primary) or Focus(primary)) if primary else (None, None)
    files: list[FileSlice] = []
    if resolved is not None:
        replay = replay_profile(resolved, indices, timeline)
        (where / "profile.yaml").write_text(
            f"# replay of {check.name} from run {rd.name} (seed {resolved.get('seed')}): "
            f"agents {', '.join(map(str, indices)) or 'all'}\n" + yaml.safe_dump(replay, sort_keys=False))
        (where / "original.yaml").write_text(
            f"# the resolved profile of run {rd.name}\n" + yaml.safe_dump(resolved, sort_keys=False))
    else:
        replay = {}
    for agent in agents:
        s = evidence.slices.get(agent, Slice())
        _write_events(where / "ledger" / f"{agent}.jsonl", s)
        files.append(FileSlice(path=f"ledger/{agent}.jsonl", kept=len(s.events), total=s.total,
                               what=f"{agent}'s events"))
    _write_events(where / "ledger" / "run.jsonl", evidence.run_events)
    files.append(FileSlice(path="ledger/run.jsonl", kept=len(evidence.run_events.events),
                           total=evidence.run_events.total, what="run, test and fault events"))
    for name, lines in logs.items():
        (where / "logs").mkdir(exist_ok=True)
        (where / "logs" / name).write_text("".join(f"{line}\n" for line in lines.lines))
        files.append(FileSlice(path=f"logs/{name}", kept=len(lines.lines), total=lines.total,
                               what=f"the lines of logs/{name} that name these agents or their connections"))
    bundle = Bundle(
        format=FORMAT, agentsoak=version(), run_id=rd.name, profile=report.name, seed=report.seed,
        check=CheckFailure(name=check.name, observed=check.observed, limit=check.limit, unit=check.unit,
                           agents=list(check.agents[:100]), agents_total=len(check.agents), detail=check.detail),
        signature=Signature(check=check.name, agent=primary), agents=indices, failed_at_s=failed_at,
        failed_on=failed_on,
        original=counts(resolved or {}, len(timeline)), replay=counts(replay, len(timeline)),
        timeline=timeline, files=files,
        replay_command=f"agentsoak reproduce {REPRO_DIR}/{_safe(check.name)}",
    )
    (where / "bundle.json").write_bytes(msgspec.json.format(msgspec.json.encode(bundle), indent=2) + b"\n")
    (where / "README.md").write_text(render_readme(bundle, rd.name, resolved is not None))
    return where
