"""The limits the checks compare against: defaults here, overrides from the profile's ``checks:``.

Every field can be overridden by name in the profile; ``null`` disables the check it feeds (its
verdict becomes ``skip``). Units are in the name: ``_ms``, ``_s``, ``_pct``, ``_per_s``, ``_per_h``; ``max_*``
are counts that may not be exceeded.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from reports.errors import ThresholdError

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits for ``reports.verify.verify``. All are optional (None = check skipped)."""

    # Reconnection. A disconnect must be followed by a connect_ok of the same agent.
    max_unrecovered_agents: int | None = 0
    reconnect_p50_ms: float | None = 2_000.0
    reconnect_p95_ms: float | None = 5_000.0
    reconnect_p99_ms: float | None = 10_000.0
    reconnect_max_ms: float | None = 20_000.0
    #: connect attempts one recovery may take (the SDKs give up after 5)
    reconnect_attempts_max: int | None = 5
    #: a disconnect this close to the end of the test need not be followed by a reconnect
    reconnect_grace_s: float = 20.0
    #: half-open sockets (ping/idle timeout): silence before the client noticed
    half_open_detect_max_ms: float | None = 45_000.0
    #: reconnect storm: peak successful reconnects in one second (None = report only)
    reconnect_peak_per_s_max: float | None = None

    # State-cache recovery and conversation integrity.
    max_failed_recoveries: int | None = 0
    max_digest_mismatches: int | None = 0
    #: turns whose previous_response_id does not chain, plus not_found errors never answered by a full resend
    max_chain_breaks: int | None = 0
    max_lost_turns: int | None = 0
    #: turns started after a transport fallback that were lost or completed twice
    max_fallback_turn_failures: int | None = 0
    #: agents that must have fallen back to another transport (a profile that forces a fallback)
    min_fallback_agents: int | None = None
    max_duplicated_turns: int | None = 0

    # Recovery in time, per fault window.
    #: "recovered" = turn latency p95 and TTFT p95 back within this % above the pre-fault baseline
    recovery_within_pct: float | None = 50.0
    #: ... within this many seconds after the fault window closed
    recovery_max_s: float | None = 30.0
    #: the pre-fault baseline covers at most this many seconds before the fault
    baseline_s: float = 30.0
    #: the p95 must hold for this many consecutive seconds to count as recovered
    recovery_hold_s: float = 3.0
    #: ... over at least this % of the baseline's turns per second: a few stragglers (turns that end
    #: from frames read just after a mass drop) say nothing about a p95
    recovery_min_rate_pct: float = 50.0

    # Run health.
    min_completed_turns: int | None = 1
    max_fault_errors: int | None = 0
    #: planned fault windows that did not apply although the test ran past their start
    max_unapplied_faults: int | None = 0
    #: users Locust started beyond the run's agents (outside its indices, or refused one by the master)
    max_extra_agents: int | None = 0

    # Component health (loadtests/health.py samples; reports/slope.py): Theil-Sen slope over the
    # run's second half, per component.
    #: RSS growth, MB (10^6 bytes) per hour
    health_rss_slope_mb_per_h: float | None = 20.0
    #: open file descriptors' growth per hour
    health_fd_slope_per_h: float | None = 200.0
    #: a component needs this many samples in the second half to be judged
    health_min_samples: int = 10
    #: ... and the second half must be at least this long (short runs are skipped, never passed)
    health_min_window_s: float = 300.0

    # Load-generator headroom (reports/headroom.py): the CPU of every sampled process (the Locust
    # processes, and the embedded server and proxy, which share the box when they are sampled).
    #: a process is saturated at or above this CPU (100 = one core; Locust warns from 90)
    headroom_cpu_pct: float | None = 90.0
    #: the box is saturated when the processes' summed CPU reaches this % of its cores
    headroom_box_pct: float | None = 90.0
    #: ... for at least this many consecutive samples (each covers the interval since the previous
    #: one: 2 at the default 5 s sampling is about 10 s); a component needs as many to be judged
    headroom_min_samples: int = 2

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Thresholds:
        """Defaults overridden by ``data`` (the profile's ``checks:``); raises ``ThresholdError``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ThresholdError("checks", f"checks: must be a mapping of threshold names, not {type(data).__name__}")
        specs = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if not isinstance(key, str) or key not in specs:
                near = difflib.get_close_matches(str(key), list(specs), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ThresholdError(str(key), f"checks: unknown threshold {key!r}{hint}")
            values[key] = _coerce(key, str(specs[key].type), value)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, type_text: str, value: Any) -> int | float | None:
    optional = "None" in type_text
    if value is None:
        if optional:
            return None
        raise ThresholdError(key, f"checks.{key}: may not be null")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ThresholdError(key, f"checks.{key}: expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ThresholdError(key, f"checks.{key}: expected a finite number >= 0, got {value!r}")
    if type_text.startswith("int"):
        if value != int(value):
            raise ThresholdError(key, f"checks.{key}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)
