"""The trend table of ``agentsoak history``: one row per run, the gated metrics as columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tabulate import tabulate

from reports.history.metrics import METRICS, Metric
from reports.history.record import RunRecord

__all__ = ["render_trend", "trend_dict"]


def _cell(m: Metric, value: float | None) -> str:
    if value is None:
        return "-"
    if m.unit == "ratio":
        return f"{100.0 * value:.1f}%"
    if m.unit == "ms":
        return f"{value:.0f}"
    return f"{value:g}"


def _header(m: Metric) -> str:
    return f"{m.label} ({m.unit})" if m.unit not in ("ratio", "turns") else m.label


def render_trend(runs: Sequence[RunRecord], metrics: Sequence[Metric] = METRICS) -> str:
    """The runs (oldest first) as a plain-text table."""
    rows = [[r.meta.started_at or r.recorded_at or "-", r.profile, r.meta.target_revision or "-", r.verdict,
             *(_cell(m, r.metrics.get(m.name)) for m in metrics)] for r in runs]
    return tabulate(rows, headers=["started (UTC)", "profile", "revision", "verdict", *map(_header, metrics)],
                    disable_numparse=True, stralign="right") + "\n"


def trend_dict(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The runs as plain data (``agentsoak history --json``)."""
    return [{"run": r.run_key, "run_dir": r.run_dir, "profile": r.profile, "profile_hash": r.profile_hash,
             "seed": r.seed, "verdict": r.verdict, "exit_code": r.exit_code, **r.meta.as_dict(),
             "recorded_at": r.recorded_at, "metrics": dict(r.metrics),
             "checks": [asdict(c) for c in r.checks]} for r in runs]
