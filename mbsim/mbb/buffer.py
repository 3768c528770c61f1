"""The mountain-bike adaptive buffer (MBB): server-side admission that stretches.

The buffer is the ring (:mod:`mbsim.mbb.ring`) in front of the workers, with a window
(50-200 ms) and a capacity (16-256 slots) that the article stretches with latency
variance and request rate. Three readings of them, by ``mode``:

* ``deadline`` (the default): the window is how long a shed client should wait - the
  Retry-After of its 429 - and the ring bounds the queue; a request is admitted when the
  ring is not full (at most ``capacity - 1`` waiting) and its answer can still reach the
  client before the client stops waiting for it (``give_up``: its hard deadline, or its
  own timeout, which the client sends along as gRPC sends a deadline), with a margin of
  ``margin_sd`` standard deviations of the estimated time to its answer:

      now + E + margin_sd * sqrt(V) + rtt <= give_up   (every worker busy)
      E = k * s / workers + s,   V = k * (s / workers)**2 + v,   k = waiting + 1
      always                                            (a worker is idle)

  where ``s`` and ``v`` are the mean and variance of the service time (EWMAs of observed
  service times and their squares, weight 0.01: load inflation included), ``k * s /
  workers`` the expected time until the worker that will take it frees up, with the
  variance of k exponential gaps between departures (a busy multi-server's departures are
  close to Poisson), plus its own service. A request that finds an idle worker costs
  nobody a wait and is always admitted: otherwise estimates that an outage or a heavy
  tail blew up (a hung job's service time is seconds) could shed everything, with no
  completion left to correct them. A request that cannot make it is shed at once
  with a 429: the client backs off for the window, or, when its
  deadline comes first and the horn is on, takes the snapshot's answer. Shedding is not
  failing: the breaker does not count these 429s (``breaker.count_rejections`` is off by
  default), so load shedding never trips it. A failing backend still does, through the
  timeouts and errors of what was admitted, and through the 429s of a *stalled* service:
  every worker busy and no job completed for ``STALL_SERVICES`` (10) mean service times
  (:meth:`MountainBikeBuffer.shed_is_failure`). An overloaded service completes a job
  every ``mean_service / workers``; a hung one completes none, and its 429s say so.
* ``window`` (the article read literally; policy ``mbb-literal``): a request is admitted
  when the ring is not full and its expected wait, ``waiting * mean_service / workers``,
  is within ``window_ms``. With a 5 ms deadline that admits up to 50-200 ms of queue: the
  admitted requests time out in the queue, the timeouts trip the breaker, and under
  overload it flaps (``mbb-literal`` counts 429s as failures, as mbb did).

Otherwise it gets a 429 whose Retry-After is the current window. In ``concurrency``
mode (the article's 2.5 rule) a request is admitted while fewer than
``max(floor, k / p95_ms)`` requests are in the service (waiting or served), with P95 over
the last ``concurrency_window_s`` (no limit before the first re-tune has a P95), and the
ring is not full. In both modes at most ``capacity - 1`` requests wait.

Every ``adjust_s`` the buffer re-tunes from the last period's request rate, latency
stddev and P95 (:mod:`mbsim.mbb.retune`, shared with the kernel controller). Latency
here is the server-side sojourn (wait + service) of requests that completed. The dynamic
window topology (:mod:`mbsim.mbb.topology`) adds three event-driven re-tunes.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from mbsim.mbb import formulas
from mbsim.mbb.retune import Interval, Retuner
from mbsim.mbb.ring import Ring
from mbsim.mbb.topology import TopologySettings
from mbsim.mbb.watermark import RateLimiter, RateLimitSettings, slot_shift
from mbsim.params import Params, require


@dataclass(frozen=True)
class BufferSettings(Params):
    """Bounds, gains and period of the re-tuning formulas (ms, req/s, s)."""

    NAME: ClassVar[str] = "buffer"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "window_min_ms": (0.001, 60_000.0), "window_max_ms": (0.001, 60_000.0),
        "stddev_scale_ms": (1e-06, 3_600_000.0), "rps_scale": (1e-06, 1_000_000_000.0), "adjust_s": (0.001, 3600.0),
        "concurrency_k": (0.0, 1_000_000_000_000.0), "concurrency_floor": (1.0, 1_000_000.0),
        "concurrency_window_s": (0.001, 3600.0), "margin_sd": (0.0, 10.0)
    }

    mode: Literal["deadline", "window", "concurrency"] = "deadline"
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
    margin_sd: float = 2.0  # deadline mode: standard deviations kept between the estimated answer and the deadline
    topology: TopologySettings = field(default_factory=TopologySettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)

    def validate(self) -> None:
        # the declared bounds keep the scales, times and floor positive; these are the rest
        require(self.window_min_ms <= self.window_max_ms,
                f"buffer.window_min_ms ({self.window_min_ms:g}) > window_max_ms ({self.window_max_ms:g})")
        require(self.capacity_min >= 2, "buffer.capacity_min must be >= 2 (one slot is reserved)")
        require(self.capacity_min <= self.capacity_max,
                f"buffer.capacity_min ({self.capacity_min}) > capacity_max ({self.capacity_max})")
        require(self.concurrency_k > 0, "buffer.concurrency_k must be positive")

    def window_ms(self, stddev_ms: float) -> float:
        return formulas.window_ms(stddev_ms, self.window_min_ms, self.window_max_ms, self.stddev_scale_ms)

    def capacity(self, rps: float) -> int:
        return formulas.capacity(rps, self.capacity_min, self.capacity_max, self.rps_scale)


STALL_SERVICES = 10  # no completion for this many mean service times, every worker busy: stalled


class MountainBikeBuffer:
    """Admission control of the MBB; see the module docstring. Its re-tuning is the shared
    :class:`~mbsim.mbb.retune.Retuner` (``self.retuner``), fed with the server-side sojourn
    of completed requests."""

    def __init__(self, settings: BufferSettings, workers: int, mean_service_s: float, rtt_s: float = 0.0) -> None:
        self.workers = workers
        self.rtt_s = rtt_s  # the network round trip the answer still has to make (s)
        self.margin = settings.margin_sd
        self._done_mark = -1  # shed_is_failure: the completions count last seen, and when
        self._progress_at = 0.0
        self.window_mode = settings.mode != "concurrency"  # window and deadline keep no latencies
        self.ring = Ring(settings.capacity_max)
        self.queue: deque[Any] = self.ring._items
        self.mean_service_s = mean_service_s  # EWMA of observed service times
        self.sq_service_s = mean_service_s * mean_service_s  # EWMA of their squares (deadline mode)
        self._keep = not self.window_mode
        self.retuner = Retuner(settings, keep_latencies=self._keep, apply=self._apply)
        self.limit = self.retuner.limit  # concurrency mode
        self._apply(self.retuner.window_s, self.retuner.capacity, self.retuner.limit)
        self._reset_interval()
        # the hot path's methods, chosen once for the mode
        self.admit = {"deadline": self._admit_deadline, "window": self._admit_window,
                      "concurrency": self._admit_concurrency}[settings.mode]
        # an idle worker means an empty ring, which the window rule always admits to (the
        # concurrency rule may not: its limit can be below the workers; nor the deadline
        # rule: a request with less budget left than one service time is shed)
        self.admits_when_idle = settings.mode == "window"
        self.rate = RateLimiter(settings.rate_limit) if settings.rate_limit.enabled else None
        if self.rate is not None:
            self._slot_s = (1 << slot_shift(settings.window_min_ms)) / 1e9
            self._per_slot = 0  # the limit in force, per slot (0: none)
            self._epoch = -1
            self._in_slot = 0  # admitted in the current slot
            self._mark = 0  # the high-water mark of waiting + in service since the last step
            self._passed = 0  # admitted since the last step
            self.rate_shed = 0
            self._admit_unlimited = self.admit
            self.admit = self._admit_rate
            self.admits_when_idle = False
        if settings.mode == "deadline":
            self.observe = self._observe_deadline  # type: ignore[method-assign]
        elif not self._keep:
            self.observe = self._observe_sums  # type: ignore[method-assign]

    def _apply(self, window_s: float, capacity: int, limit: float) -> None:
        """Carry a re-tune's values where the hot path reads them."""
        self.window_s = window_s  # the admission window (s)
        self._wait_budget_s = window_s * self.workers  # summed expected service the queue may hold
        self.ring.resize(capacity)
        self.limit = limit
        self.retry_after_s = window_s

    @property
    def capacity(self) -> int:
        """Ring slots (one reserved)."""
        return self.ring.capacity

    def _reset_interval(self) -> None:
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.latencies: list[float] | None = [] if self._keep else None

    # -- hot path -------------------------------------------------------------
    def attach(self, queue: deque[Any], in_service: Callable[[], int], offered: Callable[[], int]) -> None:
        """Use the model's waiting queue as the ring's storage, and read from the model how
        many requests are in service and how many were offered so far (every admit() call
        is one offer)."""
        self.queue = self.ring._items = queue
        self.in_service = in_service
        self.offered = offered
        self._offered_mark = offered()

    # admit(now, give_up) -> bool: may a request that arrives at ``now`` (s), whose client
    # waits until ``give_up`` (s), wait in the ring? ``__init__`` binds the one for the mode.
    def _admit_deadline(self, now: float, give_up: float) -> bool:
        waiting = len(self.queue)
        if waiting >= self.ring.capacity - 1:
            return False
        if self.in_service() < self.workers:
            return True
        s = self.mean_service_s
        gap = s / self.workers
        k = waiting + 1
        var = self.sq_service_s - s * s + k * gap * gap
        return now + s + k * gap + self.margin * math.sqrt(var if var > 0.0 else 0.0) + self.rtt_s <= give_up

    def _admit_window(self, now: float, give_up: float) -> bool:
        queue = self.queue
        if not queue:
            return True  # an empty ring has room (capacity >= 2) and nobody to wait behind
        waiting = len(queue)
        # not Ring.full() (inlined: one slot reserved) and the expected wait within the window
        return waiting < self.ring.capacity - 1 and waiting * self.mean_service_s <= self._wait_budget_s

    def _admit_concurrency(self, now: float, give_up: float) -> bool:
        waiting = len(self.queue)
        return waiting < self.ring.capacity - 1 and waiting + self.in_service() < self.limit

    def _admit_rate(self, now: float, give_up: float) -> bool:
        """``admit`` under the watermark loop's rate limit (:mod:`mbsim.mbb.watermark`): at
        most the limit's share per kernel-sized slot is admitted; the mark is taken as the
        kernel takes it, at each request that passes."""
        if self._per_slot:
            epoch = int(now / self._slot_s)
            if epoch != self._epoch:
                self._epoch, self._in_slot = epoch, 0
            if self._in_slot >= self._per_slot:
                self.rate_shed += 1
                return False
        if not self._admit_unlimited(now, give_up):
            return False
        self._in_slot += 1
        self._passed += 1
        level = len(self.queue) + self.in_service() + 1
        if level > self._mark:
            self._mark = level
        return True

    def rate_process(self, env: Any) -> Generator[Any, Any, None]:
        """SimPy process: the watermark loop, every ``rate_limit.every_s``."""
        assert self.rate is not None
        every = self.rate.s.every_s
        while True:
            yield env.timeout(every)
            limit = self.rate.step(self._mark, self.capacity, self._passed / every)
            self._per_slot = RateLimiter.per_slot(limit, self._slot_s)
            self._mark = self._passed = 0

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

    def shed_is_failure(self, now: float, done: int) -> bool:
        """Does a 429 at ``now`` (s) report a failing backend rather than load? ``done``
        counts the jobs completed so far. True when every worker is busy and no job has
        completed for ``STALL_SERVICES`` mean service times: the time is measured from the
        moment a 429 first saw the count change, so it is never overstated."""
        if done != self._done_mark:
            self._done_mark = done
            self._progress_at = now
            return False
        return self.in_service() >= self.workers and now - self._progress_at > STALL_SERVICES * self.mean_service_s

    def _observe_deadline(self, latency_s: float, service_s: float) -> None:
        """``observe`` in deadline mode: the sums, and the service time's second moment."""
        self.n += 1
        self.total += latency_s
        self.total_sq += latency_s * latency_s
        m = self.mean_service_s
        self.mean_service_s = m + 0.01 * (service_s - m)
        q = self.sq_service_s
        self.sq_service_s = q + 0.01 * (service_s * service_s - q)

    # -- periodic -------------------------------------------------------------
    def process(self, env: Any, sensor: Any) -> Generator[Any, Any, None]:
        """SimPy process: hand the re-tuning one interval every sample (50 ms)."""
        sample_s = self.retuner.sample_s
        while True:
            yield env.timeout(sample_s)
            offered = self.offered()
            self.retuner.step(env.now, Interval(offered - self._offered_mark, self.n, self.total, self.total_sq,
                                                self.latencies), sensor)
            self._offered_mark = offered
            self._reset_interval()
