"""One searched parameter: a dotted path into a policy's parameters, with its range.

A dimension maps to the unit interval for the samplers that work there (the constrained
GP, Sobol): linearly, or in the logarithm when ``log`` (a range that spans decades).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from mbsim.errors import ConfigError


@dataclass(frozen=True)
class Dimension:
    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ConfigError(f"dimension {self.name}: bounds must be finite, got {self.low:g}:{self.high:g}")
        if not self.low < self.high:
            raise ConfigError(f"dimension {self.name}: bounds inverted or empty ({self.low:g} >= {self.high:g})")
        if self.log and self.low <= 0:
            raise ConfigError(f"dimension {self.name}: a log-scaled dimension needs a positive lower bound")

    def clip(self, v: float) -> float:
        """``v`` within the range (an integer dimension rounds to the nearest integer)."""
        v = min(self.high, max(self.low, v))
        return round(v) if self.integer else float(v)

    def to_unit(self, v: float) -> float:
        """``v`` as a point of [0, 1] (in the logarithm when ``log``)."""
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        """The value at ``u`` of [0, 1], clipped (and rounded for an integer dimension)."""
        u = min(1.0, max(0.0, u))
        v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))) if self.log \
            else self.low + u * (self.high - self.low)
        return self.clip(v)
