"""The service: ``workers`` identical servers in front of one FIFO queue.

Service times are drawn per request (lognormal by default, parameterised by its mean
and the sigma of its logarithm; exponential and deterministic are there for theory
tests). They are then inflated by the nonlinear load function (:mod:`mbsim.world.load_function`) and
by tail spikes (:mod:`mbsim.world.workload`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from mbsim.params import Params, require
from mbsim.world.load_function import LoadFunction


@dataclass(frozen=True)
class Service(Params):
    """Workers, service-time distribution (ms) and the load function."""

    NAME: ClassVar[str] = "service"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "workers": (1, 100_000), "mean_ms": (0.001, 60_000.0), "sigma": (0.0, 10.0)
    }

    workers: int = 16
    dist: Literal["lognormal", "exponential", "deterministic"] = "lognormal"
    mean_ms: float = 1.0
    sigma: float = 0.5  # lognormal only: stddev of log(service time)
    # deadline propagation (gRPC deadlines, Go's context): a worker skips a waiting job whose
    # answer, started now, would reach its client after the client stops waiting (on average:
    # mean_ms + the RTT). Off: a plain server, which serves abandoned work too.
    drop_abandoned: bool = False
    load: LoadFunction = field(default_factory=LoadFunction)

    def validate(self) -> None:
        require(self.workers >= 1, f"service.workers must be >= 1, got {self.workers}")
        require(self.mean_ms > 0, f"service.mean_ms must be positive, got {self.mean_ms}")
        require(self.sigma >= 0, "service.sigma must be >= 0")

    @property
    def capacity_rps(self) -> float:
        """Requests per second the workers sustain at base service times."""
        return self.workers / (self.mean_ms / 1e3)

    def sampler(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """``draw(n)`` -> n base service times in seconds."""
        mean = self.mean_ms / 1e3
        if self.dist == "exponential":
            return lambda n: rng.exponential(mean, n)
        if self.dist == "deterministic":
            return lambda n: np.full(n, mean)
        mu = math.log(mean) - self.sigma ** 2 / 2
        return lambda n: rng.lognormal(mu, self.sigma, n)
