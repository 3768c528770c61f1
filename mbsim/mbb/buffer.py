"""The mountain-bike adaptive buffer (MBB): server-side admission that stretches.

The buffer is the ring (:mod:`mbsim.mbb.ring`) in front of the workers. In ``window`` mode
(the default) a request is admitted when

* the ring is not full (at most ``capacity - 1`` waiting), and
* its expected wait, ``waiting * mean_service / workers``, is within ``window_ms``.

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

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from mbsim.mbb import formulas
from mbsim.mbb.retune import Interval, Retuner
from mbsim.mbb.ring import Ring
from mbsim.mbb.topology import TopologySettings
from mbsim.params import Params, require


@dataclass(frozen=True)
class BufferSettings(Params):
    """Bounds, gains and period of the re-tuning formulas (ms, req/s, s)."""

    NAME: ClassVar[str] = "buffer"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "window_min_ms": (0.001, 60_000.0), "window_max_ms": (0.001, 60_000.0),
        "stddev_scale_ms": (1e-06, 3_600_000.0), "rps_scale": (1e-06, 1_000_000_000.0), "adjust_s": (0.001, 3600.0),
        "concurrency_k": (0.0, 1_000_000_000_000.0), "concurrency_floor": (1.0, 1_000_000.0),
        "concurrency_window_s": (0.001, 3600.0)
    }

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


class MountainBikeBuffer:
    """Admission control of the MBB; see the module docstring. Its re-tuning is the shared
    :class:`~mbsim.mbb.retune.Retuner` (``self.retuner``), fed with the server-side sojourn
    of completed requests."""

    def __init__(self, settings: BufferSettings, workers: int, mean_service_s: float) -> None:
        self.s = settings
        self.workers = workers
        self.window_mode = settings.mode == "window"
        self.ring = Ring(settings.capacity_max)
        self.queue: deque = self.ring._items
        self.mean_service_s = mean_service_s  # EWMA of observed service times
        self._keep = not self.window_mode
        self.retuner = Retuner(settings, keep_latencies=self._keep, apply=self._apply)
        self.limit = self.retuner.limit  # concurrency mode
        self._apply(self.retuner.window_s, self.retuner.capacity, self.retuner.limit)
        self._reset_interval()
        # the hot path's methods, chosen once for the mode
        self.admit = self._admit_window if self.window_mode else self._admit_concurrency
        # an idle worker means an empty ring, which the window rule always admits to (the
        # concurrency rule may not: its limit can be below the workers)
        self.admits_when_idle = self.window_mode
        if not self._keep:
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
    def attach(self, queue: deque, in_service: Callable[[], int], offered: Callable[[], int]) -> None:
        """Use the model's waiting queue as the ring's storage, and read from the model how
        many requests are in service and how many were offered so far (every admit() call
        is one offer)."""
        self.queue = self.ring._items = queue
        self.in_service = in_service
        self.offered = offered
        self._offered_mark = offered()

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
        waiting = len(self.queue)
        return waiting < self.ring.capacity - 1 and waiting + self.in_service() < self.limit

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
        """SimPy process: hand the re-tuning one interval every sample (50 ms)."""
        sample_s = self.retuner.sample_s
        while True:
            yield env.timeout(sample_s)
            offered = self.offered()
            self.retuner.step(env.now, Interval(offered - self._offered_mark, self.n, self.total, self.total_sq,
                                                self.latencies), sensor)
            self._offered_mark = offered
            self._reset_interval()
