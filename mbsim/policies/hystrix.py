"""``hystrix``: Netflix Hystrix's circuit breaker and thread-pool bulkhead (1.5.x).

Defaults, from the Hystrix wiki "Configuration" page
(https://github.com/Netflix/Hystrix/wiki/Configuration) and
``HystrixCommandProperties`` / ``HystrixThreadPoolProperties``:

* ``execution.isolation.thread.timeoutInMilliseconds`` = 1000 - a timeout counts as a
  failure, and the command's fallback runs;
* ``circuitBreaker.requestVolumeThreshold`` = 20, ``errorThresholdPercentage`` = 50,
  ``sleepWindowInMilliseconds`` = 5000;
* ``metrics.rollingStats.timeInMilliseconds`` = 10000 in ``numBuckets`` = 10;
  ``metrics.healthSnapshot.intervalInMilliseconds`` = 500 (the breaker looks at the
  error percentage at most that often);
* thread pool ``coreSize`` = 10, ``maxQueueSize`` = -1 (a SynchronousQueue: no queue), and
  ``queueSizeRejectionThreshold`` = 5 when a queue is configured.

The breaker (``HystrixCircuitBreakerImpl``): CLOSED until, at a health snapshot, the
rolling window holds at least ``requestVolumeThreshold`` requests and the error
percentage - failures, timeouts, thread-pool rejections - reaches the threshold. OPEN
short-circuits every call; after the sleep window a single trial request is let through
(HALF_OPEN): its success closes the breaker and resets the counts, its failure reopens it.
The command's fallback is the snapshot (``getFallback`` serving cached values).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbsim.dimension import Dimension
from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.parts import RollingWindow
from mbsim.policies.protection import Pool, Protection
from mbsim.strategy import State

OK, BAD = 0, 1


@dataclass(frozen=True)
class HystrixParams(Params):
    execution_timeout_ms: float = 1000.0
    request_volume_threshold: int = 20
    error_threshold_percentage: float = 50.0
    sleep_window_ms: float = 5000.0
    rolling_stats_ms: float = 10000.0
    rolling_stats_buckets: int = 10
    health_snapshot_interval_ms: float = 500.0
    core_size: int = 10
    max_queue_size: int = -1
    queue_size_rejection_threshold: int = 5
    fallback: bool = True

    def validate(self) -> None:
        require(self.execution_timeout_ms > 0, "execution_timeout_ms must be positive")
        require(self.request_volume_threshold >= 1, "request_volume_threshold must be >= 1")
        require(0 < self.error_threshold_percentage <= 100, "error_threshold_percentage must be in (0, 100]")
        require(self.sleep_window_ms > 0 and self.rolling_stats_ms > 0, "windows must be positive")
        require(self.rolling_stats_buckets >= 1, "rolling_stats_buckets must be >= 1")
        require(self.core_size >= 1, "core_size must be >= 1")
        require(self.max_queue_size >= -1, "max_queue_size must be -1 (no queue) or more")

    @property
    def queue(self) -> int:
        if self.max_queue_size <= 0:
            return 0
        return min(self.max_queue_size, self.queue_size_rejection_threshold)


class HystrixBreaker:
    def __init__(self, p: HystrixParams) -> None:
        self.p = p
        self.window = RollingWindow(p.rolling_stats_ms / 1e3, p.rolling_stats_buckets, 2)
        self._state = State.CLOSED
        self.opened_at = 0.0
        self.next_snapshot = 0.0

    def _health(self, now: float) -> None:
        if now < self.next_snapshot:
            return
        self.next_snapshot = now + self.p.health_snapshot_interval_ms / 1e3
        if self._state != State.CLOSED:
            return
        ok, bad = self.window.sums(now)
        total = ok + bad
        if total >= self.p.request_volume_threshold and bad * 100.0 >= self.p.error_threshold_percentage * total:
            self._state = State.OPEN
            self.opened_at = now

    def allow(self, now: float) -> bool:
        self._health(now)
        if self._state == State.CLOSED:
            return True
        if self._state == State.OPEN and now - self.opened_at >= self.p.sleep_window_ms / 1e3:
            self._state = State.HALF_OPEN  # the single trial request
            return True
        return False

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        good = outcome == Outcome.SUCCESS
        self.window.add(now, OK if good else BAD)
        if self._state == State.HALF_OPEN:
            if good:
                self._state = State.CLOSED
                self.window.reset()
            else:
                self._state = State.OPEN
                self.opened_at = now
        else:
            self._health(now)

    def state(self, now: float) -> State:
        if self._state == State.OPEN and now - self.opened_at >= self.p.sleep_window_ms / 1e3:
            return State.HALF_OPEN
        return self._state


def build(p: HystrixParams, sc: Any, rng: Any=None) -> Protection:
    return Protection(strategy=HystrixBreaker(p), deadline_ms=p.execution_timeout_ms, fallback=p.fallback,
                      pool=Pool(p.core_size, p.queue))


@dataclass(frozen=True)
class HystrixTuned(HystrixParams):
    """Tuned for these scenarios: a 5 ms command timeout (the horn's deadline), a 1 s
    window and sleep window, and a pool large enough for 10K req/s."""

    execution_timeout_ms: float = 5.0
    sleep_window_ms: float = 1000.0
    rolling_stats_ms: float = 1000.0
    health_snapshot_interval_ms: float = 100.0
    core_size: int = 64


# What ``mbsim tune --policy hystrix`` searches, from hystrix-tuned (5 ms timeout and the
# horn's snapshot as fallback). Ranges: the timeout 1 - 50 ms (the horn's deadline range),
# requestVolumeThreshold 5 - 200 (default 20), errorThresholdPercentage 10 - 90 % (50),
# sleepWindow 100 - 10 000 ms (5000), the thread pool 4 - 256 (10).
TUNING = (
    Dimension("execution_timeout_ms", 1, 50, log=True),
    Dimension("request_volume_threshold", 5, 200, integer=True, log=True),
    Dimension("error_threshold_percentage", 10, 90),
    Dimension("sleep_window_ms", 100, 10000, log=True),
    Dimension("core_size", 4, 256, integer=True, log=True),
)

register(PolicySpec("hystrix", "Netflix Hystrix: thread pool 10, 10 s window, 20 calls, 50 %, 5 s sleep, "
                    "1 s timeout + fallback", HystrixParams, build,
                    tuning=TUNING, tuning_base=HystrixTuned))
register(PolicySpec("hystrix-tuned", "Hystrix tuned: 5 ms timeout, 1 s window and sleep, pool 64",
                    HystrixTuned, build))
