"""The ox-horn hard-deadline fallback (digest 1, 3.1, 3.2).

Every logical request carries a hard deadline, ``deadline_ms`` after it was first sent.
When the deadline passes without an answer, or while the breaker refuses the call, or
when the upstream answers with an error, the answer comes from the preloaded snapshot
instead (in the real system: the TC eBPF program of ``bpf/``).

* The snapshot holds a share ``hit_ratio`` of the keys; a request whose key is missing
  gets no answer, and counts as a failure (a *miss*).
* A fallback answer takes a latency drawn from a lognormal with median
  ``latency_median_us`` and log-stddev ``latency_sigma`` (defaults match the kernel
  answer measured on this project's machines: p50 about 8-10 us). ``latency_samples_us``
  replaces it with an empirical distribution measured from the real kernel (mbsim
  verify writes one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .config import Params, require


@dataclass(frozen=True)
class Snapshot(Params):
    """What the fallback can serve, and how fast (us)."""

    hit_ratio: float = 1.0
    latency_median_us: float = 10.0
    latency_sigma: float = 0.35
    latency_samples_us: tuple[float, ...] = ()

    def validate(self) -> None:
        require(0 <= self.hit_ratio <= 1, f"snapshot.hit_ratio must be in [0, 1], got {self.hit_ratio}")
        require(self.latency_median_us > 0, "snapshot.latency_median_us must be positive")
        require(self.latency_sigma >= 0, "snapshot.latency_sigma must be >= 0")
        require(all(s >= 0 for s in self.latency_samples_us), "snapshot.latency_samples_us must be >= 0")

    def latency_sampler(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """``draw(n)`` -> n fallback latencies in seconds."""
        if self.latency_samples_us:
            pool = np.asarray(self.latency_samples_us) / 1e6
            return lambda n: rng.choice(pool, n)
        mu = math.log(self.latency_median_us / 1e6)
        return lambda n: rng.lognormal(mu, self.latency_sigma, n)


@dataclass(frozen=True)
class Fallback(Params):
    """The horn's settings: on or off, and the hard deadline (ms)."""

    enabled: bool = True
    deadline_ms: float = 5.0

    def validate(self) -> None:
        require(self.deadline_ms > 0, f"fallback.deadline_ms must be positive, got {self.deadline_ms}")
