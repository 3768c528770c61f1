"""Faults injected into a scenario, and the ground truth they define.

Time windows (s); per-packet loss is the network's (:mod:`mbsim.world.network`).

* ``down``: intervals (s) in which the backend is down. ``down_mode`` says how:
  ``hang`` - a request that starts service while the backend is down holds its worker
  until the interval ends, then completes normally (connections hang); ``error`` - it
  fails fast with an error after ``error_ms``.
* ``delay_spikes``: intervals with extra one-way network latency (ms) on responses.
* ``partitions``: intervals in which every packet, both legs, is lost.
* ``per_request``: random faults that each attempt meets independently
  (:class:`RequestFault`): lost on a leg, a slower service, an error answer. Each one
  gets its own seeded stream, so adding one changes no other draw.

Ground truth for decision accuracy: the upstream is *unhealthy* while it is down or
partitioned, and *healthy* otherwise. Packet loss and delay spikes are not outages.
"""
from __future__ import annotations

import itertools
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from mbsim.params import Params, require


def _check_intervals(name: str, intervals: tuple[Any, ...]) -> None:
    for iv in intervals:
        require(0 <= iv[0] < iv[1], f"faults.{name}: bad interval {tuple(iv)}")
    spans = sorted((iv[0], iv[1]) for iv in intervals)
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        require(s2 >= e1, f"faults.{name}: intervals overlap")


@dataclass(frozen=True)
class RequestFault(Params):
    """A random fault each attempt meets with ``probability``, independently.

    ``where`` says what it does:

    * ``request`` - the request is lost on its way to the service;
    * ``response`` - the answer is lost on its way back;
    * ``service`` - the service time is multiplied by ``factor``;
    * ``error`` - the service answers with an error instead (after its service time).
    """

    NAME: ClassVar[str] = "faults.per_request"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "factor": (1e-06, 1000.0)
    }

    name: str = "fault"
    where: Literal["request", "response", "service", "error"] = "response"
    probability: float = 0.0
    factor: float = 1.0  # service only: service-time multiplier (the declared bounds keep it positive)

    def validate(self) -> None:
        require(bool(self.name) and self.name.replace("-", "_").isidentifier(),
                f"faults.per_request: bad name {self.name!r} (letters, digits, - and _)")
        require(0 <= self.probability <= 1,
                f"faults.per_request {self.name}: probability must be in [0, 1], got {self.probability}")


@dataclass(frozen=True)
class Faults(Params):
    """Backend outages, delay spikes and partitions (times in s)."""

    NAME: ClassVar[str] = "faults"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "error_ms": (0.0, 60_000.0)
    }

    down: tuple[tuple[float, float], ...] = ()
    down_mode: Literal["hang", "error"] = "hang"
    error_ms: float = 1.0
    delay_spikes: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, extra_ms)
    partitions: tuple[tuple[float, float], ...] = ()
    per_request: tuple[RequestFault, ...] = ()

    def validate(self) -> None:
        _check_intervals("down", self.down)
        _check_intervals("partitions", self.partitions)
        _check_intervals("delay_spikes", self.delay_spikes)
        for _, _, extra in self.delay_spikes:
            require(0 <= extra <= 60_000, f"faults.delay_spikes: extra_ms must be in [0, 60,000], got {extra:g}")
        names = [f.name for f in self.per_request]
        require(len(set(names)) == len(names), "faults.per_request: two faults share a name")

    def requested(self, where: str) -> tuple[RequestFault, ...]:
        """The per-request faults that act ``where`` with a probability above 0."""
        return tuple(f for f in self.per_request if f.where == where and f.probability > 0)

    def down_until(self, t: float) -> float | None:
        """End (s) of the outage containing ``t``, or None if the backend is up."""
        for start, end in self.down:
            if start <= t < end:
                return end
        return None

    def partitioned(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.partitions)

    def extra_delay_s(self, t: float) -> float:
        extra = 0.0
        for start, end, ms in self.delay_spikes:
            if start <= t < end:
                extra += ms / 1e3
        return extra

    def unhealthy(self, t: float) -> bool:
        """Ground truth at ``t``: the backend is down or partitioned."""
        return self.down_until(t) is not None or self.partitioned(t)


class FaultClock:
    """The fault state *now*, updated by a SimPy process at every interval boundary.

    The model reads plain attributes on its hot path instead of searching the intervals
    for every request. ``spike_windows`` of the workload are tracked here too.
    """

    def __init__(self, faults: Faults, spike_windows: tuple[Any, ...] = ()) -> None:
        self.faults = faults
        self.spike_windows = spike_windows
        # the state at the current time, set by _update (below, for t = 0)
        self.down_end: float | None
        self.partitioned: bool
        self.extra_delay_s: float
        self.spike_factor: float
        self.calm: bool  # not down and no spike window: service times are untouched
        self.boundaries = sorted({t for iv in (*faults.down, *faults.partitions, *faults.delay_spikes,
                                               *spike_windows) for t in iv[:2]})
        self._update(0.0)

    def _update(self, t: float) -> None:
        f = self.faults
        self.down_end = f.down_until(t)
        self.partitioned = f.partitioned(t)
        self.extra_delay_s = f.extra_delay_s(t)
        m = 1.0
        for start, end, factor in self.spike_windows:
            if start <= t < end:
                m *= factor
        self.spike_factor = m
        self.calm = self.down_end is None and m == 1.0

    @property
    def unhealthy(self) -> bool:
        return self.down_end is not None or self.partitioned

    def process(self, env: Any) -> Generator[Any, Any, None]:
        """SimPy process: switch the state at each boundary (evaluated at the exact time)."""
        for t in self.boundaries:
            if t > env.now:
                yield env.timeout(t - env.now)
            self._update(t)
