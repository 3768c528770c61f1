"""Shared test pieces: scenarios for the engine tests (no protection, no load function, no
client timers), a fixed random stream and a scripted load-sensor reading."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mbsim.world.client import Client
from mbsim.world.load_function import LoadFunction
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload


def queue_scenario(workers: int, lam: float, mean_service_s: float, duration_s: float, warmup_s: float,
                   dist: Literal["lognormal", "exponential", "deterministic"] = "exponential") -> Scenario:
    """A plain FIFO c-server queue: Poisson(lam) arrivals, exponential service."""
    return Scenario(
        name=f"M/M/{workers}", duration_s=duration_s, warmup_s=warmup_s,
        workload=Workload(rate_rps=lam),
        service=Service(workers=workers, dist=dist, mean_ms=mean_service_s * 1e3, load=LoadFunction(gain=0.0)),
        client=Client(timeout_ms=float("inf"), max_retries=0),
    )


class FixedRng:
    """A stand-in for the run's policy stream: always draws ``x``."""

    def __init__(self, x: float) -> None:
        self.x = x

    def random(self) -> float:
        return self.x


@dataclass
class Reading:
    """A load sensor's reading, as the topology reads it (1/s^2, rad, 1/s)."""

    accel: float = 0.0
    slope: float = 0.0
    trend: float = 0.0
