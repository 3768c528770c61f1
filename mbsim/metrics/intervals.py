"""Confidence intervals that respect correlation: replications and batch means.

Waiting times of successive customers are strongly correlated, so the naive interval
``mean +- t * s / sqrt(n)`` over one run is far too narrow. Two honest alternatives:

* **replications** - independent runs (independent seeds); one summary per run, and a
  Student-t interval over the runs;
* **batch means** - one long run cut into ``k`` contiguous batches whose means are nearly
  independent when batches are much longer than the correlation time.

Percentiles of one run get distribution-free intervals from order statistics
(:func:`percentile`), with the number of samples beyond them: a tail percentile with
fewer than 100 samples beyond it is reported as not meaningful.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


#: a percentile with fewer samples than this beyond it is reported as not meaningful
MIN_BEYOND = 100


@dataclass(frozen=True)
class Percentile:
    """A sample percentile with its distribution-free interval (order statistics).

    ``beyond`` is the number of samples above the percentile: P99.99 of 80,000 samples has
    8 beyond it, and is then not ``meaningful`` (fewer than :data:`MIN_BEYOND`)."""

    q: float  # in (0, 1)
    value: float
    low: float
    high: float
    n: int
    beyond: int
    level: float = 0.95

    @classmethod
    def empty(cls, q: float, level: float) -> Percentile:
        """The percentile of no samples: NaN, with nothing beyond it."""
        return cls(q, math.nan, math.nan, math.nan, 0, 0, level)

    @property
    def meaningful(self) -> bool:
        return self.beyond >= MIN_BEYOND

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n, "beyond": self.beyond,
                "meaningful": self.meaningful, "level": self.level}


def order_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int, int]:
    """0-based ranks (estimate, low, high) of the q-quantile of ``n`` sorted samples and of
    its distribution-free ``level`` interval: the number of samples below the true
    quantile is Binomial(n, q), so [x_(lo), x_(hi)] covers it with at least ``level``."""
    k = min(n - 1, max(0, math.ceil(q * n) - 1))
    a = (1 - level) / 2
    lo = int(stats.binom.ppf(a, n, q)) - 1
    hi = int(stats.binom.ppf(1 - a, n, q))
    return k, max(0, lo), min(n - 1, hi)


def sectioned(values: np.ndarray, q: float, sections: int = 20, level: float = 0.95) -> tuple[float, float]:
    """Interval for the q-quantile of one correlated series (in time order) by sectioning
    (Asmussen and Glynn, Stochastic Simulation, IV.5): the series is cut into ``sections``
    consecutive blocks, and the spread of their q-quantiles gives a t interval around the
    quantile of the whole series. A fault that lasts seconds makes the blocks differ, and
    the interval as wide as that makes it."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    size = x.size // sections
    if size < 2:
        return math.nan, math.nan
    qs = np.quantile(x[: size * sections].reshape(sections, size), q, axis=1, method="inverted_cdf")
    whole = float(np.quantile(x, q, method="inverted_cdf"))
    half = float(stats.t.ppf(0.5 + level / 2, sections - 1) * qs.std(ddof=1) / math.sqrt(sections))
    return whole - half, whole + half


def percentile(values: Sequence[float] | np.ndarray, q: float, level: float = 0.95, thin: int = 1,
               sections: int = 0) -> Percentile:
    """The q-quantile of ``values`` (NaNs dropped) with its order-statistic interval.

    ``thin`` > 1 says that only every ``thin``-th value is independent of the others (a
    lag-1 test found consecutive values correlated): the estimate still uses every value,
    but the interval is as wide as ``n / thin`` independent values allow, and so is the
    count of samples beyond the percentile that decides whether it is meaningful.
    ``sections`` > 0 says that even thinned they are not (``values`` are then in time
    order): the interval is widened to cover the :func:`sectioned` one too."""
    raw = np.asarray(values, dtype=float)
    x = np.sort(raw)
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return Percentile.empty(q, level)
    k = min(n - 1, max(0, math.ceil(q * n) - 1))
    n_eff = max(1, n // max(1, thin))
    _, lo, hi = order_ranks(n_eff, q, level)
    # the effective sample's ranks, read off the whole sample at the same levels
    lo_full = min(n - 1, int(lo * n / n_eff))
    hi_full = min(n - 1, math.ceil((hi + 1) * n / n_eff) - 1)
    beyond = (n - k - 1) // max(1, thin)
    low, high = float(x[min(lo_full, k)]), float(x[max(hi_full, k)])
    if sections:
        s_low, s_high = sectioned(raw, q, sections, level)
        if not math.isnan(s_low):
            low, high = min(low, s_low), max(high, s_high)
    return Percentile(q, float(x[k]), low, high, n, beyond, level)


def histogram_percentile(counts: np.ndarray, edges: np.ndarray, q: float, level: float = 0.95) -> Percentile:
    """The same from a histogram (``counts`` per bucket, bucket ``k`` spanning
    ``edges[k]..edges[k+1]``): each order statistic is read as its bucket's midpoint, so
    the interval is as wide as the buckets allow and never narrower."""
    n = int(counts.sum())
    if n == 0:
        return Percentile.empty(q, level)
    cum = np.cumsum(counts)
    k, lo, hi = order_ranks(n, q, level)
    b, b_lo, b_hi = (int(np.searchsorted(cum, rank + 1)) for rank in (k, lo, hi))  # the ranks' buckets
    value = math.sqrt(edges[b] * edges[b + 1])  # the bucket's geometric midpoint
    return Percentile(q, float(value), float(edges[b_lo]), float(edges[b_hi + 1]), n, n - k - 1, level)
