"""A service-time distribution (ms), and how to draw from it.

Lognormal is the default (parameterised by its mean and the sigma of its logarithm);
gamma (by its mean and shape) and empirical (measured samples, drawn with replacement)
are what a fit to a real backend can choose (:mod:`mbsim.verify.fit`); exponential and
deterministic are there for theory tests.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from mbsim.params import Params, require

Dist = Literal["lognormal", "exponential", "deterministic", "gamma", "empirical"]


def sampler(dist: str, mean_ms: float, sigma: float, shape: float, samples_ms: tuple[float, ...],
            rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """``draw(n)`` -> n service times in seconds."""
    mean = mean_ms / 1e3
    if dist == "exponential":
        return lambda n: rng.exponential(mean, n)
    if dist == "deterministic":
        return lambda n: np.full(n, mean)
    if dist == "gamma":
        return lambda n: rng.gamma(shape, mean / shape, n)
    if dist == "empirical":
        pool = np.asarray(samples_ms, dtype=float) / 1e3
        return lambda n: rng.choice(pool, n)
    mu = math.log(mean) - sigma ** 2 / 2
    return lambda n: rng.lognormal(mu, sigma, n)


def check(where: str, dist: str, mean_ms: float, sigma: float, shape: float, samples_ms: tuple[float, ...]) -> None:
    require(mean_ms > 0, f"{where}.mean_ms must be positive, got {mean_ms}")
    require(sigma >= 0, f"{where}.sigma must be >= 0")
    require(shape > 0, f"{where}.shape must be positive, got {shape}")
    if dist == "empirical":
        require(bool(samples_ms), f"{where}.samples_ms must list the measured service times (dist empirical)")
    require(all(s > 0 for s in samples_ms), f"{where}.samples_ms must be positive")


@dataclass(frozen=True)
class ServiceTime(Params):
    """One request class's service time: ``dist`` with mean ``mean_ms``; ``sigma``
    (lognormal: stddev of the log), ``shape`` (gamma), ``samples_ms`` (empirical)."""

    NAME: ClassVar[str] = "service.heavy"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {"mean_ms": (0.001, 60_000.0), "sigma": (0.0, 10.0),
                                                        "shape": (1e-3, 1e6)}

    dist: Dist = "lognormal"
    mean_ms: float = 1.0
    sigma: float = 0.5
    shape: float = 1.0
    samples_ms: tuple[float, ...] = ()

    def validate(self) -> None:
        check(self.NAME, self.dist, self.mean_ms, self.sigma, self.shape, self.samples_ms)

    def sampler(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """``draw(n)`` -> n service times in seconds."""
        return sampler(self.dist, self.mean_ms, self.sigma, self.shape, self.samples_ms, rng)
