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
    """Round trip (ms) and per-leg packet loss probabilities."""

    NAME: ClassVar[str] = "network"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "rtt_ms": (0.0, 60_000.0)
    }

    rtt_ms: float = 0.2
    loss_request: float = 0.0
    loss_response: float = 0.0

    def validate(self) -> None:
        require(self.rtt_ms >= 0, "network.rtt_ms must be >= 0")
        for name in ("loss_request", "loss_response"):
            p = getattr(self, name)
            require(0 <= p <= 1, f"network.{name} must be in [0, 1], got {p}")
