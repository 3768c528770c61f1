"""The article's nonlinear load function (digest 2.1), mapped onto a service.

The bike's load torque is

    torque = a * omega**2 * (1 + b * (1 - cos(pi * psi))) + c * tanh(d * slope)

with the article's coefficients a=0.8, b=0.6, c=12.5, d=2.0 as defaults. In mbsim:

* ``omega`` (angular speed) is the *offered load* over the service's capacity:
  measured arrival rate (req/s) / (workers / mean service time). omega = 1 is saturation.
* ``slope`` (rad) is the *trend of the load*: ``atan(d omega / dt)``, the least-squares
  slope of omega (per second) over the last trend window (1.2 s by default). A rising
  load is an uphill; the tanh makes its effect saturate.
* ``psi`` in [0, 1] (suspension compression) is the *queue fill*: requests waiting /
  ``psi_scale`` (255 by default, the usable slots of the largest ring), capped at 1. It
  is the same scale for every policy, so a policy can only change psi by changing the
  queue.

The torque is the resistance the service meets. It inflates each request's service
time when the request starts service:

    service = base * (1 + gain * max(0, torque))

``gain`` (default 0.05, dimensionless) is mbsim's own parameter: the article gives no
scale. A falling load (negative torque) never makes a request faster than its base.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params, require


@dataclass(frozen=True)
class LoadFunction(Params):
    """Coefficients of the torque and the service-time inflation per unit torque."""

    NAME: ClassVar[str] = "service.load"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "gain": (0.0, 1000.0), "psi_scale": (1e-06, 1_000_000_000.0), "trend_window_s": (0.001, 3600.0),
        "a": (-1_000_000.0, 1_000_000.0), "b": (-1_000_000.0, 1_000_000.0), "c": (-1_000_000.0, 1_000_000.0),
        "d": (-1_000_000.0, 1_000_000.0)
    }

    a: float = 0.8  # inertial coefficient
    b: float = 0.6  # suspension stiffening
    c: float = 12.5  # slope (trend) coefficient
    d: float = 2.0  # slope steepness (1/rad)
    gain: float = 0.05  # service-time inflation per unit torque (0 disables the load function)
    psi_scale: float = 255.0  # queue length that counts as a fully compressed suspension
    trend_window_s: float = 1.2  # window of the trend regression (s)

    def validate(self) -> None:
        require(self.gain >= 0, "service.load.gain must be >= 0")
        require(self.psi_scale > 0, "service.load.psi_scale must be positive")
        require(self.trend_window_s > 0, "service.load.trend_window_s must be positive")

    def torque(self, omega: float, slope: float, psi: float) -> float:
        """Torque for load ``omega``, trend angle ``slope`` (rad), fill ``psi``."""
        return (self.a * omega * omega * (1.0 + self.b * (1.0 - math.cos(math.pi * psi)))
                + self.c * math.tanh(self.d * slope))

    def inflation(self, omega: float, slope: float, psi: float) -> float:
        """Service-time multiplier, >= 1."""
        return 1.0 + self.gain * max(0.0, self.torque(omega, slope, psi))
