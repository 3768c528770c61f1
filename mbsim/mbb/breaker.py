"""The article's two breaker modes (digest 4.1), behind the :class:`Strategy` protocol.

Both share the open / half-open cycle: when tripped the breaker == OPEN for ``open_s``
seconds and refuses every call; then it == HALF_OPEN and lets ``probes`` trial calls
through, one at a time as they are allowed. If all probes succeed it closes; the first
failed probe opens it again for another ``open_s``. They differ in what trips them:

* :class:`ConsecutiveFailureBreaker` - ``threshold`` failures in a row while closed;
* :class:`FailureRatioBreaker` - over a sliding time window of ``window_s`` seconds
  (kept as ``buckets`` rolling buckets), at least ``min_calls`` calls and a failure
  share of at least ``ratio``.

Failures are errors and timeouts. A 429 from the server's admission control counts as
neither success nor failure (``count_rejections`` off, the default): load shedding is the
buffer doing its job, not the backend failing, and a breaker that counts it flaps under
overload. ``mbb-literal`` turns it on, as mbb had it: from the caller's side a shed call
did not succeed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.strategy import State

CLOSED, OPEN, HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
SUCCESS, REJECTED = Outcome.SUCCESS, Outcome.REJECTED


@dataclass(frozen=True)
class BreakerSettings(Params):
    """Settings of the article's breaker (thresholds, and ms for times).

    The article names the two modes (a failure threshold; a window in ms) but gives no
    numbers. The defaults are mbsim's: a 50 % failure ratio over at least 20 calls is
    Hystrix's default (errorThresholdPercentage 50, requestVolumeThreshold 20); the 1 s
    window (10 buckets) and 1 s open are Hystrix's 10 s and 5 s scaled down to the
    built-in scenarios' faults, which last seconds; 5 failures in a row is gobreaker's
    ReadyToTrip example."""

    NAME: ClassVar[str] = "breaker"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "buckets": (1, 1000)
    }

    kind: Literal["count", "ratio"] = "ratio"
    failure_threshold: int = 5  # count mode: consecutive failures that trip
    failure_ratio: float = 0.5  # ratio mode: failure share that trips
    window_ms: float = 1000.0  # ratio mode: sliding window
    buckets: int = 10  # ratio mode: rolling buckets in the window
    min_calls: int = 20  # ratio mode: calls needed before the ratio counts
    open_ms: float = 1000.0  # time spent OPEN before probing
    probes: int = 1  # trial calls in HALF_OPEN
    count_rejections: bool = False  # a 429 (load shedding) counts as a failure: mbb-literal's reading

    def validate(self) -> None:
        require(self.failure_threshold >= 1, "breaker.failure_threshold must be >= 1")
        require(0 < self.failure_ratio <= 1, "breaker.failure_ratio must be in (0, 1]")
        require(self.window_ms > 0, "breaker.window_ms must be positive")
        require(self.min_calls >= 1, "breaker.min_calls must be >= 1")
        require(self.open_ms > 0, "breaker.open_ms must be positive")
        require(self.probes >= 1, "breaker.probes must be >= 1")

    def build(self) -> Breaker:
        if self.kind == "count":
            b: Breaker = ConsecutiveFailureBreaker(self.failure_threshold, self.open_ms / 1e3, self.probes)
        else:
            b = FailureRatioBreaker(self.failure_ratio, self.window_ms / 1e3, self.buckets,
                                    self.min_calls, self.open_ms / 1e3, self.probes)
        b.count_rejections = self.count_rejections
        return b


class Breaker:
    """Open / half-open / closed cycle; subclasses decide when a closed breaker trips."""

    count_rejections = True

    def __init__(self, open_s: float, probes: int) -> None:
        self.open_s = open_s
        self.probes = probes
        self._state = CLOSED
        self.passes = True  # allow() would say yes with no side effect (CLOSED): see Strategy
        self._opened_at = 0.0
        self._probes_sent = 0
        self._probes_ok = 0
        # every change of state, exactly, as (s, state), when a list is given (the simulator
        # gives one: sampling the state every 10 ms misses a half-open probe that fails within
        # the 5 ms deadline, and with it an opening); None records nothing (the controller)
        self.changes: list[tuple[float, State]] | None = None

    def state(self, now: float) -> State:
        if self._state == OPEN and now - self._opened_at >= self.open_s:
            return HALF_OPEN
        return self._state

    def allow(self, now: float) -> bool:
        st = self._state
        if st == CLOSED:
            return True
        if st == OPEN:
            if now - self._opened_at < self.open_s:
                return False
            self._state = HALF_OPEN
            self._probes_sent = self._probes_ok = 0
            if self.changes is not None:
                self.changes.append((self._opened_at + self.open_s, HALF_OPEN))  # when it became so
        if self._probes_sent < self.probes:
            self._probes_sent += 1
            return True
        return False

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        if outcome == REJECTED and not self.count_rejections:
            return
        failed = outcome != SUCCESS
        st = self._state
        if st == CLOSED:
            if self._closed_report(now, failed):
                self._trip(now)
        elif st == HALF_OPEN:
            if failed:
                self._trip(now)
            else:
                self._probes_ok += 1
                if self._probes_ok >= self.probes:
                    self._close(now)

    def _trip(self, now: float) -> None:
        self._state = OPEN
        self.passes = False
        self._opened_at = now
        if self.changes is not None:
            self.changes.append((now, OPEN))

    def _close(self, now: float) -> None:
        self._state = CLOSED
        self.passes = True
        self._reset_window()
        if self.changes is not None:
            self.changes.append((now, CLOSED))

    def _closed_report(self, now: float, failed: bool) -> bool:  # pragma: no cover
        raise NotImplementedError

    def _reset_window(self) -> None:  # pragma: no cover
        raise NotImplementedError


class ConsecutiveFailureBreaker(Breaker):
    """Trips after ``threshold`` consecutive failures."""

    def __init__(self, threshold: int = 5, open_s: float = 1.0, probes: int = 1) -> None:
        super().__init__(open_s, probes)
        self.threshold = threshold
        self._run = 0

    def _closed_report(self, now: float, failed: bool) -> bool:
        self._run = self._run + 1 if failed else 0
        return self._run >= self.threshold

    def _reset_window(self) -> None:
        self._run = 0


class FailureRatioBreaker(Breaker):
    """Trips when the failure share over a sliding time window reaches ``ratio``."""

    def __init__(self, ratio: float = 0.5, window_s: float = 1.0, buckets: int = 10,
                 min_calls: int = 20, open_s: float = 1.0, probes: int = 1) -> None:
        super().__init__(open_s, probes)
        self.ratio = ratio
        self.min_calls = min_calls
        self.width = window_s / buckets
        self.n = buckets
        self._calls = [0] * buckets
        self._fails = [0] * buckets
        self._calls_total = 0
        self._fails_total = 0
        self._epoch = 0  # index of the newest bucket, in units of ``width`` since t=0
        self._k = 0  # its slot in the ring of buckets
        self._bucket_end = self.width  # its end (s)
        self._new_ok = 0  # successes in the newest bucket not yet added to the counts

    def _fold(self) -> None:
        """Add the pending successes to the newest bucket and the totals."""
        if self._new_ok:
            self._calls[self._k] += self._new_ok
            self._calls_total += self._new_ok
            self._new_ok = 0

    def _advance(self, now: float) -> int:
        self._fold()
        w = self.width
        epoch = int(now / w)
        # bucket e spans [e * w, (e + 1) * w): correct the division's rounding to match
        if now < epoch * w:
            epoch -= 1
        elif now >= (epoch + 1) * w:
            epoch += 1
        if epoch != self._epoch:
            for e in range(max(self._epoch + 1, epoch - self.n + 1), epoch + 1):
                k = e % self.n
                self._calls_total -= self._calls[k]
                self._fails_total -= self._fails[k]
                self._calls[k] = self._fails[k] = 0
            self._epoch = epoch
            self._k = epoch % self.n
            self._bucket_end = (epoch + 1) * w
        return self._k

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        # The common case, a success while closed in the newest bucket (reports come in time
        # order), costs one increment. A success only lowers the failure share, so it can
        # trip the breaker only at the call that brings the count up to min_calls.
        if outcome is SUCCESS and now < self._bucket_end and self._state is CLOSED:
            self._new_ok += 1
            if self._fails_total and self._calls_total + self._new_ok <= self.min_calls:
                self._fold()
                if self._fails_total >= self.ratio * self._calls_total and self._calls_total >= self.min_calls:
                    self._trip(now)
            return
        self._fold()
        Breaker.report(self, now, outcome, latency)

    def _closed_report(self, now: float, failed: bool) -> bool:
        k = self._advance(now)
        self._calls[k] += 1
        self._calls_total += 1
        if failed:
            self._fails[k] += 1
            self._fails_total += 1
        return self._calls_total >= self.min_calls and self._fails_total >= self.ratio * self._calls_total

    def _reset_window(self) -> None:
        self._calls = [0] * self.n
        self._fails = [0] * self.n
        self._calls_total = self._fails_total = 0
        self._new_ok = 0

    def counts(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the window ending at ``now``."""
        self._advance(now)
        return self._calls_total, self._fails_total
