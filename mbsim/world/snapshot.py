"""What the ox-horn's snapshot can answer in a scenario, and how fast (us).

* The snapshot holds a share ``hit_ratio`` of the keys; a request whose key is missing
  gets no answer at its deadline, and counts as a failure (a *miss*).
* A fallback answer takes a latency drawn from a lognormal with median
  ``latency_median_us`` and log-stddev ``latency_sigma`` (defaults match the kernel
  answer measured on this project's machines: p50 about 8-10 us). ``latency_samples_us``
  replaces it with an empirical distribution measured from the real kernel (``mbsim
  calibrate`` writes one).

The horn's own settings (on or off, the deadline) belong to the policy:
:mod:`mbsim.mbb.fallback`. The snapshot *file* the kernel loads is
:mod:`mbsim.formats.snapshot_file`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mbsim.params import Params, require


@dataclass(frozen=True)
class Snapshot(Params):
    """What the fallback can serve, and how fast (us)."""

    NAME: ClassVar[str] = "snapshot"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "latency_sigma": (0.0, 10.0)
    }

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
