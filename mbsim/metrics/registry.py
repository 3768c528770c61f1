"""Every metric mbsim reports, declared once: its name, unit, label, direction and format.

A metric's name is the key it has in :attr:`mbsim.metrics.result.Result.metrics` (and in
the per-second series, the comparison, the tuning objectives, the Pareto front, the report,
verification and the command line). Code uses the constants below, never the name typed
as a string: ``r[P99_MS]``, ``metric(P99_MS).label``. ``tests/metrics/test_registry.py``
greps the package for names typed anywhere else.

Adding a metric is one :func:`declare` here, then computing it where the run is summarised
(:meth:`mbsim.metrics.recorder.Recorder.summary`): the comparison, the report and the
command line find it by its name.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mbsim.errors import ConfigError
from mbsim.tables import fmt

LOWER = "lower"  # lower is better
HIGHER = "higher"  # higher is better
NEITHER = "neither"  # a count or a setting: no direction

UNITS = ("ms", "us", "s", "share", "req/s", "count", "flag", "percentile")


@dataclass(frozen=True)
class Metric:
    """One reported quantity. ``unit``: ms, us, s, share (0..1), req/s, count, flag (yes/no) or
    percentile (0..100). ``better``: lower, higher or neither. ``digits``: significant
    decimals when formatted. ``alias``: the short name the command line accepts (``p99``).
    ``quantile``: the latency percentile it reads (0.99), for percentile metrics.
    ``logged``: modelled in the logarithm by the tuner (a latency spanning decades).
    ``derive``: for a metric computed from the others, ``derive(metrics) -> value``.

    A metric with a ``quantile`` is read from every run's latency histogram, and one with
    ``derive`` is computed from the run's other metrics, both by the recorder: declaring
    it is all it takes."""

    name: str
    unit: str
    label: str
    better: str = NEITHER
    digits: int = 3
    alias: str | None = None
    quantile: float | None = None
    logged: bool = False
    derive: Callable[[Mapping[str, Any]], Any] | None = None

    @property
    def lower_is_better(self) -> bool | None:
        """True, False, or None when the metric has no direction."""
        return None if self.better == NEITHER else self.better == LOWER

    def format(self, value: Any, unit: bool = True) -> str:
        """``value`` for a person: a share as a percentage, a latency with its unit, "-" for
        a missing value (None or NaN)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if self.unit == "share" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{fmt(100.0 * float(value), max(self.digits - 1, 1))}{' %' if unit else ''}"
        text = fmt(value, self.digits)
        if unit and self.unit in ("ms", "us", "s", "req/s"):
            return f"{text} {self.unit}"
        return text


REGISTRY: dict[str, Metric] = {}


def declare(name: str, unit: str, label: str, better: str = NEITHER, digits: int = 3, alias: str | None = None,
            quantile: float | None = None, logged: bool = False,
            derive: Callable[[Mapping[str, Any]], Any] | None = None) -> str:
    """Register a metric; returns its name (the constant code uses)."""
    if name in REGISTRY:
        raise ConfigError(f"metric {name!r} is declared twice")
    if unit not in UNITS:
        raise ConfigError(f"metric {name!r}: unknown unit {unit!r} (known: {', '.join(UNITS)})")
    if better not in (LOWER, HIGHER, NEITHER):
        raise ConfigError(f"metric {name!r}: better is lower, higher or neither, got {better!r}")
    if quantile is not None and not (0 < quantile < 1 and unit == "ms"):
        raise ConfigError(f"metric {name!r}: a latency percentile has a quantile in (0, 1) and unit ms")
    REGISTRY[name] = Metric(name, unit, label, better, digits, alias, quantile, logged, derive)
    return name


def metric(name: str) -> Metric:
    """The declared metric ``name`` (or its alias); else a one-line error naming the known ones."""
    if name in REGISTRY:
        return REGISTRY[name]
    for m in REGISTRY.values():
        if m.alias == name:
            return m
    raise ConfigError(f"unknown metric {name!r} (known: {', '.join(sorted(REGISTRY))})")


def aliases(names: tuple[str, ...]) -> dict[str, str]:
    """``{alias: name}`` of the given metrics (for a command line's choices)."""
    return {REGISTRY[n].alias or n: n for n in names}


def label(name: str) -> str:
    return metric(name).label


def latency_percentiles() -> dict[str, float]:
    """``{name: quantile}`` of every declared latency percentile, in declaration order."""
    return {m.name: m.quantile for m in REGISTRY.values() if m.quantile is not None}


