"""The mountain-bike buffer's re-tuning formulas (digest 1 and 2.5), as pure functions.

With the article's constants (scale 10 ms, 10 req/s, bounds 50-200 ms and 16-256):

    window_ms = 50 + 150 * clamp(stddev_ms / 10, 0, 1)
    capacity  = 16 << int(clamp(log2(rps / 10), 0, 4))
    max_concurrency = max(10, 1e6 / p95_ms)

Here the constants are parameters. ``capacity`` doubles from ``capacity_min`` with each
doubling of RPS above ``rps_scale`` and never exceeds ``capacity_max``.
"""
from __future__ import annotations

import math


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def window_ms(stddev_ms: float, lo: float = 50.0, hi: float = 200.0, scale_ms: float = 10.0) -> float:
    """Admission window (ms): longer when latency varies more."""
    if not stddev_ms > 0:  # also catches NaN
        return lo
    # lo + (hi - lo) can round to just above hi: clamp the sum too
    return min(hi, lo + (hi - lo) * clamp(stddev_ms / scale_ms, 0.0, 1.0))


def capacity(rps: float, lo: int = 16, hi: int = 256, rps_scale: float = 10.0) -> int:
    """Ring capacity (slots): doubles with each doubling of RPS, within [lo, hi]."""
    steps = max(0, math.floor(math.log2(hi / lo)))  # doublings that fit (0 when hi < 2 lo)
    if not rps > rps_scale:
        return lo
    k = int(clamp(math.log2(rps / rps_scale), 0.0, float(steps)))
    return min(hi, lo << k)


def max_concurrency(p95_ms: float, k: float = 1e6, floor: float = 10.0) -> float:
    """The article's alternative admission limit: requests in flight."""
    if not p95_ms > 0:
        return math.inf
    return max(floor, k / p95_ms)
