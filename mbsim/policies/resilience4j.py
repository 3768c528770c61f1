"""``resilience4j``: Resilience4j's CircuitBreaker, SemaphoreBulkhead and TimeLimiter (2.x).

Defaults, from the Resilience4j documentation (https://resilience4j.readme.io/docs/
circuitbreaker, .../bulkhead, .../timeout) and ``CircuitBreakerConfig``:

* ``slidingWindowType`` = COUNT_BASED, ``slidingWindowSize`` = 100 (calls; in seconds when
  TIME_BASED), ``minimumNumberOfCalls`` = 100;
* ``failureRateThreshold`` = 50 %, ``slowCallRateThreshold`` = 100 %,
  ``slowCallDurationThreshold`` = 60000 ms;
* ``permittedNumberOfCallsInHalfOpenState`` = 10, ``maxWaitDurationInHalfOpenState`` = 0
  (wait for all of them), ``waitDurationInOpenState`` = 60000 ms, optionally with
  ``IntervalFunction.ofExponentialBackoff(wait, multiplier)`` (``backoff_multiplier`` > 1);
* bulkhead ``maxConcurrentCalls`` = 25, ``maxWaitDuration`` = 0;
* TimeLimiter ``timeoutDuration`` = 1 s; the fallback (``Decorators.withFallback``) is the
  snapshot.

The breaker: CLOSED records every outcome in its window; once it holds at least
``minimumNumberOfCalls``, a failure rate or a slow-call rate at or above its threshold
opens it. OPEN refuses calls (CallNotPermittedException) for the wait duration (times
``multiplier ** (n - 1)`` on the n-th opening in a row with back-off), then HALF_OPEN
permits ``permittedNumberOfCallsInHalfOpenState`` calls and, once all have completed,
closes if their failure and slow rates are below the thresholds, else reopens. Errors,
timeouts and bulkhead rejections (BulkheadFullException) are failures.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from mbsim.dimension import Dimension
from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.parts import RollingWindow
from mbsim.policies.protection import Pool, Protection
from mbsim.strategy import State

CALLS, FAILS, SLOW = 0, 1, 2


@dataclass(frozen=True)
class Resilience4jParams(Params):
    sliding_window_type: Literal["COUNT_BASED", "TIME_BASED"] = "COUNT_BASED"
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold_ms: float = 60000.0
    permitted_number_of_calls_in_half_open_state: int = 10
    wait_duration_in_open_state_ms: float = 60000.0
    backoff_multiplier: float = 1.0  # > 1: exponential back-off of the open wait
    max_concurrent_calls: int = 25
    max_wait_duration_ms: float = 0.0
    timeout_duration_ms: float = 1000.0
    fallback: bool = True

    def validate(self) -> None:
        require(self.sliding_window_size >= 1, "sliding_window_size must be >= 1")
        require(self.minimum_number_of_calls >= 1, "minimum_number_of_calls must be >= 1")
        require(0 < self.failure_rate_threshold <= 100, "failure_rate_threshold must be in (0, 100]")
        require(0 < self.slow_call_rate_threshold <= 100, "slow_call_rate_threshold must be in (0, 100]")
        require(self.permitted_number_of_calls_in_half_open_state >= 1, "half-open calls must be >= 1")
        require(self.wait_duration_in_open_state_ms > 0, "wait_duration_in_open_state_ms must be positive")
        require(self.backoff_multiplier >= 1, "backoff_multiplier must be >= 1")
        require(self.max_concurrent_calls >= 1, "max_concurrent_calls must be >= 1")
        require(self.max_wait_duration_ms == 0, "max_wait_duration_ms > 0 (a waiting bulkhead) is not modelled")
        require(self.timeout_duration_ms > 0, "timeout_duration_ms must be positive")


class Resilience4jBreaker:
    def __init__(self, p: Resilience4jParams) -> None:
        self.p = p
        self.time_based = p.sliding_window_type == "TIME_BASED"
        if self.time_based:
            self.window = RollingWindow(float(p.sliding_window_size), p.sliding_window_size, 3)
        else:
            self.ring: deque[tuple[int, int]] = deque()
            self.totals = [0, 0, 0]
        self._state = State.CLOSED
        self.opened_at = 0.0
        self.wait_s = p.wait_duration_in_open_state_ms / 1e3
        self.openings = 0
        self.permitted = 0
        self.half = [0, 0, 0]

    def _record(self, now: float, failed: bool, slow: bool) -> list[int]:
        if self.time_based:
            self.window.add(now, CALLS)
            if failed:
                self.window.add(now, FAILS)
            if slow:
                self.window.add(now, SLOW)
            return self.window.sums(now)
        self.ring.append((failed, slow))
        t = self.totals
        t[CALLS] += 1
        t[FAILS] += failed
        t[SLOW] += slow
        if len(self.ring) > self.p.sliding_window_size:
            f, s = self.ring.popleft()
            t[CALLS] -= 1
            t[FAILS] -= f
            t[SLOW] -= s
        return t

    def _over(self, calls: int, fails: int, slow: int) -> bool:
        return (fails * 100.0 >= self.p.failure_rate_threshold * calls
                or slow * 100.0 >= self.p.slow_call_rate_threshold * calls)

    def _open(self, now: float) -> None:
        self.openings += 1
        self._state = State.OPEN
        self.opened_at = now
        self.wait_s = self.p.wait_duration_in_open_state_ms / 1e3 * self.p.backoff_multiplier ** (self.openings - 1)

    def _close(self) -> None:
        self._state = State.CLOSED
        self.openings = 0
        if self.time_based:
            self.window.reset()
        else:
            self.ring.clear()
            self.totals = [0, 0, 0]

    def allow(self, now: float) -> bool:
        if self._state == State.CLOSED:
            return True
        if self._state == State.OPEN:
            if now - self.opened_at < self.wait_s:
                return False
            self._state = State.HALF_OPEN
            self.permitted = 0
            self.half = [0, 0, 0]
        if self.permitted < self.p.permitted_number_of_calls_in_half_open_state:
            self.permitted += 1
            return True
        return False

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        failed = outcome != Outcome.SUCCESS
        slow = latency * 1e3 >= self.p.slow_call_duration_threshold_ms
        if self._state == State.CLOSED:
            calls, fails, slows = self._record(now, failed, slow)
            if calls >= self.p.minimum_number_of_calls and self._over(calls, fails, slows):
                self._open(now)
        elif self._state == State.HALF_OPEN:
            h = self.half
            h[CALLS] += 1
            h[FAILS] += failed
            h[SLOW] += slow
            if h[CALLS] >= self.p.permitted_number_of_calls_in_half_open_state:
                if self._over(*h):
                    self._open(now)
                else:
                    self._close()

    def state(self, now: float) -> State:
        if self._state == State.OPEN and now - self.opened_at >= self.wait_s:
            return State.HALF_OPEN
        return self._state


def build(p: Resilience4jParams, sc: Any, rng: Any=None) -> Protection:
    return Protection(strategy=Resilience4jBreaker(p), deadline_ms=p.timeout_duration_ms, fallback=p.fallback,
                      pool=Pool(p.max_concurrent_calls, 0))


@dataclass(frozen=True)
class Resilience4jTuned(Resilience4jParams):
    """Tuned for these scenarios: a 1 s TIME_BASED window with 20 calls minimum, a 1 s open
    wait doubling on repeated openings, 5 ms slow calls and TimeLimiter, 64 concurrent calls."""

    sliding_window_type: Literal["COUNT_BASED", "TIME_BASED"] = "TIME_BASED"
    sliding_window_size: int = 1
    minimum_number_of_calls: int = 20
    wait_duration_in_open_state_ms: float = 1000.0
    backoff_multiplier: float = 2.0
    slow_call_duration_threshold_ms: float = 5.0
    max_concurrent_calls: int = 64
    timeout_duration_ms: float = 5.0


# What ``mbsim tune --policy resilience4j`` searches, from resilience4j-tuned (TIME_BASED 1 s
# window, TimeLimiter 5 ms, the snapshot as fallback). Ranges: TimeLimiter 1 - 50 ms,
# minimumNumberOfCalls 5 - 200 (default 100), failureRateThreshold 10 - 90 % (50),
# waitDurationInOpenState 100 - 10 000 ms (60 000), bulkhead maxConcurrentCalls 4 - 256 (25).
TUNING = (
    Dimension("timeout_duration_ms", 1, 50, log=True),
    Dimension("minimum_number_of_calls", 5, 200, integer=True, log=True),
    Dimension("failure_rate_threshold", 10, 90),
    Dimension("wait_duration_in_open_state_ms", 100, 10000, log=True),
    Dimension("max_concurrent_calls", 4, 256, integer=True, log=True),
)

register(PolicySpec("resilience4j", "Resilience4j: COUNT_BASED 100, min 100 calls, 50 %, 60 s open, 10 half-open, "
                    "bulkhead 25, 1 s TimeLimiter + fallback", Resilience4jParams, build,
                    tuning=TUNING, tuning_base=Resilience4jTuned))
register(PolicySpec("resilience4j-tuned", "Resilience4j tuned: TIME_BASED 1 s, min 20, 1 s open x2 back-off, "
                    "5 ms timeout, bulkhead 64", Resilience4jTuned, build))
