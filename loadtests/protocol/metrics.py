"""Per-turn metrics from timestamps passed in (no clocks here)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TurnMetrics", "MIN_DELTAS_FOR_RATE"]

MIN_DELTAS_FOR_RATE = 10


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    """What one turn measured: all times in milliseconds."""

    ttft_ms: float | None
    duration_ms: float
    output_tokens: int
    input_tokens: int
    cached_tokens: int
    gaps_ms: tuple[float, ...]  # inter-token gaps, ascending; quantiles: reports.quantile (the agent's turn_end)
    tokens_per_s: float | None

    @classmethod
    def compute(cls, *, sent_at: float, first_delta_at: float | None, delta_times: list[float], ended_at: float,
                output_tokens: int, input_tokens: int, cached_tokens: int) -> TurnMetrics:
        """Build metrics from monotonic timestamps in seconds.

        TTFT is from the send to the first output delta (text or arguments). Inter-token gaps are the
        differences between consecutive deltas. Tokens/s is output tokens over the streaming window
        (first delta to the terminal event), or None when there was no delta.
        """
        gaps = sorted((b - a) * 1000.0 for a, b in zip(delta_times, delta_times[1:], strict=False))
        ttft = None if first_delta_at is None else (first_delta_at - sent_at) * 1000.0
        tps = None
        n = len(delta_times)
        if n >= MIN_DELTAS_FOR_RATE and output_tokens > 0 and delta_times[-1] > delta_times[0]:
            tps = output_tokens * (n - 1) / n / (delta_times[-1] - delta_times[0])
        return cls(
            ttft_ms=ttft,
            duration_ms=(ended_at - sent_at) * 1000.0,
            output_tokens=output_tokens,
            input_tokens=input_tokens,
            cached_tokens=cached_tokens,
            gaps_ms=tuple(gaps),
            tokens_per_s=tps,
        )
