"""Metrics that see overload, computed from the per-second rows of a run.

A healthy backend that is asked for more than it can do is *overloaded*, not *down*: the
ground truth of decision accuracy calls it healthy, so a policy that fails every request
of an overload scores 1.0 there. These metrics say what happened instead (all after the
warm-up, over complete one-second windows [k, k+1)):

* **goodput ratio** - real answers (from the backend, not the snapshot) that reached the
  caller within the SLO target (``slo.target_ms``), summed over the windows, divided by
  the sum over the same windows of ``min(arrivals_k, capacity_rps)``: the real answers
  the service could have given in time. ``capacity_rps`` is ``workers / mean service
  time`` (:attr:`mbsim.world.service.Service.capacity_rps`), before any inflation by the
  load function. ``arrivals_k`` counts logical requests (first attempts) arriving in the
  window. 1.0 is the best any policy can do; above 1 is possible only when answers of a
  window's earlier arrivals land in it.
* **overload goodput ratio** - the same over the windows that lie wholly inside the
  overload interval (below); NaN for a scenario whose load never exceeds capacity.
* **fresh share** - real answers / (real answers + snapshot answers): the share of the
  answers the callers got that did not come from the snapshot (NaN with no answers).
* **false-open share** - of the state samples (every 10 ms) taken while the backend was
  up (not down, not partitioned: an overloaded backend is up), the share in which the
  breaker blocked (any state but CLOSED).
* **recovery time** (s) - the *overload interval* is from the first moment the offered
  rate (the workload's profile) exceeds ``capacity_rps`` to the first moment after it that
  the rate is back at or below it. The *pre-overload P99* is the median of the per-second
  P99 of the complete windows between the warm-up and the start of the overload. The
  recovery time is ``k - t_off``, where ``k`` is the start of the first complete window
  that begins at or after the end of the overload ``t_off`` and whose P99 is within 20 %
  of the pre-overload P99 (resolution: one second; 0 means the first whole second after
  the overload is already back). NaN with no overload, or no window before it to compare
  with; ``inf`` if the run ends before it recovers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mbsim.world.workload import Workload

RECOVERED_WITHIN = 0.20  # per-second P99 within 20 % of the pre-overload value


def overload_interval(w: Workload, capacity_rps: float, duration_s: float) -> tuple[float, float] | None:
    """(t_on, t_off) s of the first stretch where the offered rate exceeds ``capacity_rps``
    (t_off = ``duration_s`` if it lasts to the end), read on a grid of at most 20,000
    points (and at least every 10 ms); None if the rate never exceeds it."""
    profile = w.profile()
    if profile.peak <= capacity_rps:
        return None
    if w.constant:
        return 0.0, duration_s
    step = max(0.01, duration_s / 20_000)
    ts = np.arange(0.0, duration_s, step)
    over = np.array([profile(t) > capacity_rps for t in ts])
    if not over.any():
        return None
    on = int(np.argmax(over))
    after = np.nonzero(~over[on:])[0]
    off = float(ts[on + after[0]]) if after.size else duration_s
    return float(ts[on]), off


def goodput_ratio(good: Sequence[int], arrivals: Sequence[int], capacity_rps: float) -> float:
    """Real answers within the SLO target over what the service could have answered, over
    the given windows (one second each)."""
    could = sum(min(a, capacity_rps) for a in arrivals)
    return sum(good) / could if could > 0 else math.nan


def windows_inside(seconds: Sequence[int], interval: tuple[float, float] | None) -> list[int]:
    """Indexes of the windows [k, k+1) that lie wholly inside ``interval``."""
    if interval is None:
        return []
    on, off = interval
    return [i for i, k in enumerate(seconds) if k >= on and k + 1 <= off]


def recovery_s(seconds: Sequence[int], p99_ms: Sequence[float], interval: tuple[float, float] | None,
               warmup_s: float) -> float:
    """The recovery time (s) defined in the module docstring."""
    if interval is None:
        return math.nan
    on, off = interval
    before = [p for k, p in zip(seconds, p99_ms) if k >= warmup_s and k + 1 <= on and not math.isnan(p)]
    if not before:
        return math.nan
    reference = float(np.median(before))
    for k, p in zip(seconds, p99_ms):
        if k >= off and not math.isnan(p) and p <= reference * (1 + RECOVERED_WITHIN):
            return k - off
    return math.inf
