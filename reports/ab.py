"""The A/B of two transports: one run per arm (same profile, seed, agents and conversations), side by side.

:func:`arm_stats` reads one arm's ledger: per complete session (every turn of it completed once, the
agents' ``session`` numbering pairs them across arms) the end-to-end time from its first
``turn_start`` to its last ``turn_end``; per completed turn TTFT, bytes sent (``turn_start.input_bytes``)
and the reference server's charge by stage (``turn_end.server_cost_ms``), with generation as turn time
minus TTFT. :func:`compare` pairs the sessions of two arms and takes the ratio per pair; :func:`render`
writes the markdown table. Pure functions over ledger events; the runs are ``loadtests/ab_cli.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.ledger import iter_ledger
from reports.ledger import schema as ev
from reports.quantile import nearest_rank

__all__ = ["ArmStats", "Comparison", "STAGES", "arm_stats", "compare", "render", "read_arm"]

STAGES = ("handshake", "overhead", "upload", "hydrate", "prefill")


@dataclass
class ArmStats:
    """One arm: complete sessions' times by (agent, session), and per-turn means."""

    label: str
    sessions_ms: dict[tuple[str, int], float] = field(default_factory=dict)
    turns: int = 0
    turns_per_session: float = 0.0
    ttft_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)
    stages_ms: dict[str, float] = field(default_factory=dict)  # mean per completed turn
    generation_ms: float = 0.0
    transports: set[str] = field(default_factory=set)


def _mean(xs: Iterable[float]) -> float:
    vals = list(xs)
    return sum(vals) / len(vals) if vals else 0.0


def arm_stats(label: str, events: Iterable[Any]) -> ArmStats:
    """Summarise one arm's ledger events (any order within an agent's file order)."""
    starts: dict[str, ev.TurnStart] = {}
    first: dict[tuple[str, int], float] = {}
    last: dict[tuple[str, int], float] = {}
    good: dict[tuple[str, int], list[ev.TurnEnd]] = {}
    started: dict[tuple[str, int], set[str]] = {}
    bad: set[tuple[str, int]] = set()
    for e in events:
        if isinstance(e, ev.TurnStart):
            key = (e.agent, e.session)
            starts.setdefault(e.turn, e)
            first[key] = min(first.get(key, e.mono), e.mono)
            started.setdefault(key, set()).add(e.turn)
        elif isinstance(e, ev.TurnEnd) and e.session is not None:
            key = (e.agent, e.session)
            if e.outcome in ev.GOOD_OUTCOMES:
                good.setdefault(key, []).append(e)
                last[key] = max(last.get(key, e.mono), e.mono)
            elif e.outcome == ev.Outcome.STOPPED:
                bad.add(key)
    stats = ArmStats(label)
    full = max((len(v) for v in started.values()), default=0)  # turns_per_session: the longest session
    stage_sum = dict.fromkeys(STAGES, 0.0)
    gen: list[float] = []
    for key, ends in good.items():
        if key in bad or len(ends) != full or len({e.turn for e in ends}) != full:
            continue  # cut by the end of the test, or a turn lost: not comparable
        stats.sessions_ms[key] = (last[key] - first[key]) * 1000.0
        for e in ends:
            stats.turns += 1
            stats.transports.add(e.transport.value)
            stats.turn_ms.append(e.duration_ms)
            if e.ttft_ms is not None:
                stats.ttft_ms.append(e.ttft_ms)
                gen.append(e.duration_ms - e.ttft_ms)
            start = starts.get(e.turn)
            if start is not None:
                stats.bytes_sent.append(start.input_bytes)
            for stage in STAGES:
                stage_sum[stage] += (e.server_cost_ms or {}).get(stage, 0.0)
    if stats.turns:
        stats.stages_ms = {k: v / stats.turns for k, v in stage_sum.items()}
    stats.generation_ms = _mean(gen)
    stats.turns_per_session = full
    return stats


