"""``mbsim bench tune``: does Bayesian optimisation earn its keep?

Fixed scenario and objective: ``tail-spike`` (quick runs, one CRN seed), minimise P99
with success >= 99.9 % and at most 5 % of answers from the snapshot, over the four
settings that decide it there (the horn's deadline, the breaker's failure ratio and open
time, the ring's largest capacity). On the same seeds it runs

* a random search ``factor`` times the budget (400 evaluations by default);
* ``runs`` independent BO studies of ``budget`` evaluations each, for every BO method:
  scikit-optimize's GP (the default backend) and Optuna's TPE;
* the article's default settings, once.

The target is the best value the large random search found, plus 5 %. For a BO study,
evaluations-to-target is where its running best first reaches the target; for random
search it is the expected index of the first hit over random orderings of its
evaluations, (n + 1) / (m + 1) with m hits among n. Goal: BO within 40 evaluations and at
most a third of what random search needs; each method's median over its runs is
compared, and the number of runs that reached the target is reported.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.engine.simulate import seeds as derive_seeds
from mbsim.tuning import samplers, space
from mbsim.tuning.evaluate import evaluate, scenario_for
from mbsim.tuning.objective import Objective
from mbsim.world.catalog import get as get_scenario

BENCH_DIMS = ("fallback.deadline_ms", "breaker.failure_ratio", "breaker.open_ms", "buffer.capacity_max")
METHODS = (("skopt", None), ("optuna", "tpe"))


def _drive(backend, n: int, batch: int, sc, objective, seeds, executor, tick) -> list[float]:
    values: list[float] = []
    while len(values) < n:
        asked = backend.ask(min(batch, n - len(values)))
        calls = [(p, sc, objective, seeds, len(values) + k) for k, p in enumerate(asked)]
        for r in sorted(executor.run(evaluate, calls), key=lambda r: r["id"]):
            backend.tell(r["params"], r["value"])
            values.append(r["value"])
            tick()
    return values


def first_hit(values: list[float], target: float) -> int | None:
    best = math.inf
    for k, v in enumerate(values, 1):
        best = min(best, v)
        if best <= target:
            return k
    return None


def bench_tune(executor, scenario: str = "tail-spike", budget: int = 40, factor: int = 10, runs: int = 5,
               n_seeds: int = 1, quick: bool = True, seed: int = 1, tick: Callable[[], None] = lambda: None,
               figure: Path | None = None) -> dict[str, Any]:
    sc = scenario_for(get_scenario(scenario), quick)
    objective = Objective()
    dims = space.build(BENCH_DIMS)
    seeds = derive_seeds(seed, n_seeds)
    batch = getattr(executor, "workers", 1)
    rs = _drive(samplers.make("random", dims, seed + 1000), budget * factor, batch, sc, objective, seeds,
                executor, tick)
    default = next(executor.run(evaluate, [(space.defaults(dims), sc, objective, seeds, -1)]))["value"]
    best_rs = min(rs)
    target = best_rs + 0.05 * abs(best_rs)
    hits = sum(v <= target for v in rs)
    rs_expected = (len(rs) + 1) / (hits + 1)
    out: dict[str, Any] = {
        "scenario": scenario, "quick": quick, "seeds": seeds, "objective": objective.metric, "dims": list(BENCH_DIMS),
        "budget": budget, "runs": runs, "random_evaluations": len(rs), "best_random": best_rs,
        "default_value": default, "target": target,
        "random_evaluations_to_target_expected": rs_expected,
        "random_evaluations_to_target_in_order": first_hit(rs, target),
        "goal_bo_evaluations": 40, "goal_ratio": 3.0, "random_values": rs, "methods": {},
    }
    for name, sampler in METHODS:
        label = name if sampler is None else f"{name}-{sampler}"
        curves = [_drive(samplers.make(name, dims, seed + r, sampler), budget, batch, sc, objective, seeds,
                         executor, tick) for r in range(runs)]
        hits_at = [first_hit(c, target) for c in curves]
        reached = [h for h in hits_at if h is not None]
        # a run that never reached counts as "more than the budget" in the median
        ranked = sorted(h if h is not None else math.inf for h in hits_at)
        median = ranked[len(ranked) // 2] if len(ranked) % 2 else 0.5 * (ranked[len(ranked) // 2 - 1]
                                                                          + ranked[len(ranked) // 2])
        out["methods"][label] = {
            "evaluations_to_target": hits_at,
            "reached": len(reached),
            "median_evaluations_to_target": None if math.isinf(median) else median,
            "ratio": None if math.isinf(median) else rs_expected / median,
            "best": [min(c) for c in curves],
            "meets_goal": (not math.isinf(median)) and median <= 40 and rs_expected / median >= 3.0,
            "values": curves,
        }
    if figure is not None:
        _plot(out, figure)
    return out


def _plot(out: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    v = np.minimum.accumulate(out["random_values"])
    ax.plot(range(1, len(v) + 1), v, color="black", label="random search")
    for (label, m), color in zip(out["methods"].items(), ("tab:blue", "tab:orange", "tab:green")):
        curves = np.array([np.minimum.accumulate(c) for c in m["values"]])
        x = range(1, curves.shape[1] + 1)
        ax.plot(x, np.median(curves, axis=0), color=color, label=f"{label}: median of {len(curves)} runs")
        ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.15)
    ax.axhline(out["target"], ls="--", color="grey", label="best random + 5 %")
    ax.axhline(out["default_value"], ls=":", color="red", label="article's default settings")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"best objective so far ({out['objective']} ms + penalties)")
    ax.set_title(f"{out['scenario']}: convergence (band: min..max over runs)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
