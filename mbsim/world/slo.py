"""A hard SLO (digest 3.1): a latency target, a percentile and a violation budget.

The SLO is judged per one-second window. A window *violates* when more than
``(100 - percentile)`` % of the requests that ended in it were bad, a bad request being
one that failed or took longer than ``target_ms`` (so the window's percentile latency,
with failures counted as infinitely slow, exceeds the target). The SLO is *met* when
the share of violating windows is at most ``budget``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params, require


@dataclass(frozen=True)
class Slo(Params):
    NAME: ClassVar[str] = "slo"

    target_ms: float = 10.0
    percentile: float = 99.0
    budget: float = 0.001  # allowed share of violating 1-s windows

    def validate(self) -> None:
        require(self.target_ms > 0, "slo.target_ms must be positive")
        require(0 < self.percentile < 100, "slo.percentile must be in (0, 100)")
        require(0 <= self.budget <= 1, "slo.budget must be in [0, 1]")

    def window_violates(self, n: int, bad: int) -> bool:
        """Does a window with ``n`` requests, ``bad`` of them bad, violate the SLO?"""
        return n > 0 and bad > n * (1.0 - self.percentile / 100.0)