def read_arm(label: str, run_dir: Path) -> ArmStats:
    return arm_stats(label, iter_ledger(run_dir))


@dataclass(frozen=True)
class Comparison:
    a: ArmStats
    b: ArmStats
    pairs: int
    ratios: tuple[float, ...]  # a / b per paired session, ascending

    def ratio_q(self, q: float) -> float | None:
        return nearest_rank(list(self.ratios), q) if self.ratios else None


def compare(a: ArmStats, b: ArmStats) -> Comparison:
    common = sorted(set(a.sessions_ms) & set(b.sessions_ms))
    ratios = sorted(a.sessions_ms[k] / b.sessions_ms[k] for k in common if b.sessions_ms[k] > 0)
    return Comparison(a, b, len(common), tuple(ratios))


def _q(xs: list[float], q: float) -> float | None:
    return nearest_rank(sorted(xs), q) if xs else None


def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def render(c: Comparison, *, title: str = "WebSocket vs HTTP/SSE") -> str:
    """The side-by-side table (markdown): session time, TTFT, bytes per turn, time per stage, the ratio."""
    a, b = c.a, c.b
    paired = sorted(set(a.sessions_ms) & set(b.sessions_ms))
    sa = [a.sessions_ms[k] for k in paired]
    sb = [b.sessions_ms[k] for k in paired]
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, va: float | None, vb: float | None, digits: int = 1) -> None:
        ratio = f"{va / vb:.2f}" if va is not None and vb else "-"
        rows.append((name, _f(va, digits), _f(vb, digits), ratio))

    row("session time p50 (ms)", _q(sa, 0.5), _q(sb, 0.5), 0)
    row("session time mean (ms)", _mean(sa) if sa else None, _mean(sb) if sb else None, 0)
    row("turn time mean (ms)", _mean(a.turn_ms) or None, _mean(b.turn_ms) or None)
    row("TTFT p50 (ms)", _q(a.ttft_ms, 0.5), _q(b.ttft_ms, 0.5))
    row("TTFT mean (ms)", _mean(a.ttft_ms) or None, _mean(b.ttft_ms) or None)
    row("bytes sent per turn (mean)", _mean(a.bytes_sent) or None, _mean(b.bytes_sent) or None, 0)
    for stage in STAGES:
        row(f"stage {stage} (ms/turn, server)", a.stages_ms.get(stage, 0.0), b.stages_ms.get(stage, 0.0), 2)
    net_a = _mean(a.ttft_ms) - sum(a.stages_ms.get(s, 0.0) for s in STAGES) if a.ttft_ms else None
    net_b = _mean(b.ttft_ms) - sum(b.stages_ms.get(s, 0.0) for s in STAGES) if b.ttft_ms else None
    row("network + rest of TTFT (ms/turn)", net_a, net_b, 2)
    row("stage generation (ms/turn, client)", a.generation_ms, b.generation_ms, 2)
    lines = [
        f"### {title}",
        "",
        f"{c.pairs} paired sessions of {int(a.turns_per_session)} turns ({a.label}: {len(a.sessions_ms)} complete, "
        f"{b.label}: {len(b.sessions_ms)} complete); {a.turns} and {b.turns} turns.",
        "",
        f"| metric | {a.label} | {b.label} | {a.label}/{b.label} |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {x} | {y} | {r} |" for n, x, y, r in rows),
        "",
    ]
    if c.ratios:
        lines.append(
            f"Session time ratio {a.label}/{b.label} per paired session: p10 {c.ratio_q(0.1):.3f}, "
            f"p50 {c.ratio_q(0.5):.3f}, p90 {c.ratio_q(0.9):.3f} (min {c.ratios[0]:.3f}, max {c.ratios[-1]:.3f}); "
            f"{a.label} is {100 * (1 - (c.ratio_q(0.5) or 1)):.1f}% faster at the median."
        )
    else:
        lines.append("No session completed in both arms: no ratio.")
    return "\n".join(lines) + "\n"
