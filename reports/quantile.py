"""The one quantile rule of agentsoak: nearest rank (stdlib only, so every side can use it).

Nearest rank returns an observed value, never an interpolation, and the q-quantile of n values is the
ceil(q * n)-th smallest: [1, 2, 3, 4] has p50 = 2, p95 = 4. Reports use it for exact quantiles of
bounded lists; agents use it for the per-turn inter-token gaps they record in ``turn_end``
(``loadtests/protocol`` keeps raw gaps and computes no quantile itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["nearest_rank"]


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in 0..1) of a non-empty, ascending sequence."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]
