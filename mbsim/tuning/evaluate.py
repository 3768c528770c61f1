"""Evaluating one candidate: the scenario under ``mbb`` with its settings, on the study's
seeds (the same seeds for every candidate: common random numbers), averaged."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from mbsim.engine.simulate import simulate
from mbsim.params import to_dict
from mbsim.tuning.objective import Objective
from mbsim.tuning.space import repaired, settings_from
from mbsim.world.scenario import Scenario

MEAN_KEYS = ("p99_ms", "p999_ms", "p9999_ms", "latency_mean_ms", "p99_jitter_ms", "success_ratio",
             "fallback_ratio", "real_success_ratio", "slo_violation_ratio", "decision_accuracy", "goodput_rps")
QUICK_S = 6.0


def scenario_for(sc: Scenario, quick: bool) -> Scenario:
    if not quick:
        return sc
    return dataclasses.replace(sc, duration_s=min(sc.duration_s, QUICK_S), warmup_s=min(sc.warmup_s, 1.0))


def evaluate(params: Mapping[str, float], sc: Scenario, objective: Objective, seeds: list[int],
             eval_id: int = -1) -> dict[str, Any]:
    """Run ``params`` on every seed; the record tuning stores (JSON-ready): ``asked`` is the
    sampler's point, ``params`` the values that ran (an inverted min/max pair repaired)."""
    t0 = time.perf_counter()
    settings = settings_from(params)
    ran = repaired(params)
    per_seed = []
    for s in seeds:
        r = simulate(sc, policy="mbb", params=settings, seed=s)
        per_seed.append({k: r.metrics[k] for k in MEAN_KEYS})
    mean = {k: _mean([p[k] for p in per_seed]) for k in MEAN_KEYS}
    value, feasible = objective.value(mean, sc.slo.budget)
    return {"id": eval_id, "params": ran, "asked": dict(params), "value": value, "feasible": feasible, "mean": mean,
            "per_seed": per_seed, "seeds": list(seeds), "wall_s": time.perf_counter() - t0,
            "settings": to_dict(settings)}


def _mean(xs: list[Any]) -> float:
    vals = [float(x) for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(vals) / len(vals) if vals else math.nan
