"""Load-generator headroom: when a sampled process, or the box as a whole, ran out of CPU (pure).

The health samples (``health_sample``, docs/nightly.md) give every sampled process's CPU since its
previous sample (100 = one core). The processes are the Locust ones and, when the ledger has their
samples, the embedded server and proxy, which then share the box with Locust. A process is
saturated over a window of at least ``min_samples`` consecutive samples at or above ``cpu_pct``;
the box is, when the processes' summed CPU reaches ``box_pct`` of ``run_start.cpu_count`` cores over
as many consecutive sampling rounds. While either holds, the latency figures describe the
generator, not the target. Only samples taken during the test (0 < t <= its duration) count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reports.summary import ComponentSeries, RunSummary

__all__ = ["CHECK", "BOX", "NOTE", "Saturation", "Headroom", "headroom"]

CHECK = "generator.headroom"  # the check's name (reports.verify), read by the headline and the gate
BOX = "box"
#: what a saturated generator means for the run's figures (the check, the headline and the gate say it)
NOTE = "the latency figures then describe the generator, not the target"


@dataclass(frozen=True)
class Saturation:
    """One saturated window: ``component`` (a process, or ``BOX``), seconds since the test start
    (from the start of its first sample's interval), its peak CPU (% of one core; of the box for
    ``BOX``) and, for the box, the peak summed CPU in cores."""

    component: str
    start_s: float
    end_s: float
    peak_pct: float
    samples: int
    peak_cores: float | None = None
    cores: int | None = None

    def describe(self, limit: float) -> str:
        when = f"over {self.start_s:.0f}-{self.end_s:.0f} s of the test ({self.samples} samples)"
        if self.component == BOX:
            return (f"the box at >= {limit:g}% of its {self.cores} cores {when}, peak {self.peak_cores:.2f} "
                    f"cores ({self.peak_pct:.0f}%)")
        return f"{self.component} at >= {limit:g}% CPU {when}, peak {self.peak_pct:.1f}%"


@dataclass(frozen=True)
class Headroom:
    """The saturated windows, and what could be judged: ``peaks`` is every judged process's peak CPU
    during the test, ``unjudged`` the processes with too few CPU samples (name, how many);
    ``box_peak_pct`` the box's peak (None: not judged, ``box_why`` says why)."""

    saturations: tuple[Saturation, ...]
    peaks: dict[str, float]
    unjudged: tuple[tuple[str, int], ...]
    box_peak_pct: float | None
    box_peak_cores: float | None
    box_why: str
    sampled: bool  # the ledger has health samples at all

    @property
    def judged(self) -> bool:
        return bool(self.peaks) or self.box_peak_pct is not None


def headroom(summary: RunSummary, *, cpu_pct: float | None, box_pct: float | None,
             min_samples: int) -> Headroom:
    """The saturated windows of ``summary``'s health samples (``None`` limits are not judged)."""
    need = max(1, min_samples)
    end = summary.duration_s
    sats: list[Saturation] = []
    peaks: dict[str, float] = {}
    unjudged: list[tuple[str, int]] = []
    for name, series in summary.health.items():
        points = _points(series, end)
        if len(points) < need:
            unjudged.append((name, len(points)))
            continue
        peaks[name] = max(v for _, _, v in points)
        if cpu_pct is not None:
            sats += _windows(name, points, cpu_pct, need)
    box_peak = box_cores = None
    cores = summary.run.cpu_count
    if box_pct is None:
        why = "disabled (no limit)"
    elif not cores:
        why = "core count not recorded (run_start.cpu_count: an older ledger)"
    else:
        rounds = _rounds(summary.health, end)
        if len(rounds) < need:
            why = f"{len(rounds)} sampling rounds during the test, fewer than {need}"
        else:
            why = ""
            box = [(a, b, total / cores) for a, b, total in rounds]  # % of the box
            box_peak = max(v for _, _, v in box)
            box_cores = box_peak * cores / 100.0
            sats += [Saturation(BOX, s.start_s, s.end_s, s.peak_pct, s.samples, s.peak_pct * cores / 100.0, cores)
                     for s in _windows(BOX, box, box_pct, need)]
    sats.sort(key=lambda s: (s.start_s, s.component))
    return Headroom(tuple(sats), peaks, tuple(unjudged), box_peak, box_cores, why, bool(summary.health))


def _points(series: ComponentSeries, end: float) -> list[tuple[float, float, float]]:
    """(interval start, sample time, CPU) of each sample during the test that has a CPU figure."""
    out = []
    for i, (t, cpu) in enumerate(zip(series.t, series.cpu_pct, strict=True)):
        if cpu is None or not 0.0 < t <= end:
            continue
        out.append((max(0.0, series.t[i - 1] if i else t), t, cpu))
    return out


def _rounds(health: Mapping[str, ComponentSeries], end: float) -> list[tuple[float, float, float]]:
    """(interval start, time, summed CPU) of each sampling round: the sampler takes every process in
    turn, so a round ends where a process comes round again."""
    samples = sorted((t, name, cpu) for name, s in health.items()
                     for t, cpu in zip(s.t, s.cpu_pct, strict=True) if cpu is not None and 0.0 < t <= end)
    rounds: list[tuple[float, float]] = []  # (time, summed CPU)
    seen: set[str] = set()
    for t, name, cpu in samples:
        if not rounds or name in seen:
            rounds.append((t, 0.0))
            seen = set()
        seen.add(name)
        rounds[-1] = (t, rounds[-1][1] + cpu)
    return [(max(0.0, rounds[i - 1][0]) if i else t, t, total) for i, (t, total) in enumerate(rounds)]


def _windows(name: str, points: list[tuple[float, float, float]], limit: float, need: int) -> list[Saturation]:
    """The runs of at least ``need`` consecutive points at or above ``limit``."""
    out: list[Saturation] = []
    run: list[tuple[float, float, float]] = []
    for p in [*points, (0.0, 0.0, float("-inf"))]:  # a sentinel closes the last run
        if p[2] >= limit:
            run.append(p)
            continue
        if len(run) >= need:
            out.append(Saturation(name, round(run[0][0], 1), round(run[-1][1], 1), max(v for _, _, v in run),
                                  len(run)))
        run = []
    return out
