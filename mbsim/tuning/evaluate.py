"""Evaluating one candidate: the scenario under the study's policy (``mbb`` unless a peer is
tuned) with the candidate's parameters, on the study's seeds (the same seeds for every
candidate: common random numbers), averaged: the samplers fit the mean, not one run's noise."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mbsim.engine.simulate import simulate
from mbsim.metrics.registry import (
    DECISION_ACCURACY,
    FALLBACK_RATIO,
    GOODPUT_RPS,
    LATENCY_MEAN_MS,
    P99_JITTER_MS,
    P99_MS,
    P999_MS,
    P9999_MS,
    REAL_SUCCESS_RATIO,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
)
from mbsim.params import to_dict
from mbsim.tuning.objective import Objective
from mbsim.tuning.space import repaired, settings_from
from mbsim.world.scenario import Scenario

if TYPE_CHECKING:  # samplers imports this module
    from mbsim.tuning.samplers import Observation

MEAN_KEYS = (P99_MS, P999_MS, P9999_MS, LATENCY_MEAN_MS, P99_JITTER_MS, SUCCESS_RATIO,
             FALLBACK_RATIO, REAL_SUCCESS_RATIO, SLO_VIOLATION_RATIO, DECISION_ACCURACY, GOODPUT_RPS)
QUICK_S = 6.0


def scenario_for(sc: Scenario, quick: bool) -> Scenario:
    if not quick:
        return sc
    return dataclasses.replace(sc, duration_s=min(sc.duration_s, QUICK_S), warmup_s=min(sc.warmup_s, 1.0))


def evaluate(params: Mapping[str, float], sc: Scenario, objective: Objective, seeds: list[int],
             eval_id: int = -1, policy: str = "mbb") -> dict[str, Any]:
    """Run ``params`` on every seed; the record tuning stores (JSON-ready): ``asked`` is the
    sampler's point, ``params`` the values that ran (an inverted min/max pair repaired),
    ``value`` the penalised value, ``metric`` the metric alone and ``slacks`` each
    constraint's margin (>= 0: met)."""
    t0 = time.perf_counter()
    settings = settings_from(params, policy)
    ran = repaired(params, policy)
    per_seed = []
    for s in seeds:
        r = simulate(sc, policy=policy, params=settings, seed=s)
        per_seed.append({k: r.metrics[k] for k in MEAN_KEYS})
    mean = {k: _mean([p[k] for p in per_seed]) for k in MEAN_KEYS}
    value, feasible = objective.value(mean, sc.slo.budget)
    return {"id": eval_id, "params": ran, "asked": dict(params), "value": value, "feasible": feasible,
            "metric": mean[objective.metric], "slacks": objective.slacks(mean, sc.slo.budget), "mean": mean,
            "per_seed": per_seed, "seeds": list(seeds), "wall_s": time.perf_counter() - t0,
            "policy": policy, "settings": to_dict(settings)}


def observation(rec: Mapping[str, Any], objective: Objective, slo_budget: float) -> Observation:
    """What a stored evaluation tells a sampler (records written before the constrained
    samplers have no ``slacks``: they are recomputed from the means)."""
    from mbsim.tuning.samplers import Observation

    mean = rec["mean"]
    slacks = rec.get("slacks") or objective.slacks(mean, slo_budget)
    metric = rec.get("metric", mean.get(objective.metric, math.nan))
    return Observation(value=rec["value"], metric=metric, slacks=dict(slacks), p99_ms=mean.get(P99_MS, math.nan),
                       means=dict(mean))


def _mean(xs: list[Any]) -> float:
    vals = [float(x) for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(vals) / len(vals) if vals else math.nan
