"""Summary statistics shared by the product, its load reports and its benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Literal


def percentile(
    values: Iterable[float], q: float, *, method: Literal["linear", "nearest"] = "linear"
) -> float | None:
    """The q-quantile (q in 0..1) of `values`; None if there are none.

    `linear` interpolates between the closest ranks (numpy's default, so reports agree with
    ad-hoc analysis); `nearest` is the value at the nearest rank, always one that was observed
    (what a conversation's metrics and the analytics API report).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in 0..1, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    if method == "nearest":
        return ordered[min(len(ordered) - 1, round(position))]
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentile_interval(
    values: Iterable[float],
    q: float,
    *,
    level: float = 0.9,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """How far the q-quantile of `values` could move with another sample of the same size:
    the central `level` interval of the quantile over `resamples` bootstrap resamples (drawn
    with a fixed seed, so one set of values always gives one interval). None with fewer than
    two values."""
    data = list(values)
    if len(data) < 2:
        return None
    rng = random.Random(seed)
    estimates = sorted(
        percentile(rng.choices(data, k=len(data)), q) or 0.0 for _ in range(resamples)
    )
    tail = (1.0 - level) / 2
    lo = percentile(estimates, tail)
    hi = percentile(estimates, 1.0 - tail)
    assert lo is not None and hi is not None
    return lo, hi
