"""report.json: a stable, versioned schema (``schema_version``; keys are only added within a version).

Top level: ``schema_version``, ``generated_at``, ``run`` (name, seed, dir, status, partial, ..., and
the run metadata of ``reports.history.meta``: profile, profile_hash, agentsoak_version,
target_revision, host, started_at, ended_at), ``metrics`` (the gated metrics of
``reports.history.metrics`` by name), ``verdict`` (PASS/FAIL/INTERRUPTED/BROKEN), ``exit_code``,
``checks`` (list), ``trails`` (the last events of the agents named in failed checks), ``thresholds``, ``summary``
(counts, distributions, cache, recovery modes, close codes, integrity), ``faults`` (one entry per
fault window with its recovery), ``disconnects_by_fault``, ``timeline`` (per-second arrays),
``notes``. Times are seconds since the test start; latencies in ms.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import msgspec
import orjson

from reports.history.meta import profile_hash, read_meta
from reports.history.metrics import run_metrics
from reports.model import Report, exit_code

__all__ = ["SCHEMA_VERSION", "report_dict", "render_json"]

SCHEMA_VERSION = 1


def _timeline(report: Report) -> dict[str, list[Any]]:
    tl = report.summary.timeline
    return {
        "t": [s.t for s in tl],
        "connected": [s.connected for s in tl],
        "connects": [s.connects for s in tl],
        "disconnects": [s.disconnects for s in tl],
        "reconnects": [s.reconnects for s in tl],
        "turns": [s.turns for s in tl],
        "failures": [s.failures for s in tl],
        "latency_p50_ms": [s.latency.quantile(0.5) for s in tl],
        "latency_p95_ms": [s.latency.quantile(0.95) for s in tl],
        "ttft_p50_ms": [s.ttft.quantile(0.5) for s in tl],
        "ttft_p95_ms": [s.ttft.quantile(0.95) for s in tl],
        "cache_hit": [s.cache_hit for s in tl],
        "cache_store": [s.cache_store for s in tl],
        "cache_miss": [s.cache_miss for s in tl],
        "recovery_cache_hit": [s.recoveries.cache_hit for s in tl],
        "recovery_store_hydrate": [s.recoveries.store_hydrate for s in tl],
        "recovery_full_resend": [s.recoveries.full_resend for s in tl],
        "recovery_failed": [s.recoveries.failed for s in tl],
        "recovery_new_conversation": [s.recoveries.new_conversation for s in tl],
    }


def report_dict(report: Report) -> dict[str, Any]:
    """The report.json document as plain data."""
    s = report.summary
    it = s.integrity
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": report.generated_at,
        "run": {
            "name": report.name,
            "seed": report.seed,
            "dir": str(report.run_dir),
            "status": report.run_status,
            "exit_reason": report.exit_reason,
            "partial": report.partial,
            "partial_reasons": list(report.partial_reasons),
            "broken": report.broken,
            "info": asdict(s.run),
            "ledger": {"files": report.ledger_files, "lines": report.ledger_lines, "bad_lines": report.bad_lines},
            "profile": report.name,
            "profile_hash": profile_hash(report.run_dir),
            **read_meta(report.run_dir).as_dict(),
        },
        "metrics": run_metrics(report),
        "verdict": report.verdict,
        "exit_code": exit_code(report),
        "checks": [
            {"name": c.name, "verdict": c.verdict, "passed": c.passed, "observed": c.observed, "limit": c.limit,
             "unit": c.unit, "agents": list(c.agents), "detail": c.detail, "focus": [asdict(f) for f in c.focus]}
            for c in report.checks
        ],
        "trails": [
            {"check": t.check, "agent": t.focus.agent, "anchor": t.anchor, "events": [asdict(e) for e in t.events]}
            for t in report.trails
        ],
        "thresholds": report.thresholds.as_dict(),
        "summary": {
            "duration_s": s.duration_s,
            "events": s.events,
            "agents": s.agents,
            "sessions": s.sessions,
            "turns": s.turns,
            "turn_attempts": s.turn_attempts,
            "outcomes": dict(s.outcomes),
            "ttft_ms": asdict(s.ttft_ms),
            "latency_ms": asdict(s.latency_ms),
            "gap_p50_ms": asdict(s.gap_p50_ms),
            "gap_p99_ms": asdict(s.gap_p99_ms),
            "tokens_per_s": asdict(s.tokens_per_s),
            "output_tokens": s.output_tokens,
            "output_tokens_per_s": s.output_tokens_per_s,
            "input_tokens": s.input_tokens,
            "cached_tokens": s.cached_tokens,
            "cache": dict(s.cache),
            "recovery_modes": dict(s.recovery_modes),
            "close_codes": [{"closed_by": k[0], "code": k[1], "count": n} for k, n in s.close_codes.items()],
            "connect_failures": dict(s.connect_failures),
            "integrity": {
                "digests_compared": it.digests_compared,
                "digest_mismatches": asdict(it.digest_mismatches),
                "lost_turns": asdict(it.lost_turns),
                "never_ended_turns": it.never_ended_turns,
                "lost_how": dict(it.lost_how),
                "duplicated_turns": asdict(it.duplicated_turns),
                "chain_breaks": asdict(it.chain_breaks),
                "not_found": it.not_found,
                "not_found_resent": it.not_found_resent,
                "not_found_unanswered": asdict(it.not_found_unanswered),
                "failed_recoveries": asdict(it.failed_recoveries),
            },
        },
        "faults": [asdict(r) for r in report.recoveries],
        "fault_errors": {f.fault: list(f.errors) for f in s.faults if f.errors},
        "disconnects_by_fault": {k: dict(v) for k, v in s.disconnects_by_fault.items()},
        "timeline": _timeline(report),
        "notes": list(report.notes),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):  # ledger values carried in the summary (the backoff policy, the plan)
        return msgspec.to_builtins(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def render_json(report: Report) -> bytes:
    return orjson.dumps(report_dict(report), default=_plain, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
