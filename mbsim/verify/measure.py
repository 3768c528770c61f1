"""From what a testbed run recorded to the metrics the simulator reports, with intervals.

Each request's final outcome is its first valid answer: a live answer to its current
attempt that came before the client stopped waiting for it (the attempt's timeout, the
hard deadline), an answer from a snapshot (the kernel's or the sidecar's), the moment the
client gave up (a timeout), or the last attempt's error answer. Latency is counted from the
*planned* send time (corrected: a stall cannot hide the requests it delayed) and also from
the first actual send (uncorrected: its kernel transmit timestamp, else the sender's
clock). As in the simulator, a request counts in the window [warm-up, duration) by the
time its outcome was known.

Percentiles get distribution-free intervals and their sample counts beyond them
(:func:`mbsim.metrics.intervals.percentile`). When consecutive latencies are correlated
(the gate in :mod:`mbsim.verify.gates` finds the thinning k under which they are not), the
estimates use every request but the intervals and the counts beyond are those of n / k
independent ones: wider, and honest. When no k up to 64 makes them independent (a fault
that lasts seconds), the intervals are widened further by sectioning (batch quantiles over
20 consecutive blocks of the run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mbsim.formats import wire as P
from mbsim.metrics.intervals import Percentile, percentile
from mbsim.metrics.registry import (
    COUNTS,
    DECISION_ACCURACY,
    GOODPUT_RPS,
    LATENCY_MEAN_MS,
    P99_JITTER_MS,
    REAL_SUCCESS_RATIO,
    REQUESTS,
    SUCCESS_RATIO,
    TRANSITIONS_TO_OPEN,
)
from mbsim.outcome import ERROR, FALLBACK, MISS, OUTCOMES, SUCCESS, TIMEOUT
from mbsim.verify.server import ATTEMPTS
from mbsim.verify.testbed import RawRun

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p99_9": 0.999, "p99_99": 0.9999}
UNRESOLVED = -1


@dataclass
class Outcomes:
    """Per request: outcome code (-1: unresolved at the end), when it was known, latencies (s)."""

    kind: np.ndarray
    at_ns: np.ndarray
    latency_s: np.ndarray  # from the planned send
    latency_uncorrected_s: np.ndarray  # from the first actual send (its kernel transmit timestamp)
    lateness_ns: np.ndarray  # first action minus planned
    in_window: np.ndarray  # outcome known within [warm-up, duration)
    actual_ns: np.ndarray  # the actual first send: its kernel transmit timestamp, else the sender's clock
    kernel_tx_share: float = 0.0  # of the first sends, those with a kernel transmit timestamp


def outcomes(raw: RawRun, deadline_ms: float | None) -> Outcomes:
    a = raw.arrays
    sc = raw.scenario
    planned = a["planned"]
    n = len(planned)
    inf = np.iinfo(np.int64).max
    sent = a["sent"].reshape(n, ATTEMPTS)
    live = a["live"].reshape(n, ATTEMPTS)
    ok = a["live_status"].reshape(n, ATTEMPTS) == P.ST_OK
    timeout_ns = sc.client.timeout_ms * 1e6 if math.isfinite(sc.client.timeout_ms) else math.inf
    valid = (live > 0) & ok & ((live - sent) <= timeout_ns)
    if deadline_ms is not None:
        valid &= live <= planned[:, None] + int(deadline_ms * 1e6)
    t_live = np.where(valid, live, inf).min(axis=1)
    t_fb = np.where(a["fb"] > 0, a["fb"], inf)
    t_to = np.where(a["gave_up"] > 0, a["gave_up"], inf)
    t_err = np.where(a["error_at"] > 0, a["error_at"], inf)
    times = np.stack([t_live, t_fb, t_to, t_err])
    which = times.argmin(axis=0)
    at = times.min(axis=0)
    miss = a["fb_status"] == P.ST_NOT_FOUND
    kind = np.choose(which, [np.full(n, SUCCESS), np.where(miss, MISS, FALLBACK), np.full(n, TIMEOUT),
                             np.full(n, ERROR)]).astype(np.int64)
    unresolved = at == inf
    kind[unresolved] = UNRESOLVED
    first = np.where(sent[:, 0] > 0, sent[:, 0], a["asked_fb"])
    first = np.where(first > 0, first, planned)
    # the actual send: the kernel's transmit timestamp of the first send where there is one
    tx = a["tx"][0::ATTEMPTS] if "tx" in a else np.zeros(n, dtype=np.int64)
    kernel = (tx > 0) & (sent[:, 0] > 0)
    actual = np.where(kernel, tx, first)
    lat = np.where(unresolved, np.nan, (at - planned) / 1e9)
    lat_u = np.where(unresolved, np.nan, (at - actual) / 1e9)
    start, end = raw.t0_ns + int(sc.warmup_s * 1e9), raw.t0_ns + int(sc.duration_s * 1e9)
    return Outcomes(kind, at, lat, lat_u, first - planned, ~unresolved & (at >= start) & (at < end), actual,
                    float(kernel.mean()) if n else 0.0)


SECTIONS = 20  # blocks of a run whose latencies stay correlated however thinned


def percentiles(lat_s: np.ndarray, thin: int = 1, correlated: bool = False) -> dict[str, Percentile]:
    """P50 ... P99.99 (ms) with intervals as wide as ``n / thin`` independent latencies
    allow, and, when they stay ``correlated`` however thinned, as wide as the spread of
    the run's 20 consecutive sections makes them."""
    x = lat_s * 1e3
    return {name: percentile(x, q, thin=thin, sections=SECTIONS if correlated else 0)
            for name, q in QUANTILES.items()}


