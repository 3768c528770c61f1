"""``gradient2``: Netflix concurrency-limits' Gradient2Limit in a SimpleLimiter.

Defaults, from ``Gradient2Limit.Builder`` (https://github.com/Netflix/concurrency-limits,
concurrency-limits-core/.../limit/Gradient2Limit.java): ``initialLimit`` = 20,
``minLimit`` = 20, ``maxConcurrency`` = 200, ``smoothing`` = 0.2, ``queueSize`` = 4,
``longWindow`` = 600 (an exponential average with a 10-sample warm-up).

On every sample: the short RTT is the sample, the long RTT its exponential average
(factor 2 / (longWindow + 1)); if long / short > 2 the long RTT decays by 0.9; when fewer
than half the limit are in flight the limit stays; otherwise

    gradient = max(0.5, min(1.0, long / short))
    limit    = limit * (1 - smoothing) + (limit * gradient + queueSize) * smoothing,

clamped to [minLimit, maxConcurrency]. Drops do not enter the formula.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.dimension import Dimension
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.limiters import SimpleLimiter
from mbsim.policies.parts import CallerOptions


@dataclass(frozen=True)
class Gradient2Params(Params):
    initial_limit: int = 20
    min_limit: int = 20
    max_concurrency: int = 200
    smoothing: float = 0.2
    queue_size: int = 4
    long_window: int = 600
    caller: CallerOptions = field(default_factory=CallerOptions)

    def validate(self) -> None:
        require(1 <= self.min_limit <= self.max_concurrency, "need 1 <= min_limit <= max_concurrency")
        require(self.initial_limit >= 1, "initial_limit must be >= 1")
        require(0 < self.smoothing <= 1, "smoothing must be in (0, 1]")
        require(self.long_window >= 1, "long_window must be >= 1")


class Gradient2:
    def __init__(self, p: Gradient2Params) -> None:
        self.p = p
        self.limit = float(p.initial_limit)
        self.long = 0.0
        self.count = 0
        self.sum = 0.0
        self.factor = 2.0 / (p.long_window + 1)

    def _long_add(self, rtt: float) -> float:
        if self.count < 10:
            self.count += 1
            self.sum += rtt
            self.long = self.sum / self.count
        else:
            self.long = self.long * (1 - self.factor) + rtt * self.factor
        return self.long

    def update(self, rtt: float, inflight: int, did_drop: bool) -> None:
        if rtt <= 0:
            return
        short = rtt
        long = self._long_add(rtt)
        if long / short > 2:
            self.long *= 0.9
        if inflight < self.limit / 2:
            return
        gradient = max(0.5, min(1.0, long / short))
        new = self.limit * gradient + self.p.queue_size
        new = self.limit * (1 - self.p.smoothing) + new * self.p.smoothing
        self.limit = max(self.p.min_limit, min(self.p.max_concurrency, new))


@dataclass(frozen=True)
class Gradient2Tuned(Gradient2Params):
    """Tuned: a lower floor (8) so the limit can shed load, and a 5 ms deadline with the
    snapshot as fallback."""

    min_limit: int = 8
    initial_limit: int = 20
    max_concurrency: int = 256
    caller: CallerOptions = field(default_factory=lambda: CallerOptions(timeout_ms=5.0, fallback=True))


# What ``mbsim tune --policy gradient2`` searches, from gradient2-tuned (5 ms deadline + the
# snapshot). Ranges: minLimit 1 - 64 (default 20), maxConcurrency 16 - 1024 (200),
# smoothing 0.05 - 1 (0.2), queueSize 0 - 32 (4), the caller's deadline 1 - 50 ms.
TUNING = (
    Dimension("min_limit", 1, 64, integer=True, log=True),
    Dimension("max_concurrency", 16, 1024, integer=True, log=True),
    Dimension("smoothing", 0.05, 1.0),
    Dimension("queue_size", 0, 32, integer=True),
    Dimension("caller.timeout_ms", 1, 50, log=True),
)

register(PolicySpec("gradient2", "Netflix Gradient2: limit 20..200, smoothing 0.2, queue 4, long window 600",
                    Gradient2Params, lambda p, sc, rng: p.caller.protection(SimpleLimiter(Gradient2(p))),
                    tuning=TUNING, tuning_base=Gradient2Tuned, tuning_pairs=(("min_limit", "max_concurrency"),)))
register(PolicySpec("gradient2-tuned", "Gradient2 tuned: limit 8..256, 5 ms deadline + fallback",
                    Gradient2Tuned, lambda p, sc, rng: p.caller.protection(SimpleLimiter(Gradient2(p)))))
