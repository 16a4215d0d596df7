"""The facts every check and chart needs, from one pass over the typed ledger.

- ``model``: ``RunSummary`` and its value types;
- ``summarize``: the pass, dispatching each event kind to one collector per concern:
  ``run`` (run identity and time frame), ``turns`` (outcomes, tokens, integrity), ``connections``
  (disconnects and what followed), ``faults`` (fault windows), ``dispatch`` (agents running at once), ``timeline`` (per-second buckets), ``health`` (component samples).
"""

from __future__ import annotations

from reports.summary.connections import FAULT_ATTRIBUTION_TAIL_S
from reports.summary.model import (
    CloseKey,
    ComponentSeries,
    Disconnect,
    Dispatch,
    Dist,
    FaultWindow,
    Finding,
    Integrity,
    RecoveryCounts,
    RunInfo,
    RunSummary,
    Second,
    TimelinePlay,
)
from reports.summary.summarize import Summarizer, summarize

__all__ = ["FAULT_ATTRIBUTION_TAIL_S", "CloseKey", "ComponentSeries", "Dist", "Disconnect", "Dispatch", "FaultWindow", "Finding", "Integrity",
           "RecoveryCounts", "RunInfo", "RunSummary", "Second", "Summarizer", "TimelinePlay", "summarize"]
