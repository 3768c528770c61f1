"""The watermark loop (digest 2.3): the in-flight high-water mark's P95 sets a rate limit.

The kernel keeps one in-flight high-water mark per CPU (``mbb_watermark``, a per-CPU array:
no locks). Every ``every_s`` the controller reads them, takes their P95 over CPUs, and
this rule turns it into a rate limit (req/s) that goes back into the kernel, where the
horn passes at most ``limit * slot`` requests per window slot and answers the rest from
the snapshot (or refuses them, ``over = "refuse"``). The article says only that a limit is
decided from the P95; mbsim's rule is additive-increase / multiplicative-decrease on how
full the buffer is, ``fill = P95 / capacity``:

* ``fill >= high``: the buffer is nearly full on most CPUs. The limit becomes ``cut`` times
  the smaller of the limit in force and the rate that passed in the last period (never
  under ``floor_rps``).
* ``fill <= low`` with a limit in force: it rises by ``raise_by``; once it is twice the
  rate that passed, it is lifted (no limit).
* in between: the limit stays.

The simulator's buffer runs the same rule (:class:`RateLimiter`), with the queue's own
high-water mark (waiting + in service) standing for the kernel's in-flight mark; it sheds
what exceeds the limit with a 429, where the kernel answers it from the snapshot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from mbsim.params import Params, require


@dataclass(frozen=True)
class RateLimitSettings(Params):
    """The watermark loop's rule: thresholds on ``P95 / capacity``, gains, period (s)."""

    NAME: ClassVar[str] = "buffer.rate_limit"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "high": (0.0, 1.0), "low": (0.0, 1.0), "cut": (0.01, 1.0), "raise_by": (1.0, 10.0),
        "floor_rps": (0.0, 1_000_000.0), "every_s": (0.01, 3600.0),
    }

    enabled: bool = False  # off: the article gives no rule, and the published results predate it
    high: float = 0.8  # fill at or above which the limit is cut
    low: float = 0.5  # fill at or below which the limit is raised
    cut: float = 0.7  # the multiplicative decrease
    raise_by: float = 1.2  # the multiplicative raise (per period)
    floor_rps: float = 10.0  # the limit never goes under this
    every_s: float = 0.5  # the loop's period
    over: Literal["snapshot", "refuse"] = "snapshot"  # what the kernel does with a request over the limit

    def validate(self) -> None:
        require(self.low <= self.high, f"buffer.rate_limit.low ({self.low:g}) > high ({self.high:g})")


def slot_shift(window_min_ms: float) -> int:
    """The kernel's window slot is 2^shift ns, the power of two nearest ``window_min_ms / 5``
    (at least 2^20 ns, about 1 ms): the shortest window spans about five slots."""
    return max(20, round(math.log2(window_min_ms / 5 * 1e6)))


class RateLimiter:
    """One rate limit (req/s; ``math.inf`` is none), stepped every ``every_s``."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.s = settings
        self.limit_rps = math.inf

    def step(self, watermark_p95: float, capacity: int, passed_rps: float) -> float:
        """A period closed with the marks' P95 (requests in flight), the capacity in force
        and the rate that passed in it (req/s): the new limit."""
        s = self.s
        if not s.enabled or capacity <= 0:
            self.limit_rps = math.inf
            return self.limit_rps
        fill = watermark_p95 / capacity
        if fill >= s.high:
            self.limit_rps = max(s.floor_rps, s.cut * min(self.limit_rps, passed_rps))
        elif fill <= s.low and math.isfinite(self.limit_rps):
            self.limit_rps *= s.raise_by
            if self.limit_rps >= 2 * max(passed_rps, s.floor_rps):
                self.limit_rps = math.inf
        return self.limit_rps

    @staticmethod
    def per_slot(limit_rps: float, slot_s: float) -> int:
        """The kernel's form of a limit: requests per window slot of ``slot_s`` (0: none)."""
        if not math.isfinite(limit_rps):
            return 0
        return max(1, math.ceil(limit_rps * slot_s))
