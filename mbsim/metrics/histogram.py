"""A log-bucketed latency histogram: bounded memory, bounded relative error.

Bucket k holds latencies in [lo * r**k, lo * r**(k+1)) with r = 1 + ``rel_error`` * 2,
so any quantile is reported within ``rel_error`` (0.05 % by default) of a latency that
was recorded. Latencies below ``lo`` (1 us) land in bucket 0; above ``hi`` (1000 s), in
the last bucket.
"""
from __future__ import annotations

import math

import numpy as np


class LogHistogram:
    def __init__(self, lo_s: float = 1e-6, hi_s: float = 1e3, rel_error: float = 5e-4) -> None:
        self.lo = lo_s
        self.log_r = math.log1p(2 * rel_error)
        self.size = math.ceil(math.log(hi_s / lo_s) / self.log_r) + 1
        self.counts = np.zeros(self.size, dtype=np.int64)
        self.n = 0
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        """Record an array of latencies (s)."""
        if values.size == 0:
            return
        idx = np.floor(np.log(np.maximum(values, self.lo) / self.lo) / self.log_r).astype(np.int64)
        np.clip(idx, 0, self.size - 1, out=idx)
        self.counts += np.bincount(idx, minlength=self.size)
        self.n += int(values.size)
        self.total += float(values.sum())

    def merge(self, other: LogHistogram) -> None:
        self.counts += other.counts
        self.n += other.n
        self.total += other.total

    def edges(self) -> np.ndarray:
        """Bucket lower edges (s)."""
        typed: np.ndarray = self.lo * np.exp(np.arange(self.size + 1) * self.log_r)
        return typed

    def quantile(self, q: float) -> float:
        """Latency (s) at quantile ``q`` in [0, 1] (bucket midpoint); NaN when empty."""
        if self.n == 0:
            return math.nan
        rank = q * self.n
        cum = np.cumsum(self.counts)
        k = int(np.searchsorted(cum, max(rank, 1), side="left"))
        k = min(k, self.size - 1)
        return self.lo * math.exp((k + 0.5) * self.log_r)

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(latency s, cumulative share) at the upper edge of each non-empty bucket."""
        nz = np.nonzero(self.counts)[0]
        if nz.size == 0:
            return np.array([]), np.array([])
        cum = np.cumsum(self.counts)[nz] / self.n
        return self.edges()[nz + 1], cum

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan
