"""A scenario: the world a policy is put in (workload, service, network, faults, ...).

What a *policy* brings (breaker, buffer, fallback settings) is not part of the scenario:
the same scenario runs under every policy, with common random numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.params import Params, require
from mbsim.world.client import Client
from mbsim.world.faults import Faults
from mbsim.world.network import Network
from mbsim.world.service import Service
from mbsim.world.slo import Slo
from mbsim.world.snapshot import Snapshot
from mbsim.world.workload import Workload


@dataclass(frozen=True)
class Scenario(Params):
    """Everything but the policy. Times in s unless the name says ms."""

    name: str = "custom"
    description: str = ""
    duration_s: float = 30.0
    warmup_s: float = 2.0
    workload: Workload = field(default_factory=Workload)
    service: Service = field(default_factory=Service)
    network: Network = field(default_factory=Network)
    faults: Faults = field(default_factory=Faults)
    client: Client = field(default_factory=Client)
    snapshot: Snapshot = field(default_factory=Snapshot)
    slo: Slo = field(default_factory=Slo)

    def validate(self) -> None:
        require(self.duration_s > 0, f"duration must be positive, got {self.duration_s:g}")
        require(0 <= self.warmup_s < self.duration_s,
                f"warmup_s ({self.warmup_s:g}) must be in [0, duration_s={self.duration_s:g})")
