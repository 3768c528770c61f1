"""The mountain-bike re-tuning, written once: the simulator's buffer and the kernel's
controller both run it.

Whoever measures feeds it one :class:`Interval` every ``sample_s`` (50 ms): requests
offered, and the count, sum and sum of squares of the latencies that completed (s). Every
``adjust_s`` it moves window, capacity (and, with latencies kept, the concurrency limit)
toward the formulas' targets (:mod:`mbsim.mbb.formulas`) from the last period's request
rate and latency stddev; ``damping`` (set by the topology's medium window) says what share
of the way each move goes. The dynamic window topology (:mod:`mbsim.mbb.topology`) adds
event-driven re-tunes when a load sensor is given.

Where they differ, the difference is a setting of the caller, not a second copy:

* the simulator's buffer measures the server-side sojourn of completed requests and
  gives the service's load sensor; it keeps latencies in ``concurrency`` mode (P95);
* the kernel controller measures the client's round trip from the horn's window slots,
  keeps no latencies (``window`` mode only), and runs the topology only when it is told
  the service's capacity (``mbsim apply --capacity-rps``): the short window's trigger is
  load acceleration in units of capacity.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mbsim.mbb import formulas
from mbsim.mbb.topology import Topology

if TYPE_CHECKING:  # pragma: no cover
    from mbsim.mbb.buffer import BufferSettings


class LoadReading(Protocol):
    """What the topology reads from a load sensor (:class:`mbsim.world.sensor.LoadSensor`)."""

    accel: float  # 1/s^2, on omega
    slope: float  # rad
    trend: float  # 1/s


class Interval:
    """One sensor interval: requests offered, and completed latencies (s)."""

    __slots__ = ("latencies", "n", "offered", "total", "total_sq")

    def __init__(self, offered: int, n: int, total: float, total_sq: float,
                 latencies: list[float] | None = None) -> None:
        self.offered = offered
        self.n = n
        self.total = total
        self.total_sq = total_sq
        self.latencies = latencies


class Retuner:
    """Window, capacity and concurrency limit, re-tuned from what was measured.

    ``apply(window_s, capacity, limit)`` is called after every re-tune, so that the owner
    can carry the new values where its hot path reads them.
    """

    def __init__(self, settings: BufferSettings, keep_latencies: bool,
                 apply: Callable[[float, int, float], None]) -> None:
        self.s = settings
        self.keep_latencies = keep_latencies
        self.apply = apply
        self.sample_s = settings.topology.sample_ms / 1e3
        self.window_s = settings.window_min_ms / 1e3
        self.capacity = settings.capacity_max
        self.limit = math.inf  # concurrency mode
        self.damping = 1.0  # share of the way each re-tune moves toward its target
        span = max(settings.adjust_s, settings.concurrency_window_s if keep_latencies else 0.0,
                   settings.topology.long_ms / 1e3)
        self.history: deque[Interval] = deque(maxlen=max(1, math.ceil(span / self.sample_s)))
        self.topology = Topology(settings.topology, self)
        self.retunes: list[tuple[float, str, float, int, float]] = []  # (t, cause, window_ms, capacity, limit)
        self._every = max(1, round(settings.adjust_s / self.sample_s))
        self._k = 0

    def step(self, now: float, interval: Interval, sensor: LoadReading | None) -> None:
        """Close one sample interval at ``now`` (s): the periodic re-tune every
        ``adjust_s``, then the topology (with a sensor)."""
        self.history.append(interval)
        self._k += 1
        if self._k % self._every == 0:
            self.retune(now, self.s.adjust_s, "period")
        if sensor is not None:
            self.topology.tick(now, sensor)

    def stats(self, span_s: float) -> tuple[float, float, float]:
        """(rps, latency stddev ms, p95 ms) over the last ``span_s`` of closed intervals."""
        k = max(1, round(span_s / self.sample_s))
        recent = list(self.history)[-k:]
        if not recent:
            return 0.0, 0.0, math.nan
        offered = sum(iv.offered for iv in recent)
        n = sum(iv.n for iv in recent)
        rps = offered / (len(recent) * self.sample_s)
        if n < 2:
            return rps, 0.0, math.nan
        total = sum(iv.total for iv in recent)
        total_sq = sum(iv.total_sq for iv in recent)
        var = max(0.0, (total_sq - total * total / n) / (n - 1))
        p95 = math.nan
        if self.keep_latencies:
            lat = [x for iv in recent for x in iv.latencies or ()]
            p95 = float(np.percentile(lat, 95)) * 1e3
        return rps, math.sqrt(var) * 1e3, p95

    def mean_latency_ms(self, span_s: float) -> float:
        """Mean latency (ms) over the last ``span_s``; 0 with no data."""
        k = max(1, round(span_s / self.sample_s))
        recent = list(self.history)[-k:]
        n = sum(iv.n for iv in recent)
        return sum(iv.total for iv in recent) / n * 1e3 if n else 0.0

    def retune(self, now: float, span_s: float, cause: str) -> None:
        """Move window, capacity and the concurrency limit toward the formulas' targets."""
        rps, std_ms, _ = self.stats(span_s)
        a = self.damping
        target_w = self.s.window_ms(std_ms) / 1e3
        self.window_s += a * (target_w - self.window_s)
        target_c = self.s.capacity(rps)
        cap = round(self.capacity + a * (target_c - self.capacity))
        self.capacity = min(self.s.capacity_max, max(self.s.capacity_min, cap))
        if self.keep_latencies:
            _, _, p95 = self.stats(self.s.concurrency_window_s)
            self.limit = formulas.max_concurrency(p95, self.s.concurrency_k, self.s.concurrency_floor)
        self.retunes.append((now, cause, self.window_s * 1e3, self.capacity, self.limit))
        self.apply(self.window_s, self.capacity, self.limit)
