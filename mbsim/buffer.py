"""The mountain-bike adaptive buffer (MBB): server-side admission that stretches.

The buffer is the ring (:mod:`mbsim.ring`) in front of the workers. In ``window`` mode
(the default) a request is admitted when

* the ring is not full (at most ``capacity - 1`` waiting), and
* its expected wait, ``waiting * mean_service / workers``, is within ``window_ms``.

Otherwise it gets a 429 whose Retry-After is the current window. In ``concurrency``
mode (the article's 2.5 rule) a request is admitted while fewer than
``max(floor, k / p95_ms)`` requests are in the service (waiting or served), with P95 over
the last ``concurrency_window_s``.

Every ``adjust_s`` the buffer re-tunes from the last period's request rate, latency
stddev and P95 with :mod:`mbsim.formulas`. Latency here is the server-side sojourn
(wait + service) of requests that completed. The dynamic window topology
(:mod:`mbsim.topology`) adds three event-driven re-tunes.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from . import formulas
from .config import Params, require
from .ring import Ring
from .topology import Topology, TopologySettings


@dataclass(frozen=True)
class BufferSettings(Params):
    """Bounds, gains and period of the re-tuning formulas (ms, req/s, s)."""

    mode: Literal["window", "concurrency"] = "window"
    window_min_ms: float = 50.0
    window_max_ms: float = 200.0
    capacity_min: int = 16
    capacity_max: int = 256
    stddev_scale_ms: float = 10.0  # the 10 in clamp(stddev / 10, 0, 1)
    rps_scale: float = 10.0  # the 10 in log2(rps / 10)
    adjust_s: float = 2.0
    concurrency_k: float = 1e6  # the 1e6 in 1e6 / p95_ms
    concurrency_floor: float = 10.0
    concurrency_window_s: float = 10.0
    topology: TopologySettings = field(default_factory=TopologySettings)

    def validate(self) -> None:
        require(self.window_min_ms > 0, "buffer.window_min_ms must be positive")
        require(self.window_min_ms <= self.window_max_ms,
                f"buffer.window_min_ms ({self.window_min_ms:g}) > window_max_ms ({self.window_max_ms:g})")
        require(self.capacity_min >= 2, "buffer.capacity_min must be >= 2 (one slot is reserved)")
        require(self.capacity_min <= self.capacity_max,
                f"buffer.capacity_min ({self.capacity_min}) > capacity_max ({self.capacity_max})")
        require(self.stddev_scale_ms > 0, "buffer.stddev_scale_ms must be positive")
        require(self.rps_scale > 0, "buffer.rps_scale must be positive")
        require(self.adjust_s > 0, "buffer.adjust_s must be positive")
        require(self.concurrency_k > 0 and self.concurrency_floor >= 1,
                "buffer.concurrency_k must be positive and concurrency_floor >= 1")
        require(self.concurrency_window_s > 0, "buffer.concurrency_window_s must be positive")

    def window_ms(self, stddev_ms: float) -> float:
        return formulas.window_ms(stddev_ms, self.window_min_ms, self.window_max_ms, self.stddev_scale_ms)

    def capacity(self, rps: float) -> int:
        return formulas.capacity(rps, self.capacity_min, self.capacity_max, self.rps_scale)


class Interval:
    """Counters of one sensor interval: offered requests and completed latencies (s)."""

    __slots__ = ("offered", "n", "total", "total_sq", "latencies")

    def __init__(self, offered: int, n: int, total: float, total_sq: float,
                 latencies: list[float] | None) -> None:
        self.offered = offered
        self.n = n
        self.total = total
        self.total_sq = total_sq
        self.latencies = latencies


class MountainBikeBuffer:
    """Admission control of the MBB; see the module docstring."""

    def __init__(self, settings: BufferSettings, workers: int, mean_service_s: float) -> None:
        self.s = settings
        self.workers = workers
        self.window_mode = settings.mode == "window"
        self.ring = Ring(settings.capacity_max)
        self.queue: deque = self.ring._items
        self._window_s = settings.window_min_ms / 1e3
        self._wait_budget_s = self._window_s * workers  # summed expected service the queue may hold
        self.capacity = settings.capacity_max
        self.limit = math.inf  # concurrency mode
        self.damping = 1.0  # share of the way each re-tune moves toward its target
        self.mean_service_s = mean_service_s  # EWMA of observed service times
        self.retry_after_s = self.window_s
        self._keep = not self.window_mode
        self._reset_interval()
        self.sample_s = settings.topology.sample_ms / 1e3
        span = max(settings.adjust_s, settings.concurrency_window_s if self._keep else 0.0,
                   settings.topology.long_ms / 1e3)
        self.history: deque[Interval] = deque(maxlen=max(1, int(math.ceil(span / self.sample_s))))
        self.topology = Topology(settings.topology, self)
        self.retunes: list[tuple[float, str, float, int, float]] = []  # (t, cause, window_ms, capacity, limit)
        # the hot path's methods, chosen once for the mode
        self.admit = self._admit_window if self.window_mode else self._admit_concurrency
        if not self._keep:
            self.observe = self._observe_sums  # type: ignore[method-assign]

    def _reset_interval(self) -> None:
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.latencies: list[float] | None = [] if self._keep else None

    # -- hot path -------------------------------------------------------------
    def attach(self, queue: deque, in_service: Callable[[], int], offered: Callable[[], int]) -> None:
        """Use the model's waiting queue as the ring's storage, and read from the model how
        many requests are in service and how many were offered so far (every admit() call
        is one offer)."""
        self.queue = self.ring._items = queue
        self.in_service = in_service
        self.offered = offered
        self._offered_mark = offered()

    @property
    def window_s(self) -> float:
        """The admission window (s)."""
        return self._window_s

    @window_s.setter
    def window_s(self, value: float) -> None:
        self._window_s = value
        self._wait_budget_s = value * self.workers

    # admit(now) -> bool: may a request that arrives at ``now`` (s) wait in the ring?
    # ``__init__`` binds the one for the mode.
    def _admit_window(self, now: float) -> bool:
        queue = self.queue
        if not queue:
            return True  # an empty ring has room (capacity >= 2) and nobody to wait behind
        waiting = len(queue)
        # not Ring.full() (inlined: one slot reserved) and the expected wait within the window
        return waiting < self.ring.capacity - 1 and waiting * self.mean_service_s <= self._wait_budget_s

    def _admit_concurrency(self, now: float) -> bool:
        return len(self.queue) + self.in_service() < self.limit

    def observe(self, latency_s: float, service_s: float) -> None:
        """A request completed after ``latency_s`` in the service, ``service_s`` of it served."""
        self.n += 1
        self.total += latency_s
        self.total_sq += latency_s * latency_s
        self.mean_service_s += 0.01 * (service_s - self.mean_service_s)
        if self._keep:
            self.latencies.append(latency_s)  # type: ignore[union-attr]

    def _observe_sums(self, latency_s: float, service_s: float) -> None:
        """``observe`` when no latencies are kept (window mode)."""
        self.n += 1
        self.total += latency_s
        self.total_sq += latency_s * latency_s
        m = self.mean_service_s
        self.mean_service_s = m + 0.01 * (service_s - m)

    # -- periodic -------------------------------------------------------------
    def process(self, env, sensor):
        """SimPy process: close an interval every sample, re-tune every ``adjust_s``."""
        every = max(1, int(round(self.s.adjust_s / self.sample_s)))
        k = 0
        while True:
            yield env.timeout(self.sample_s)
            offered = self.offered()
            self.history.append(Interval(offered - self._offered_mark, self.n, self.total, self.total_sq,
                                         self.latencies))
            self._offered_mark = offered
            self._reset_interval()
            k += 1
            if k % every == 0:
                self.retune(env.now, self.s.adjust_s, "period")
            self.topology.tick(env.now, sensor)

    def stats(self, span_s: float) -> tuple[float, float, float]:
        """(rps, latency stddev ms, p95 ms) over the last ``span_s`` of closed intervals."""
        k = max(1, int(round(span_s / self.sample_s)))
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
        if self._keep:
            lat = [x for iv in recent for x in iv.latencies]  # type: ignore[union-attr]
            p95 = float(np.percentile(lat, 95)) * 1e3
        return rps, math.sqrt(var) * 1e3, p95

    def mean_latency_ms(self, span_s: float) -> float:
        """Mean server-side latency (ms) over the last ``span_s``; 0 with no data."""
        k = max(1, int(round(span_s / self.sample_s)))
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
        cap = int(round(self.capacity + a * (target_c - self.capacity)))
        self.capacity = min(self.s.capacity_max, max(self.s.capacity_min, cap))
        self.ring.resize(self.capacity)
        if self._keep:
            _, _, p95 = self.stats(self.s.concurrency_window_s)
            self.limit = formulas.max_concurrency(p95, self.s.concurrency_k, self.s.concurrency_floor)
        self.retry_after_s = self.window_s
        self.retunes.append((now, cause, self.window_s * 1e3, self.capacity, self.limit))
