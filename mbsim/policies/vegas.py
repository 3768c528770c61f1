"""``vegas``: Netflix concurrency-limits' VegasLimit in a SimpleLimiter.

Defaults, from ``VegasLimit.Builder`` (https://github.com/Netflix/concurrency-limits,
concurrency-limits-core/.../limit/VegasLimit.java): ``initialLimit`` = 20,
``maxConcurrency`` = 1000, ``smoothing`` = 1.0, ``probeMultiplier`` = 30, and with
``L(limit) = max(1, int(log10(limit)))`` (sqrt above 1000): alpha = 3 L, beta = 6 L,
threshold = L, increase = limit + L, decrease = limit - L.

Per sample: every ``probeJitter * probeMultiplier * limit`` samples (jitter uniform in
[0.5, 1), from the run's ``policy`` stream) the no-load RTT is reset to the sample; a
sample below the no-load RTT replaces it. Otherwise with
``queue = ceil(limit * (1 - rtt_noload / rtt))``: a drop decreases the limit; fewer than
half the limit in flight keeps it; ``queue <= threshold`` adds beta; ``queue < alpha``
increases; ``queue > beta`` decreases; else it stays. The result is clamped to
[1, maxConcurrency] and smoothed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mbsim.dimension import Dimension
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.limiters import SimpleLimiter
from mbsim.policies.parts import CallerOptions, log10_root


@dataclass(frozen=True)
class VegasParams(Params):
    initial_limit: int = 20
    max_concurrency: int = 1000
    smoothing: float = 1.0
    probe_multiplier: int = 30
    caller: CallerOptions = field(default_factory=CallerOptions)

    def validate(self) -> None:
        require(1 <= self.initial_limit <= self.max_concurrency, "need 1 <= initial_limit <= max_concurrency")
        require(0 < self.smoothing <= 1, "smoothing must be in (0, 1]")
        require(self.probe_multiplier >= 1, "probe_multiplier must be >= 1")


class Vegas:
    def __init__(self, p: VegasParams, rng: Any) -> None:
        self.p = p
        self.limit = float(p.initial_limit)
        self.rtt_noload = 0.0
        self.probe_count = 0
        self.rng = rng
        self.probe_jitter = self._jitter()

    def _jitter(self) -> float:
        return 0.5 + 0.5 * (float(self.rng.random()) if self.rng is not None else 0.5)

    def update(self, rtt: float, inflight: int, did_drop: bool) -> None:
        if rtt <= 0:
            return
        self.probe_count += 1
        if self.probe_jitter * self.p.probe_multiplier * self.limit <= self.probe_count:
            self.probe_jitter = self._jitter()
            self.probe_count = 0
            self.rtt_noload = rtt
            return
        if self.rtt_noload == 0 or rtt < self.rtt_noload:
            self.rtt_noload = rtt
            return
        lim = int(self.limit)
        queue = math.ceil(self.limit * (1 - self.rtt_noload / rtt))
        L = log10_root(lim)
        if did_drop:
            new = self.limit - log10_root(lim)
        elif inflight * 2 < self.limit:
            return
        elif queue <= L:
            new = self.limit + 6 * L
        elif queue < 3 * L:
            new = self.limit + L
        elif queue > 6 * L:
            new = self.limit - L
        else:
            return
        new = max(1.0, min(self.p.max_concurrency, new))
        self.limit = (1 - self.p.smoothing) * self.limit + self.p.smoothing * new


@dataclass(frozen=True)
class VegasTuned(VegasParams):
    """Tuned: limit capped at 256 and a 5 ms deadline with the snapshot as fallback."""

    max_concurrency: int = 256
    caller: CallerOptions = field(default_factory=lambda: CallerOptions(timeout_ms=5.0, fallback=True))


# What ``mbsim tune --policy vegas`` searches, from vegas-tuned (5 ms deadline + the
# snapshot). Ranges: initialLimit 4 - 256 (default 20), maxConcurrency 16 - 1024 (1000),
# smoothing 0.05 - 1 (1), the caller's deadline 1 - 50 ms.
TUNING = (
    Dimension("initial_limit", 4, 256, integer=True, log=True),
    Dimension("max_concurrency", 16, 1024, integer=True, log=True),
    Dimension("smoothing", 0.05, 1.0),
    Dimension("caller.timeout_ms", 1, 50, log=True),
)

register(PolicySpec("vegas", "Netflix Vegas: initial limit 20, max 1000, alpha/beta 3/6 log10(limit)",
                    VegasParams, lambda p, sc, rng: p.caller.protection(SimpleLimiter(Vegas(p, rng))),
                    tuning=TUNING, tuning_base=VegasTuned, tuning_pairs=(("initial_limit", "max_concurrency"),)))
register(PolicySpec("vegas-tuned", "Vegas tuned: max 256, 5 ms deadline + fallback", VegasTuned,
                    lambda p, sc, rng: p.caller.protection(SimpleLimiter(Vegas(p, rng)))))
