"""``envoy``: Envoy's adaptive concurrency filter, gradient controller.

From the Envoy documentation (configuration/http/http_filters/adaptive_concurrency_filter)
and ``gradient_controller.cc`` (https://github.com/envoyproxy/envoy). Defaults:
``sample_aggregate_percentile`` = 50 %, ``max_concurrency_limit`` = 1000,
``min_rtt_calc_params``: ``request_count`` = 50, ``jitter`` = 15 %, ``min_concurrency`` =
3, ``buffer`` = 25 %. The two intervals have no default (required fields); mbsim uses
the documentation's example: ``concurrency_update_interval`` = 0.1 s and
``min_rtt_calc_params.interval`` = 60 s.

* minRTT window: at start and every interval (plus up to ``jitter`` of it) the limit is
  pinned at ``min_concurrency`` until ``request_count`` samples have arrived; minRTT is
  their percentile, and the previous limit is restored. A limit stuck at the minimum for
  5 sampling windows triggers a new minRTT window.
* Every ``concurrency_update_interval``: sampleRTT = the percentile of the window's
  samples, and

      gradient = clamp((minRTT * (1 + buffer)) / sampleRTT, 0.5, 2.0)
      limit    = clamp(limit * gradient + sqrt(limit * gradient), min_concurrency, max).

* A request over the limit is blocked (503). Every response is a latency sample; a reset
  or timeout only releases its slot. Samples of requests sent before a minRTT window are
  dropped.

The Strategy protocol has no timers: windows are closed lazily at the next call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mbsim.dimension import Dimension
from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.parts import CallerOptions, RefusalState
from mbsim.strategy import State


@dataclass(frozen=True)
class EnvoyParams(Params):
    sample_aggregate_percentile: float = 50.0
    max_concurrency_limit: int = 1000
    concurrency_update_interval_ms: float = 100.0
    min_rtt_interval_ms: float = 60000.0
    request_count: int = 50
    jitter_percent: float = 15.0
    min_concurrency: int = 3
    buffer_percent: float = 25.0
    caller: CallerOptions = field(default_factory=CallerOptions)

    def validate(self) -> None:
        require(0 < self.sample_aggregate_percentile <= 100, "sample_aggregate_percentile must be in (0, 100]")
        require(self.max_concurrency_limit >= self.min_concurrency >= 1, "need 1 <= min_concurrency <= max")
        require(self.concurrency_update_interval_ms > 0 and self.min_rtt_interval_ms > 0, "intervals must be positive")
        require(self.request_count >= 1, "request_count must be >= 1")
        require(self.jitter_percent >= 0 and self.buffer_percent >= 0, "jitter and buffer must be >= 0")


class GradientController:
    def __init__(self, p: EnvoyParams, rng: Any) -> None:
        self.p = p
        self.rng = rng
        self.limit = p.min_concurrency
        self.outstanding = 0
        self.samples: list[float] = []
        self.min_rtt = 0.0
        self.refusals = RefusalState()
        self.update_s = p.concurrency_update_interval_ms / 1e3
        self.next_update = self.update_s
        self.consecutive_min = 0
        self.in_min_rtt = False
        self.deferred = 0
        self.epoch = 0.0
        self.next_min_rtt = 0.0
        self._enter_min_rtt(0.0)

    # -- windows ----------------------------------------------------------------
    def _enter_min_rtt(self, now: float) -> None:
        if self.in_min_rtt:
            return
        self.in_min_rtt = True
        self.deferred = self.limit
        self._set_limit(self.p.min_concurrency)
        self.samples = []
        self.epoch = now

    def _finish_min_rtt(self, now: float) -> None:
        self.min_rtt = float(np.percentile(self.samples, self.p.sample_aggregate_percentile))
        self.samples = []
        self.in_min_rtt = False
        self._set_limit(self.deferred)
        interval = self.p.min_rtt_interval_ms / 1e3
        jitter = interval * self.p.jitter_percent / 100 * (float(self.rng.random()) if self.rng is not None else 0.5)
        self.next_min_rtt = now + interval + jitter
        self.next_update = now + self.update_s

    def _set_limit(self, new: int) -> None:
        old = self.limit
        self.limit = new
        if not self.in_min_rtt and old == self.p.min_concurrency and new == self.p.min_concurrency:
            self.consecutive_min += 1
        else:
            self.consecutive_min = 0

    def _tick(self, now: float) -> None:
        if not self.in_min_rtt and now >= self.next_min_rtt:
            self._enter_min_rtt(now)
            return
        if self.in_min_rtt or now < self.next_update:
            return
        self.next_update = now + self.update_s
        if not self.samples:
            return
        sample_rtt = float(np.percentile(self.samples, self.p.sample_aggregate_percentile))
        self.samples = []
        if sample_rtt <= 0:
            return
        buffered = self.min_rtt * (1 + self.p.buffer_percent / 100)
        gradient = max(0.5, min(2.0, buffered / sample_rtt))
        lim = self.limit * gradient
        new = int(lim + math.sqrt(lim))
        self._set_limit(max(self.p.min_concurrency, min(self.p.max_concurrency_limit, new)))
        if self.consecutive_min >= 5:
            self._enter_min_rtt(now)

    # -- Strategy -----------------------------------------------------------------
    def allow(self, now: float) -> bool:
        self._tick(now)
        ok = self.outstanding < self.limit
        self.refusals.note(now, not ok)
        if ok:
            self.outstanding += 1
        return ok

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        self.outstanding -= 1
        # an answer sent after the current minRTT window began is a sample
        if (outcome == Outcome.SUCCESS or outcome == Outcome.ERROR) and now - latency >= self.epoch:
            self.samples.append(latency)
            if self.in_min_rtt and len(self.samples) >= self.p.request_count:
                self._finish_min_rtt(now)
        self._tick(now)

    def state(self, now: float) -> State:
        return self.refusals.state(now)


@dataclass(frozen=True)
class EnvoyTuned(EnvoyParams):
    """Tuned: minRTT re-measured every 10 s, and a 5 ms deadline with the snapshot as fallback."""

    min_rtt_interval_ms: float = 10000.0
    caller: CallerOptions = field(default_factory=lambda: CallerOptions(timeout_ms=5.0, fallback=True))


# What ``mbsim tune --policy envoy`` searches, from envoy-tuned (5 ms deadline + the
# snapshot). Ranges: sample_aggregate_percentile 10 - 99 (default 50), concurrency_update_interval
# 10 - 1000 ms (100), min_rtt_calc_interval 1 - 60 s (60), buffer 0 - 100 % (25),
# min_concurrency 1 - 64 (3), the caller's deadline 1 - 50 ms.
TUNING = (
    Dimension("sample_aggregate_percentile", 10, 99),
    Dimension("concurrency_update_interval_ms", 10, 1000, log=True),
    Dimension("min_rtt_interval_ms", 1000, 60000, log=True),
    Dimension("buffer_percent", 0, 100),
    Dimension("min_concurrency", 1, 64, integer=True, log=True),
    Dimension("caller.timeout_ms", 1, 50, log=True),
)

register(PolicySpec("envoy", "Envoy adaptive concurrency (gradient controller): p50, buffer 25 %, minRTT every 60 s",
                    EnvoyParams, lambda p, sc, rng: p.caller.protection(GradientController(p, rng)),
                    tuning=TUNING, tuning_base=EnvoyTuned))
register(PolicySpec("envoy-tuned", "Envoy tuned: minRTT every 10 s, 5 ms deadline + fallback", EnvoyTuned,
                    lambda p, sc, rng: p.caller.protection(GradientController(p, rng))))
