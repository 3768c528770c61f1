"""``gobreaker``: sony/gobreaker's circuit breaker (v1/v2).

Defaults, from its README and ``gobreaker.go`` (https://github.com/sony/gobreaker):

* ``MaxRequests`` = 1 (0 means 1): calls allowed in HALF_OPEN;
* ``Interval`` = 0: the CLOSED state never clears its counts on a timer;
* ``Timeout`` = 60 s in OPEN before HALF_OPEN;
* ``ReadyToTrip``: ``counts.ConsecutiveFailures > 5``.

CLOSED counts results; a failure makes ReadyToTrip decide. OPEN refuses (ErrOpenState).
HALF_OPEN lets ``MaxRequests`` calls through (more get ErrTooManyRequests); after
``MaxRequests`` consecutive successes it closes, and any failure reopens it. gobreaker has
no fallback and no timeout of its own: the client's timeout applies. (gobreaker also
drops results from a previous generation; the Strategy protocol carries no per-call
token, so a result is counted in the state it arrives in.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.dimension import Dimension
from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.parts import CallerOptions
from mbsim.strategy import State


@dataclass(frozen=True)
class GobreakerParams(Params):
    max_requests: int = 1
    interval_ms: float = 0.0
    timeout_ms: float = 60000.0
    consecutive_failures: int = 5  # ReadyToTrip: more than this many in a row
    caller: CallerOptions = field(default_factory=CallerOptions)

    def validate(self) -> None:
        require(self.max_requests >= 0, "max_requests must be >= 0")
        require(self.interval_ms >= 0, "interval_ms must be >= 0")
        require(self.timeout_ms > 0, "timeout_ms must be positive")
        require(self.consecutive_failures >= 0, "consecutive_failures must be >= 0")


class Gobreaker:
    def __init__(self, p: GobreakerParams) -> None:
        self.p = p
        self.max_requests = p.max_requests or 1
        self._state = State.CLOSED
        self.expiry = p.interval_ms / 1e3 if p.interval_ms else float("inf")
        self.requests = 0
        self.consecutive_failures = 0
        self.consecutive_successes = 0

    def _to(self, state: State, now: float) -> None:
        self._state = state
        self.requests = self.consecutive_failures = self.consecutive_successes = 0
        if state == State.CLOSED:
            self.expiry = now + self.p.interval_ms / 1e3 if self.p.interval_ms else float("inf")
        elif state == State.OPEN:
            self.expiry = now + self.p.timeout_ms / 1e3
        else:
            self.expiry = float("inf")

    def _current(self, now: float) -> State:
        if self._state == State.CLOSED and now >= self.expiry:
            self._to(State.CLOSED, now)  # new generation: counts cleared
        elif self._state == State.OPEN and now >= self.expiry:
            self._to(State.HALF_OPEN, now)
        return self._state

    def allow(self, now: float) -> bool:
        st = self._current(now)
        if st == State.OPEN:
            return False
        if st == State.HALF_OPEN and self.requests >= self.max_requests:
            return False
        self.requests += 1
        return True

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        st = self._current(now)
        if outcome == Outcome.SUCCESS:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            if st == State.HALF_OPEN and self.consecutive_successes >= self.max_requests:
                self._to(State.CLOSED, now)
        else:
            self.consecutive_failures += 1
            self.consecutive_successes = 0
            tripped = st == State.CLOSED and self.consecutive_failures > self.p.consecutive_failures
            if tripped or st == State.HALF_OPEN:
                self._to(State.OPEN, now)

    def state(self, now: float) -> State:
        if self._state == State.OPEN and now >= self.expiry:
            return State.HALF_OPEN
        return self._state


@dataclass(frozen=True)
class GobreakerTuned(GobreakerParams):
    """Tuned: 1 s open timeout, counts cleared every second, and the application's own
    5 ms deadline with the snapshot as fallback."""

    timeout_ms: float = 1000.0
    interval_ms: float = 1000.0
    caller: CallerOptions = field(default_factory=lambda: CallerOptions(timeout_ms=5.0, fallback=True))


# What ``mbsim tune --policy gobreaker`` searches, from gobreaker-tuned (5 ms deadline +
# the snapshot). Ranges: ReadyToTrip's consecutive failures 1 - 100 (default 5),
# Timeout (open) 100 - 60 000 ms (60 000), Interval (count reset) 100 - 10 000 ms (0: never),
# MaxRequests (half-open) 1 - 32 (1), the caller's deadline 1 - 50 ms.
TUNING = (
    Dimension("consecutive_failures", 1, 100, integer=True, log=True),
    Dimension("timeout_ms", 100, 60000, log=True),
    Dimension("interval_ms", 100, 10000, log=True),
    Dimension("max_requests", 1, 32, integer=True, log=True),
    Dimension("caller.timeout_ms", 1, 50, log=True),
)

register(PolicySpec("gobreaker", "sony/gobreaker: trips on > 5 consecutive failures, MaxRequests 1, Timeout 60 s",
                    GobreakerParams, lambda p, sc, rng: p.caller.protection(Gobreaker(p)),
                    tuning=TUNING, tuning_base=GobreakerTuned))
register(PolicySpec("gobreaker-tuned", "gobreaker tuned: Timeout 1 s, Interval 1 s, 5 ms deadline + fallback",
                    GobreakerTuned, lambda p, sc, rng: p.caller.protection(Gobreaker(p))))
