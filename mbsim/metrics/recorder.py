"""What a run measured: the recorder that collects it and the definitions.

Every *logical* request (an open-loop arrival, retries included) ends in one outcome:

* ``success`` - a real answer from the upstream;
* ``fallback`` - an answer from the ox-horn snapshot;
* ``rejected`` - refused (429 after the client gave up, or a breaker that refused it
  with no fallback behind it);
* ``timeout`` - no answer (the client's retries ran out, or it was lost);
* ``error`` - an error answer after the retries ran out, with no fallback;
* ``miss`` - the deadline passed and the key was not in the snapshot.

Definitions (all after the warm-up, by the time the outcome was known):

* ratios are shares of all logical requests; ``success_ratio`` counts success and
  fallback together (both answered the caller), ``fallback_ratio`` the latter alone;
* ``goodput_rps``: answered requests (success + fallback) per second;
  ``backend_goodput_rps``: real answers per second;
* latency (P50 ... P99.99 and mean, ms) is what the caller waited for its final outcome,
  from first send to the answer, or to the moment it gave up - whatever the outcome, so
  a policy cannot improve its percentiles by failing slow requests; read from a log
  histogram within 0.05 %;
* **P99 jitter** (ms): the sample standard deviation (ddof=1) of the per-second P99,
  one value per complete one-second window [k, k+1) after the warm-up that had at least
  one request;
* overload: the goodput ratio, overload goodput ratio, fresh share, false-open share and
  recovery time, defined in :mod:`mbsim.metrics.overload`;
* **decision accuracy**: every ``state_sample_ms`` (10 ms) the strategy's state is
  sampled; the breaker *blocks* when its state is not CLOSED, and the ground truth is
  *unhealthy* while the backend is down or partitioned. Accuracy is the share of samples
  where blocks == unhealthy. No grace period is given for detection, so even a perfect
  breaker loses the time it needs to notice. With no strategy it is always CLOSED.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mbsim.metrics import overload, registry
from mbsim.metrics.histogram import LogHistogram
from mbsim.metrics.registry import (
    BACKEND_GOODPUT_RPS,
    BLOCKED_SHARE,
    COUNTS,
    DECISION_ACCURACY,
    FALSE_OPEN_SHARE,
    FRESH_SHARE,
    GOODPUT_RATIO,
    GOODPUT_RPS,
    LATENCY_MEAN_MS,
    OVERLOAD_GOODPUT_RATIO,
    P50_MS,
    P99_JITTER_MS,
    P99_MS,
    REAL_SUCCESS_RATIO,
    RECOVERED,
    RECOVERY_S,
    REQUESTS,
    SLO_BUDGET,
    SLO_MET,
    SLO_PERCENTILE,
    SLO_TARGET_MS,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
)
from mbsim.outcome import FALLBACK, OUTCOMES, SUCCESS
from mbsim.world.slo import Slo


class Recorder:
    """Collects outcomes (hot path: :meth:`settle`) into bounded-memory summaries."""

    def __init__(self, warmup_s: float, slo: Slo, capacity_rps: float = math.nan,
                 overload: tuple[float, float] | None = None) -> None:
        self.warmup = warmup_s
        self.capacity_rps = capacity_rps  # req/s the service can answer (workers / mean service time)
        self.overload = overload  # (t_on, t_off) s: when the offered rate exceeds it
        self.arrivals: Callable[[], int] = lambda: 0  # logical arrivals so far (the model sets it)
        self._arr_mark = 0
        self.slo = slo
        self.slo_target = slo.target_ms / 1e3
        self.counts = [0] * len(OUTCOMES)
        self.hist = LogHistogram()
        self._sec = math.floor(warmup_s)
        self._sec_end = self._sec + 1.0
        self._lat: list[float] = []  # latencies (s) of the open window; one list, cleared in place
        self._fail = 0
        self._fail_fast = 0
        self._fallback = 0
        self._fallback_fast = 0
        self.seconds: list[tuple[Any, ...]] = []  # per-second rows, see COLUMNS
        self.state_samples = 0
        self.up_samples = 0  # state samples while the backend was up
        self.false_open_samples = 0  # ... in which the breaker blocked
        self.state_matches = 0
        self.blocked_samples = 0
        self.transitions: list[tuple[float, int]] = []
        self._last_state = -1

    COLUMNS = ("second", REQUESTS, "failed", "fallback", P50_MS, P99_MS, "bad", "slo_violated", "arrivals",
               "good")  # good: real answers within the SLO target

    def start_measuring(self) -> None:
        """The warm-up is over: drop what it appended through the lane and mark the arrivals
        counted so far. :func:`mbsim.engine.windows.windows` calls it."""
        self._lat.clear()
        self._arr_mark = self.arrivals()

    @property
    def window_end(self) -> float:
        """End of the open one-second window (s)."""
        return self._sec_end

    def roll(self, now: float) -> None:
        """Close the open window (and any empty ones up to ``now``, s)."""
        self._roll(now)

    @property
    def success_lane(self) -> Callable[[float], None]:
        """``append`` of the open window's latencies; only while the windows process runs
        (:func:`mbsim.engine.windows.windows`)."""
        return self._lat.append

    def settle(self, now: float, kind: int, latency: float) -> None:
        """A logical request ended at ``now`` with outcome ``kind`` after ``latency`` s."""
        if now < self.warmup:
            return
        if now >= self._sec_end:
            self._roll(now)
        self._lat.append(latency)
        if kind == SUCCESS:
            return
        self.counts[kind] += 1
        if kind > FALLBACK:
            self._fail += 1
            if latency <= self.slo_target:
                self._fail_fast += 1
        elif kind == FALLBACK:
            self._fallback += 1
            if latency <= self.slo_target:
                self._fallback_fast += 1

    def _roll(self, now: float) -> None:
        """Close the current one-second window (and any empty ones up to ``now``)."""
        while now >= self._sec_end:
            self._close_second(complete=True)
            self._sec += 1
            self._sec_end = self._sec + 1.0

    def _close_second(self, complete: bool) -> None:
        lat = np.asarray(self._lat, dtype=float)
        self._lat.clear()
        self.counts[SUCCESS] += lat.size - self._fail - self._fallback
        self.hist.add(lat)
        if complete and self._sec >= self.warmup:
            n = lat.size
            # a failure is bad whatever its latency; a fast failure must not count twice
            fast = int(np.count_nonzero(lat <= self.slo_target))
            bad = n - fast + self._fail_fast
            if lat.size:
                p50, p99 = np.percentile(lat, [50, 99]) * 1e3
            else:
                p50 = p99 = math.nan
            arrived = self.arrivals()
            self.seconds.append((self._sec, n, self._fail, self._fallback, float(p50), float(p99), bad,
                                 self.slo.window_violates(n, bad), arrived - self._arr_mark,
                                 fast - self._fail_fast - self._fallback_fast))
            self._arr_mark = arrived
        self._fail = 0
        self._fail_fast = 0
        self._fallback = 0
        self._fallback_fast = 0

    def sample_state(self, now: float, state: int, unhealthy: bool) -> None:
        if state != self._last_state:
            self.transitions.append((now, state))
            self._last_state = state
        if now < self.warmup:
            return
        blocks = state != 0
        self.state_samples += 1
        self.blocked_samples += blocks
        self.state_matches += blocks == unhealthy
        if not unhealthy:
            self.up_samples += 1
            self.false_open_samples += blocks

    def finish(self, end: float) -> None:
        """Close the windows up to ``end``; a partial last second only feeds the histogram."""
        self._roll(end)
        self._close_second(complete=False)

    # -- derived ----------------------------------------------------------------
    def summary(self, measured_s: float) -> dict[str, Any]:
        total = sum(self.counts)

        def share(k: int) -> float:
            return self.counts[k] / total if total else math.nan

        q = self.hist.quantile
        p99s = np.array([row[5] for row in self.seconds if not math.isnan(row[5])])
        violated = [row[7] for row in self.seconds]
        violation_ratio = float(np.mean(violated)) if violated else math.nan
        out: dict[str, Any] = {
            REQUESTS: total,
            SUCCESS_RATIO: (self.counts[SUCCESS] + self.counts[FALLBACK]) / total if total else math.nan,
            **{f"{name}_ratio": share(k) for k, name in enumerate(OUTCOMES) if name != "success"},
            REAL_SUCCESS_RATIO: share(SUCCESS),
            GOODPUT_RPS: (self.counts[SUCCESS] + self.counts[FALLBACK]) / measured_s,
            BACKEND_GOODPUT_RPS: self.counts[SUCCESS] / measured_s,
            LATENCY_MEAN_MS: self.hist.mean * 1e3,
            **{name: q(quantile) * 1e3 for name, quantile in registry.latency_percentiles().items()},
            P99_JITTER_MS: float(np.std(p99s, ddof=1)) if p99s.size > 1 else math.nan,
            DECISION_ACCURACY: self.state_matches / self.state_samples if self.state_samples else math.nan,
            BLOCKED_SHARE: self.blocked_samples / self.state_samples if self.state_samples else math.nan,
            SLO_TARGET_MS: self.slo.target_ms,
            SLO_PERCENTILE: self.slo.percentile,
            SLO_BUDGET: self.slo.budget,
            SLO_VIOLATION_RATIO: violation_ratio,
            SLO_MET: bool(violation_ratio <= self.slo.budget) if violated else False,
        }
        out.update(self.overload_metrics())
        out[COUNTS] = dict(zip(OUTCOMES, self.counts))
        for m in registry.derived():
            out[m.name] = m.derive(out)  # type: ignore[misc]
        return out

    def overload_metrics(self) -> dict[str, Any]:
        """Goodput ratios, fresh share, false-open share, recovery (:mod:`mbsim.metrics.overload`)."""
        rows = self.seconds
        secs = [r[0] for r in rows]
        good = [r[9] for r in rows]
        arrived = [r[8] for r in rows]
        inside = overload.windows_inside(secs, self.overload)
        real, snap = self.counts[SUCCESS], self.counts[FALLBACK]
        rec = overload.recovery_s(secs, [r[5] for r in rows], self.overload, self.warmup)
        return {
            GOODPUT_RATIO: overload.goodput_ratio(good, arrived, self.capacity_rps),
            OVERLOAD_GOODPUT_RATIO: overload.goodput_ratio([good[i] for i in inside], [arrived[i] for i in inside],
                                                             self.capacity_rps) if inside else math.nan,
            FRESH_SHARE: real / (real + snap) if real + snap else math.nan,
            FALSE_OPEN_SHARE: self.false_open_samples / self.up_samples if self.up_samples else math.nan,
            RECOVERY_S: rec if math.isfinite(rec) else math.nan,
            RECOVERED: None if math.isnan(rec) else bool(math.isfinite(rec)),
        }
