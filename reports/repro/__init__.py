"""Repro bundles: ``repro/<check>/`` in a run directory for every failed check (docs/reproduce.md).

``write_bundles(report)`` writes them (``reports.report.write_report`` calls it); ``read_bundle(path)``
reads one back for ``agentsoak reproduce``. Module map: ``model`` (``bundle.json``'s types),
``evidence`` (one ledger pass), ``replay`` (the replay profile), ``readme``, ``write``, ``read``,
``judge`` (did a replay's report fail the same way).
"""

from __future__ import annotations

from reports.repro.judge import Judgement, judge
from reports.repro.model import FORMAT, AppliedFault, Bundle, Counts, Signature
from reports.repro.read import BundleError, LoadedBundle, read_bundle
from reports.repro.write import REPRO_DIR, bundle_agents, version, write_bundles

__all__ = ["FORMAT", "REPRO_DIR", "AppliedFault", "Bundle", "BundleError", "Counts", "Judgement", "LoadedBundle",
           "Signature", "bundle_agents", "judge", "read_bundle", "version", "write_bundles"]
