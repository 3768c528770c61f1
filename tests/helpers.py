"""Scenarios for the engine tests: no protection, no load function, no client timers."""
from __future__ import annotations

from mbsim.world.client import Client
from mbsim.world.load_function import LoadFunction
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload


def queue_scenario(workers: int, lam: float, mean_service_s: float, duration_s: float, warmup_s: float,
                   dist: str = "exponential") -> Scenario:
    """A plain FIFO c-server queue: Poisson(lam) arrivals, exponential service."""
    return Scenario(
        name=f"M/M/{workers}", duration_s=duration_s, warmup_s=warmup_s,
        workload=Workload(rate_rps=lam),
        service=Service(workers=workers, dist=dist, mean_ms=mean_service_s * 1e3, load=LoadFunction(gain=0.0)),
        client=Client(timeout_ms=float("inf"), max_retries=0),
    )
