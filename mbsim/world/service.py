"""The service: ``workers`` identical servers in front of one FIFO queue.

Service times are drawn per request (:mod:`mbsim.world.service_time`: lognormal by
default; gamma and empirical for a fitted backend; exponential and deterministic for
theory tests). They are then inflated by the nonlinear load function
(:mod:`mbsim.world.load_function`) and by tail spikes (:mod:`mbsim.world.workload`). A
tail-spike request takes ``spike_factor`` times its draw, or, where the service has a
``heavy`` class (a real backend's heavier query), a draw of that class instead.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mbsim.params import Params, require
from mbsim.world.load_function import LoadFunction
from mbsim.world.service_time import Dist, ServiceTime, check, sampler


@dataclass(frozen=True)
class Service(Params):
    """Workers, service-time distribution (ms) and the load function."""

    NAME: ClassVar[str] = "service"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "workers": (1, 100_000), "mean_ms": (0.001, 60_000.0), "sigma": (0.0, 10.0), "shape": (1e-3, 1e6)
    }

    workers: int = 16
    dist: Dist = "lognormal"
    mean_ms: float = 1.0
    sigma: float = 0.5  # lognormal only: stddev of log(service time)
    shape: float = 1.0  # gamma only: its shape k (coefficient of variation 1 / sqrt(k))
    samples_ms: tuple[float, ...] = ()  # empirical only: the measured service times (ms)
    heavy: ServiceTime | None = None  # a tail spike's own class (None: spike_factor times the draw)
    # deadline propagation (gRPC deadlines, Go's context): a worker skips a waiting job whose
    # answer, started now, would reach its client after the client stops waiting (on average:
    # mean_ms + the RTT). Off: a plain server, which serves abandoned work too.
    drop_abandoned: bool = False
    load: LoadFunction = field(default_factory=LoadFunction)

    def validate(self) -> None:
        require(self.workers >= 1, f"service.workers must be >= 1, got {self.workers}")
        check("service", self.dist, self.mean_ms, self.sigma, self.shape, self.samples_ms)

    @property
    def capacity_rps(self) -> float:
        """Requests per second the workers sustain at base service times."""
        return self.workers / (self.mean_ms / 1e3)

    def sampler(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """``draw(n)`` -> n base service times in seconds."""
        return sampler(self.dist, self.mean_ms, self.sigma, self.shape, self.samples_ms, rng)
