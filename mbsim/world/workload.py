"""Open-loop workload: when requests arrive, and which ones are tail spikes.

Arrivals are open-loop: they are drawn from the rate profile alone, so a slow server
never slows them down (a closed loop would hide overload). The profile is

    rate(t) = base(t) * burst(t)            (req/s)

* ``base(t)`` starts at ``rate_rps``; ``steps`` jump to a new rate at a time and
  ``ramps`` move linearly to a new rate over an interval;
* ``burst(t)`` is ``burst_factor`` for ``burst_length_s`` at the start of every
  ``burst_every_s`` period (after the first), else 1.

A constant rate gives a homogeneous Poisson process; otherwise candidates are drawn at
the peak rate and thinned (Lewis-Shedler), which is exact for any bounded rate.

Tail spikes multiply a request's service time: a share ``spike_fraction`` of requests
by ``spike_factor``, and every request that *starts service* inside a
``spike_windows`` interval by that window's factor (tracked by
:class:`~mbsim.world.faults.FaultClock`).
"""
from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mbsim import streams
from mbsim.params import Params, require

MAX_RPS = 1e6  # req/s: the ceiling of every rate
DAY_S = 86_400.0


@dataclass(frozen=True)
class Workload(Params):
    """Arrival profile (req/s, s) and tail-spike injection."""

    NAME: ClassVar[str] = "workload"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "burst_factor": (0.0, 1000.0), "spike_factor": (0.0, 1000.0)
    }

    rate_rps: float = 1000.0
    steps: tuple[tuple[float, float], ...] = ()  # (at_s, new_rate_rps)
    ramps: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, to_rate_rps)
    burst_every_s: float = 0.0  # 0 = no bursts
    burst_length_s: float = 0.0
    burst_factor: float = 1.0
    spike_fraction: float = 0.0  # share of requests in [0, 1]
    spike_factor: float = 1.0  # service-time multiplier of those requests
    spike_windows: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, factor)

    def validate(self) -> None:
        require(self.rate_rps > 0, f"workload.rate_rps must be positive, got {self.rate_rps}")
        for at, rate in self.steps:
            require(0 <= at <= DAY_S and 0 <= rate <= MAX_RPS, f"workload.steps: bad step ({at}, {rate}): a time in "
                    f"[0, {DAY_S:g}] s and a rate in [0, {MAX_RPS:g}] req/s")
        for start, end, to in self.ramps:
            require(0 <= start < end <= DAY_S and 0 <= to <= MAX_RPS,
                    f"workload.ramps: bad ramp ({start}, {end}, {to}): times in [0, {DAY_S:g}] s, a rate in "
                    f"[0, {MAX_RPS:g}] req/s")
        changes = sorted([(a, a) for a, _ in self.steps] + [(s, e) for s, e, _ in self.ramps])
        for (s1, e1), (s2, _e2) in itertools.pairwise(changes):
            require(s2 >= e1 and s2 > s1, "workload: steps and ramps must not overlap")
        if self.burst_every_s:
            require(self.burst_every_s > 0, "workload.burst_every_s must be positive or 0")
            require(0 < self.burst_length_s < self.burst_every_s,
                    "workload.burst_length_s must be in (0, burst_every_s)")
            require(self.burst_factor >= 0, "workload.burst_factor must be >= 0")
        require(0 <= self.spike_fraction <= 1, "workload.spike_fraction must be in [0, 1]")
        require(self.spike_factor >= 0, "workload.spike_factor must be >= 0")
        for start, end, factor in self.spike_windows:
            require(0 <= start < end and 0 <= factor <= 1000,
                    f"workload.spike_windows: bad window ({start}, {end}, {factor}): a factor in [0, 1000]")

    @property
    def constant(self) -> bool:
        return not self.steps and not self.ramps and not (self.burst_every_s and self.burst_factor != 1)

    def profile(self) -> RateProfile:
        return RateProfile(self)


class RateProfile:
    """``rate(t)`` in req/s as a piecewise-linear base times the burst multiplier."""

    def __init__(self, w: Workload) -> None:
        self.w = w
        events = sorted([(a, a, r) for a, r in w.steps] + list(w.ramps))
        times, rates = [0.0], [w.rate_rps]
        for start, end, to in events:
            here = self._base_from(times, rates, start)
            times += [start, end]
            rates += [here, to]
        self.times, self.rates = times, rates
        peak_base = max(rates)
        self.peak = peak_base * max(1.0, w.burst_factor if w.burst_every_s else 1.0)

    @staticmethod
    def _base_from(times: list[float], rates: list[float], t: float) -> float:
        k = bisect.bisect_right(times, t) - 1
        if k + 1 < len(times) and times[k + 1] > times[k]:
            t0, t1 = times[k], times[k + 1]
            return rates[k] + (rates[k + 1] - rates[k]) * (t - t0) / (t1 - t0)
        return rates[k]

    def base(self, t: float) -> float:
        return self._base_from(self.times, self.rates, t)

    def expected(self, t0: float, t1: float) -> float:
        """Expected arrivals in [t0, t1] s: the integral of the base rate (exact, piecewise
        linear), times the bursts' mean factor (an estimate, for budgets)."""
        knots = sorted({t0, t1, *(t for t in self.times if t0 < t < t1)})
        base = sum((b - a) * (self.base(a) + self.base(b - 1e-12 * max(1.0, b))) / 2
                   for a, b in itertools.pairwise(knots))
        w = self.w
        if w.burst_every_s:
            base *= 1.0 + (w.burst_factor - 1.0) * w.burst_length_s / w.burst_every_s
        return base

    def __call__(self, t: float) -> float:
        r = self.base(t)
        w = self.w
        if w.burst_every_s and t >= w.burst_every_s and (t % w.burst_every_s) < w.burst_length_s:
            r *= w.burst_factor
        return r


def arrival_gaps(w: Workload, arrival: np.random.Generator, thinning: np.random.Generator) -> Iterator[float]:
    """Gaps (s) between successive arrivals, forever. Exact NHPP by thinning."""
    profile = w.profile()
    gaps = arrival.exponential
    if w.constant:  # blocks chained in C: no generator frame to resume per arrival
        scale = 1.0 / w.rate_rps

        def block(n: int) -> np.ndarray:
            return gaps(scale, n)

        return streams.endless(block)
    return _thinned(profile, gaps, thinning)


def _thinned(profile: RateProfile, gaps: Any, thinning: np.random.Generator) -> Iterator[float]:
    peak = profile.peak
    scale = 1.0 / peak
    t = 0.0
    last = 0.0
    while True:
        cand = gaps(scale, 4096).tolist()
        accept = thinning.random(4096).tolist()
        for g, u in zip(cand, accept):
            t += g
            if u * peak < profile(t):
                yield t - last
                last = t

