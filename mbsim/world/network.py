"""The network between the client and the service: round trip and per-leg packet loss.

A lost request or response is never seen by the other side: the client times out. Loss
is independent per packet, drawn per request (:mod:`mbsim.engine.draws`). Partitions and
delay spikes are time windows: :mod:`mbsim.world.faults`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params, require


@dataclass(frozen=True)
class Network(Params):
    """Round trip (ms, or measured samples in us) and per-leg packet loss probabilities."""

    NAME: ClassVar[str] = "network"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "rtt_ms": (0.0, 60_000.0)
    }

    rtt_ms: float = 0.2
    loss_request: float = 0.0
    loss_response: float = 0.0
    #: measured round trips (us): each attempt draws its own from them (its own seeded stream);
    #: empty: every attempt takes ``rtt_ms``. ``mbsim calibrate`` measures them on the testbed.
    rtt_samples_us: tuple[float, ...] = ()

    def validate(self) -> None:
        require(self.rtt_ms >= 0, "network.rtt_ms must be >= 0")
        for name in ("loss_request", "loss_response"):
            p = getattr(self, name)
            require(0 <= p <= 1, f"network.{name} must be in [0, 1], got {p}")
        require(all(x >= 0 and x < 6e10 for x in self.rtt_samples_us),
                "network.rtt_samples_us must be in [0, 6e10) us")