def derived() -> list[Metric]:
    """The metrics computed from the others, in declaration order."""
    return [m for m in REGISTRY.values() if m.derive is not None]


def percentiles(names: tuple[str, ...]) -> dict[str, float]:
    """``{name: quantile}`` of the given latency-percentile metrics."""
    return {n: q for n in names if (q := REGISTRY[n].quantile) is not None}


# -- counts and ratios of outcomes (shares of all logical requests) -------------------------
REQUESTS = declare("requests", "count", "requests")
SUCCESS_RATIO = declare("success_ratio", "share", "answered (real or snapshot)", HIGHER, digits=4,
                        alias="success")
REAL_SUCCESS_RATIO = declare("real_success_ratio", "share", "real answers", HIGHER, digits=4)
FALLBACK_RATIO = declare("fallback_ratio", "share", "snapshot share", LOWER, digits=4, alias="fallback")
REJECTED_RATIO = declare("rejected_ratio", "share", "rejected", LOWER, digits=4)
TIMEOUT_RATIO = declare("timeout_ratio", "share", "timed out", LOWER, digits=4)
ERROR_RATIO = declare("error_ratio", "share", "errors", LOWER, digits=4)
MISS_RATIO = declare("miss_ratio", "share", "snapshot misses", LOWER, digits=4)
COUNTS = declare("counts", "count", "outcome counts")

# -- throughput -----------------------------------------------------------------------------
GOODPUT_RPS = declare("goodput_rps", "req/s", "goodput", HIGHER, digits=1)
BACKEND_GOODPUT_RPS = declare("backend_goodput_rps", "req/s", "backend goodput", HIGHER, digits=1)

# -- latency (what the caller waited for its final outcome) ---------------------------------
LATENCY_MEAN_MS = declare("latency_mean_ms", "ms", "mean latency", LOWER, alias="mean", logged=True)
P50_MS = declare("p50_ms", "ms", "P50 latency", LOWER, alias="p50", quantile=0.50, logged=True)
P90_MS = declare("p90_ms", "ms", "P90 latency", LOWER, alias="p90", quantile=0.90, logged=True)
P99_MS = declare("p99_ms", "ms", "P99 latency", LOWER, alias="p99", quantile=0.99, logged=True)
P999_MS = declare("p999_ms", "ms", "P99.9 latency", LOWER, alias="p999", quantile=0.999, logged=True)
P9999_MS = declare("p9999_ms", "ms", "P99.99 latency", LOWER, alias="p9999", quantile=0.9999, logged=True)
P99_JITTER_MS = declare("p99_jitter_ms", "ms", "P99 jitter", LOWER, alias="jitter", logged=True)

# -- the breaker's decisions ----------------------------------------------------------------
DECISION_ACCURACY = declare("decision_accuracy", "share", "decision accuracy", HIGHER, alias="accuracy")
BLOCKED_SHARE = declare("blocked_share", "share", "time blocking")
BREAKER_OPENS = declare("breaker_opens", "count", "breaker opens", LOWER)
TRANSITIONS_TO_OPEN = declare("transitions_to_open", "count", "transitions to open", LOWER)

# -- the SLO --------------------------------------------------------------------------------
SLO_TARGET_MS = declare("slo_target_ms", "ms", "SLO target")
SLO_PERCENTILE = declare("slo_percentile", "percentile", "SLO percentile")
SLO_BUDGET = declare("slo_budget", "share", "SLO violation budget")
SLO_VIOLATION_RATIO = declare("slo_violation_ratio", "share", "SLO windows violated", LOWER, alias="slo")
SLO_MET = declare("slo_met", "flag", "SLO met", HIGHER)

# -- overload (mbsim.metrics.overload) ------------------------------------------------------
GOODPUT_RATIO = declare("goodput_ratio", "share", "goodput ratio", HIGHER)
OVERLOAD_GOODPUT_RATIO = declare("overload_goodput_ratio", "share", "goodput ratio in overload", HIGHER)
FRESH_SHARE = declare("fresh_share", "share", "fresh share", HIGHER)
FALSE_OPEN_SHARE = declare("false_open_share", "share", "false-open share", LOWER)
RECOVERY_S = declare("recovery_s", "s", "recovery time", LOWER)
RECOVERED = declare("recovered", "flag", "recovered", HIGHER)

# -- cost -----------------------------------------------------------------------------------
CPU_US_PER_DECISION = declare("cpu_us_per_decision", "us", "CPU per decision", LOWER, digits=2)
