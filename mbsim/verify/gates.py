"""Validity gates: is a testbed run a measurement worth reporting? (after Lancet, USENIX ATC
2019). A run that fails one is flagged and repeated, up to a limit; it is never reported
as if it had passed.

* **rate** - the generator acted (sent, or asked the sidecar) as often as planned within the
  measured window: within +-2 % of the planned rate.
* **arrivals** - its actual send times follow the planned arrival process: an
  Anderson-Darling test of the gaps against the exponential (constant-rate Poisson
  scenarios; other profiles are not tested, and the report says so), on a seeded sample of
  1,000 gaps. Only gaps longer than the lateness tolerance (25 us) are tested, less 25 us:
  the exponential forgets, so they are exponential with the same rate if the process is
  right. The shortest gaps are where the sender's own work (a few microseconds a send)
  shows: at 10K req/s a tenth of the gaps are below 10 us, and a test on them all refuses
  a generator whose error is far below what a latency of a millisecond can show. 1,000
  gaps keep the test's power against a generator that does not follow the process at all.
* **lateness** - its p99 lateness (actual minus planned send) is at most 25 us.
* **independence** - consecutive latencies are independent enough for order-statistic
  intervals: a lag-1 Spearman test. When they are not, the intervals come from every k-th
  request, with the smallest k for which the test passes (k <= 64). When none does (a fault
  that lasts seconds correlates whole stretches of the run), the gate fails and the
  intervals are widened by sectioning (:func:`mbsim.metrics.intervals.sectioned`). Neither
  makes a run invalid; both are reported.

The VM's own stalls (a kernel thread that stops a CPU for ~1 ms every ~0.5 s, host stalls
of a few ms) show in the maximum lateness; the gate reads p99, and the maximum is reported.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mbsim.verify.measure import Outcomes

RATE_TOLERANCE = 0.02
LATENESS_P99_US = 25.0
AD_LEVEL = 1.0  # %: the significance at which the arrival process is refused
AD_SAMPLE = 1000
AD_SHIFT_NS = 25_000  # gaps shorter than the lateness tolerance are not tested
SPEARMAN_ALPHA = 0.01
MAX_THIN = 64


@dataclass
class Gate:
    name: str
    passed: bool
    value: float
    limit: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "value": self.value, "limit": self.limit, "note": self.note}


def rate_gate(planned: np.ndarray, first_ns: np.ndarray, start: int, end: int) -> Gate:
    want = int(np.sum((planned >= start) & (planned < end)))
    got = int(np.sum((first_ns >= start) & (first_ns < end)))
    err = (got - want) / want if want else math.nan
    return Gate("rate", bool(abs(err) <= RATE_TOLERANCE), err, f"|achieved/planned - 1| <= {RATE_TOLERANCE:.0%}",
                f"{got} of {want} planned sends")


def arrivals_gate(first_ns: np.ndarray, constant_rate: bool, sample: int = AD_SAMPLE) -> Gate:
    if not constant_rate:
        return Gate("arrivals", True, math.nan, "Anderson-Darling, exponential gaps",
                    "not tested: the rate varies over time")
    gaps = np.diff(np.sort(first_ns))
    gaps = (gaps[gaps > AD_SHIFT_NS] - AD_SHIFT_NS) / 1e9
    if gaps.size > sample:
        gaps = np.random.default_rng(0xAD).choice(gaps, sample, replace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scipy's coming p-value API; critical values suffice
        res = stats.anderson(gaps, dist="expon")
    k = list(res.significance_level).index(AD_LEVEL)
    crit = float(res.critical_values[k])
    return Gate("arrivals", bool(res.statistic < crit), float(res.statistic),
                f"A^2 < {crit:.3g} (exponential gaps, {AD_LEVEL:g} % level)",
                f"{gaps.size} gaps longer than {AD_SHIFT_NS / 1e3:g} us, less that")


def lateness_gate(lateness_ns: np.ndarray) -> Gate:
    late = lateness_ns / 1e3
    p99 = float(np.percentile(late, 99)) if late.size else math.nan
    return Gate("lateness", bool(p99 <= LATENESS_P99_US), p99, f"p99 <= {LATENESS_P99_US:g} us",
                f"p50 {np.percentile(late, 50):.1f} us, max {late.max():.0f} us" if late.size else "")


def lag1(x: np.ndarray) -> tuple[float, float]:
    """Spearman's rho between consecutive values, and its p-value."""
    if x.size < 10:
        return math.nan, 1.0
    r = stats.spearmanr(x[:-1], x[1:])
    return float(r.statistic), float(r.pvalue)


def independence(latency_s: np.ndarray) -> tuple[Gate, int]:
    """The gate, and the thinning (every k-th request) under which consecutive latencies
    pass the lag-1 test."""
    x = latency_s[~np.isnan(latency_s)]
    rho, p = lag1(x)
    k = 1
    while p < SPEARMAN_ALPHA and k < MAX_THIN:
        k *= 2
        rho, p = lag1(x[::k])
    note = "independent" if k == 1 else f"correlated: intervals from every {k}th request"
    if p < SPEARMAN_ALPHA:
        note = f"still correlated at every {k}th request"
    return Gate("independence", bool(p >= SPEARMAN_ALPHA), rho,
                f"lag-1 Spearman p >= {SPEARMAN_ALPHA} (after thinning)", note), k


def check(o: Outcomes, planned: np.ndarray, start: int, end: int, constant_rate: bool) -> tuple[list[Gate], int]:
    """Every gate of one run (in the window [start, end) ns), and the thinning to use."""
    first = planned + o.lateness_ns
    w = (planned >= start) & (planned < end)
    ind, thin = independence(o.latency_s[o.in_window])
    return [rate_gate(planned, first, start, end), arrivals_gate(first[w], constant_rate),
            lateness_gate(o.lateness_ns[w]), ind], thin


def passed(gates: list[Gate]) -> bool:
    """Does the run count? Independence only decides how intervals are computed."""
    return all(g.passed for g in gates if g.name != "independence")