def per_second(o: Outcomes, raw: RawRun) -> list[tuple[int, int, float]]:
    """(second, requests, P99 ms) of each complete one-second window after the warm-up."""
    sc = raw.scenario
    sec = (o.at_ns[o.in_window] - raw.t0_ns) // 1_000_000_000
    lat = o.latency_s[o.in_window] * 1e3
    out = []
    for k in range(math.floor(sc.warmup_s), math.floor(sc.duration_s)):
        if k < sc.warmup_s:
            continue
        x = lat[sec == k]
        if x.size:
            out.append((k, int(x.size), float(np.percentile(x, 99))))
    return out


def breaker_states(raw: RawRun) -> list[tuple[float, int]]:
    """(scenario s, state) changes of the arm's breaker: the controller's or the client's."""
    if raw.transitions:
        return raw.transitions
    a = raw.arrays
    k = int(a["states_n"][0])
    st = a["states"][:2 * k].reshape(k, 2)
    return [((int(t) - raw.t0_ns) / 1e9, int(s)) for t, s in st]


def decision_accuracy(raw: RawRun, every_s: float = 0.01) -> float:
    """As the simulator defines it: every 10 ms after the warm-up, does "the breaker blocks"
    (not CLOSED) equal "the backend is down or partitioned"? An arm with no breaker never blocks."""
    sc = raw.scenario
    states = breaker_states(raw)
    ts = np.arange(sc.warmup_s, sc.duration_s, every_s)
    if not states:
        blocks = np.zeros(ts.size, dtype=bool)
    else:
        at = np.array([s[0] for s in states])
        val = np.array([s[1] for s in states])
        k = np.searchsorted(at, ts, side="right") - 1
        blocks = np.where(k >= 0, val[np.clip(k, 0, None)] != 0, False)
    truth = np.array([sc.faults.unhealthy(t) for t in ts])
    return float(np.mean(blocks == truth)) if ts.size else math.nan


def metrics(raw: RawRun, deadline_ms: float | None, thin: int = 1, correlated: bool = False) -> dict[str, Any]:
    """The simulator's headline metrics, measured; percentiles as :class:`Percentile`."""
    o = outcomes(raw, deadline_ms)
    w = o.in_window
    kinds = o.kind[w]
    total = int(w.sum())
    counts = {name: int(np.sum(kinds == code)) for code, name in enumerate(OUTCOMES)}
    share = (lambda c: c / total) if total else (lambda c: math.nan)
    lat = o.latency_s[w]
    p99s = np.array([p for _, _, p in per_second(o, raw)])
    states = breaker_states(raw)
    span = raw.scenario.duration_s - raw.scenario.warmup_s
    out: dict[str, Any] = {
        REQUESTS: total,
        SUCCESS_RATIO: share(counts["success"] + counts["fallback"]),
        REAL_SUCCESS_RATIO: share(counts["success"]),
        **{f"{k}_ratio": share(v) for k, v in counts.items() if k != "success"},
        LATENCY_MEAN_MS: float(np.mean(lat) * 1e3) if total else math.nan,
        "percentiles": percentiles(lat, thin, correlated),
        "percentiles_uncorrected": percentiles(o.latency_uncorrected_s[w], thin, correlated),
        P99_JITTER_MS: float(np.std(p99s, ddof=1)) if p99s.size > 1 else math.nan,
        DECISION_ACCURACY: decision_accuracy(raw),
        TRANSITIONS_TO_OPEN: sum(1 for _, s in states if s == 1),
        GOODPUT_RPS: (counts["success"] + counts["fallback"]) / span,
        COUNTS: counts,
        "unresolved": int(np.sum(o.kind == UNRESOLVED)),
        "thin": thin, "sectioned": correlated,
    }
    for name, p in out["percentiles"].items():
        out[f"{name}_ms"] = p.value
    return out
