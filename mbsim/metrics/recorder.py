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

from mbsim.metrics import overload
from mbsim.metrics.histogram import LogHistogram
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
        self.seconds: list[tuple] = []  # per-second rows, see COLUMNS
        self.state_samples = 0
        self.up_samples = 0  # state samples while the backend was up
        self.false_open_samples = 0  # ... in which the breaker blocked
        self.state_matches = 0
        self.blocked_samples = 0
        self.transitions: list[tuple[float, int]] = []
        self._last_state = -1

    COLUMNS = ("second", "requests", "failed", "fallback", "p50_ms", "p99_ms", "bad", "slo_violated", "arrivals",
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
    def summary(self, measured_s: float) -> dict:
        total = sum(self.counts)

        def share(k: int) -> float:
            return self.counts[k] / total if total else math.nan

        q = self.hist.quantile
        p99s = np.array([row[5] for row in self.seconds if not math.isnan(row[5])])
        violated = [row[7] for row in self.seconds]
        violation_ratio = float(np.mean(violated)) if violated else math.nan
        out: dict[str, Any] = {
            "requests": total,
            "success_ratio": (self.counts[SUCCESS] + self.counts[FALLBACK]) / total if total else math.nan,
            **{f"{name}_ratio": share(k) for k, name in enumerate(OUTCOMES) if name != "success"},
            "real_success_ratio": share(SUCCESS),
            "goodput_rps": (self.counts[SUCCESS] + self.counts[FALLBACK]) / measured_s,
            "backend_goodput_rps": self.counts[SUCCESS] / measured_s,
            "latency_mean_ms": self.hist.mean * 1e3,
            "p50_ms": q(0.50) * 1e3,
            "p90_ms": q(0.90) * 1e3,
            "p99_ms": q(0.99) * 1e3,
            "p999_ms": q(0.999) * 1e3,
            "p9999_ms": q(0.9999) * 1e3,
            "p99_jitter_ms": float(np.std(p99s, ddof=1)) if p99s.size > 1 else math.nan,
            "decision_accuracy": self.state_matches / self.state_samples if self.state_samples else math.nan,
            "blocked_share": self.blocked_samples / self.state_samples if self.state_samples else math.nan,
            "slo_target_ms": self.slo.target_ms,
            "slo_percentile": self.slo.percentile,
            "slo_budget": self.slo.budget,
            "slo_violation_ratio": violation_ratio,
            "slo_met": bool(violation_ratio <= self.slo.budget) if violated else False,
        }
        out.update(self.overload_metrics())
        out["counts"] = dict(zip(OUTCOMES, self.counts))
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
            "goodput_ratio": overload.goodput_ratio(good, arrived, self.capacity_rps),
            "overload_goodput_ratio": overload.goodput_ratio([good[i] for i in inside], [arrived[i] for i in inside],
                                                             self.capacity_rps) if inside else math.nan,
            "fresh_share": real / (real + snap) if real + snap else math.nan,
            "false_open_share": self.false_open_samples / self.up_samples if self.up_samples else math.nan,
            "recovery_s": rec if math.isfinite(rec) else math.nan,
            "recovered": None if math.isnan(rec) else bool(math.isfinite(rec)),
        }
