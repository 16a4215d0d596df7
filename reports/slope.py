"""Growth slopes of the components' health series: Theil-Sen over the run's second half (pure).

Theil-Sen (the median of the slopes between every pair of samples) ignores a minority of wild
samples: a garbage collection, a burst of reconnects, a fault window. The second half is judged
because the first holds the ramp-up (agents connecting, caches and stores filling); a leak is what
still grows after that. A window too short or too thinly sampled has no slope: the checks say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reports.summary.model import ComponentSeries, RunSummary

__all__ = ["MB", "MAX_POINTS", "theil_sen", "Window", "ComponentSlope", "second_half", "component_slopes"]

MB = 1_000_000.0  # bytes in the reports' MB
MAX_POINTS = 400  # a longer series is thinned evenly first (pairs grow with the square)


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The median of the pairwise slopes ``(y_j - y_i) / (x_j - x_i)`` (None with fewer than two distinct x)."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=True)]
    if len(pts) > MAX_POINTS:
        step = len(pts) / MAX_POINTS
        pts = [pts[int(i * step)] for i in range(MAX_POINTS)]
    slopes = sorted((yj - yi) / (xj - xi) for i, (xi, yi) in enumerate(pts) for xj, yj in pts[i + 1:] if xj != xi)
    if not slopes:
        return None
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2.0


@dataclass(frozen=True)
class Window:
    """The judged stretch of the run, seconds since the test start."""

    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def __str__(self) -> str:
        return f"{self.start_s:.0f}-{self.end_s:.0f} s"


@dataclass(frozen=True)
class ComponentSlope:
    """One component's second-half slopes; ``None`` slopes come with ``why`` (too few samples, ...)."""

    component: str
    window: Window
    samples: int  # in the window
    rss_mb_per_h: float | None
    fds_per_h: float | None
    why: str = ""


def second_half(summary: RunSummary) -> Window | None:
    """The second half of the test (of the samples' span when the ledger has no test time)."""
    if summary.duration_s > 0:
        return Window(summary.duration_s / 2.0, summary.duration_s)
    ts = [t for s in summary.health.values() for t in s.t]
    if len(ts) < 2:
        return None
    lo, hi = min(ts), max(ts)
    return Window((lo + hi) / 2.0, hi)


def _slope(series: ComponentSeries, window: Window, values: Sequence[float | int | None],
           per_h: float) -> float | None:
    pts = [(t, v) for t, v in zip(series.t, values, strict=True)
           if v is not None and window.start_s <= t <= window.end_s]
    if len(pts) < 2:
        return None
    s = theil_sen([t for t, _ in pts], [float(v) for _, v in pts])
    return None if s is None else s * per_h


def component_slopes(summary: RunSummary, *, min_samples: int, min_window_s: float) -> list[ComponentSlope]:
    """Every component's slopes over the second half, in component order (none without health samples)."""
    window = second_half(summary)
    if window is None:
        return []
    out = []
    for name, series in summary.health.items():
        n = sum(1 for t in series.t if window.start_s <= t <= window.end_s)
        if window.length_s < min_window_s:
            out.append(ComponentSlope(name, window, n, None, None,
                                      f"second half {window.length_s:.0f} s, shorter than {min_window_s:g} s"))
        elif n < min_samples:
            out.append(ComponentSlope(name, window, n, None, None,
                                      f"{n} samples in the second half, fewer than {min_samples}"))
        else:
            out.append(ComponentSlope(name, window, n, _slope(series, window, series.rss_bytes, 3600.0 / MB),
                                      _slope(series, window, series.fds, 3600.0)))
    return out
