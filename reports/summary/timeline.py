"""Per-second buckets: the run's time series, and the one store of turn latency, TTFT and cache counts."""

from __future__ import annotations

from collections.abc import Iterable

from reports.ledger.schema import CacheOutcome, RecoveryMode
from reports.sketch import LogHistogram
from reports.summary.model import RecoveryCounts, Second

__all__ = ["Bucket", "Timeline"]

_MAX_FILLED_SPAN_S = 14 * 86_400  # a bogus clock: do not fill weeks of empty seconds


class Bucket:
    """What happened in one second of ``mono`` time."""

    __slots__ = ("connects", "disconnects", "reconnects", "turns", "failures", "latency", "ttft", "cache",
                 "recoveries")

    def __init__(self) -> None:
        self.connects = self.disconnects = self.reconnects = self.turns = self.failures = 0
        self.latency = LogHistogram()
        self.ttft = LogHistogram()
        self.cache: dict[CacheOutcome, int] = dict.fromkeys(CacheOutcome, 0)
        self.recoveries: dict[RecoveryMode, int] = dict.fromkeys(RecoveryMode, 0)


class Timeline:
    """Buckets keyed by whole seconds of ``mono``."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}

    def at(self, mono: float) -> Bucket:
        key = int(mono // 1)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = Bucket()
        return b

    def latency(self) -> LogHistogram:
        return LogHistogram.merged(b.latency for b in self.buckets.values())

    def ttft(self) -> LogHistogram:
        return LogHistogram.merged(b.ttft for b in self.buckets.values())

    def cache_totals(self) -> dict[str, int]:
        """Completed turns by reported cache outcome, ``none`` for those that reported none."""
        seconds = self.buckets.values()
        out = {c.value: sum(b.cache[c] for b in seconds) for c in CacheOutcome}
        out["none"] = sum(b.turns for b in seconds) - sum(out.values())
        return out

    def seconds(self, base: float) -> tuple[Second, ...]:
        """Every second from the first bucket to the last, relative to ``base``, with the connected count."""
        if not self.buckets:
            return ()
        keys = self.buckets.keys()
        lo, hi = min(keys), max(keys)
        span: Iterable[int] = sorted(keys) if hi - lo > _MAX_FILLED_SPAN_S else range(lo, hi + 1)
        shift = int(base // 1)
        out = []
        connected = 0
        empty = Bucket()
        for key in span:
            b = self.buckets.get(key, empty)
            connected += b.connects - b.disconnects
            out.append(Second(
                t=key - shift, connected=connected, connects=b.connects, disconnects=b.disconnects,
                reconnects=b.reconnects, turns=b.turns, failures=b.failures, latency=b.latency, ttft=b.ttft,
                cache_hit=b.cache[CacheOutcome.HIT], cache_store=b.cache[CacheOutcome.STORE],
                cache_miss=b.cache[CacheOutcome.MISS],
                recoveries=RecoveryCounts(**{m.value: n for m, n in b.recoveries.items()}),
            ))
        return tuple(out)
