"""Confidence intervals that respect correlation: replications and batch means.

Waiting times of successive customers are strongly correlated, so the naive interval
``mean +- t * s / sqrt(n)`` over one run is far too narrow. Two honest alternatives:

* **replications** - independent runs (independent seeds); one summary per run, and a
  Student-t interval over the runs;
* **batch means** - one long run cut into ``k`` contiguous batches whose means are nearly
  independent when batches are much longer than the correlation time.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    level: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n, "level": self.level}


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval for the mean of independent ``values`` (NaNs dropped)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = x.size
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    m = float(x.mean())
    if n == 1:
        return Interval(m, math.nan, math.nan, 1, level)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(m, m - half, m + half, n, level)


def batch_means(series: Sequence[float], batches: int = 20, level: float = 0.95) -> Interval:
    """Interval for the mean of one correlated ``series`` from ``batches`` batch means."""
    x = np.asarray(series, dtype=float)
    size = x.size // batches
    if size < 1:
        raise ValueError(f"need at least {batches} observations, got {x.size}")
    means = x[: size * batches].reshape(batches, size).mean(axis=1)
    return t_interval(means, level)


def naive(series: Sequence[float], level: float = 0.95) -> Interval:
    """The i.i.d. interval - wrong for correlated series; kept to show how wrong."""
    return t_interval(series, level)
