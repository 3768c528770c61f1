"""A tuning study: ask -> evaluate (in parallel) -> save -> tell, until the budget is spent;
then confirm the best candidate against the article's defaults on fresh seeds.

Every candidate is evaluated on the same ``seeds`` (common random numbers). The reported
best is re-run, together with the article's defaults, on ``confirm`` fresh seeds; the two
are compared pairwise and both are reported with 95 % intervals.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mbsim.deploy.settings_file import SettingsFile
from mbsim.engine.simulate import seeds as derive_seeds
from mbsim.errors import ConfigError
from mbsim.metrics import intervals as stats
from mbsim.params import from_dict, to_dict
from mbsim.provenance import provenance
from mbsim.tuning import samplers
from mbsim.tuning.evaluate import evaluate, scenario_for
from mbsim.tuning.objective import Objective
from mbsim.tuning.space import Dimension, defaults, settings_from
from mbsim.tuning.storage import StudyStore
from mbsim.world.catalog import get as get_scenario

SCHEMA = "mbsim.study/1"


@dataclass
class StudyConfig:
    name: str
    scenario: str
    objective: Objective
    dims: list[Dimension]
    budget: int
    backend: str = "skopt"
    sampler: str | None = None
    seed: int = 1
    n_seeds: int = 2
    quick: bool = False
    batch: int = 2
    confirm: int = 5
    include_default: bool = True
    seeds: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError(f"--budget must be at least 1, got {self.budget}")
        if self.n_seeds < 1 or self.confirm < 2:
            raise ConfigError("need at least 1 seed per evaluation and 2 confirmation seeds")
        get_scenario(self.scenario)
        samplers.make(self.backend, self.dims, self.seed, self.sampler)  # validates the backend now
        if not self.seeds:
            self.seeds = derive_seeds(self.seed, self.n_seeds)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "scenario", "budget", "backend", "sampler", "seed", "n_seeds",
                                            "quick", "batch", "confirm", "include_default", "seeds")}
        return {"schema": SCHEMA, **d, "objective": to_dict(self.objective),
                "dims": [dataclasses.asdict(x) for x in self.dims], "provenance": provenance()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyConfig:
        try:
            return cls(name=d["name"], scenario=d["scenario"], objective=from_dict(Objective, d["objective"]),
                       dims=[Dimension(**x) for x in d["dims"]], budget=d["budget"], backend=d["backend"],
                       sampler=d.get("sampler"), seed=d["seed"], n_seeds=d["n_seeds"], quick=d["quick"],
                       batch=d["batch"], confirm=d["confirm"], include_default=d["include_default"],
                       seeds=d["seeds"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"study.json is missing or has a bad field ({exc})") from None


def _scenario(cfg: StudyConfig):
    return scenario_for(get_scenario(cfg.scenario), cfg.quick)


def run(cfg: StudyConfig, store: StudyStore, executor, resume: bool = False,
        on_result: Callable[[dict[str, Any], float], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the study to its budget; returns the summary written to settings.json."""
    if resume:
        done = store.load_evaluations()
        store.drop_unfinished_tail()
    else:
        store.create(cfg.to_dict())
        done = []
    backend = samplers.make(cfg.backend, cfg.dims, cfg.seed + len(done), cfg.sampler)
    backend.replay([(r.get("asked", r["params"]), r["value"]) for r in done])
    sc = _scenario(cfg)
    next_id = max((r["id"] for r in done), default=-1) + 1
    best = min((r["value"] for r in done), default=math.inf)
    first_batch = cfg.include_default and not any(r.get("baseline") for r in done) and len(done) < cfg.budget
    while len(done) < cfg.budget:
        n = min(cfg.batch, cfg.budget - len(done))
        asked = backend.ask(n)
        if first_batch:
            asked[0] = defaults(cfg.dims)
            first_batch = False
        calls = [(p, sc, cfg.objective, cfg.seeds, next_id + k) for k, p in enumerate(asked)]
        next_id += n
        for rec in executor.run(evaluate, calls):
            if rec["params"] == defaults(cfg.dims) and cfg.include_default:
                rec["baseline"] = True
            store.append(rec)
            done.append(rec)
            backend.tell(rec.get("asked", rec["params"]), rec["value"])
            best = min(best, rec["value"])
            if on_result:
                on_result(rec, best)
    summary = finish(cfg, store, done, executor)
    return summary


def finish(cfg: StudyConfig, store: StudyStore, done: list[dict[str, Any]], executor) -> dict[str, Any]:
    """Confirm the best against the defaults on fresh seeds; write settings.json."""
    feasible = [r for r in done if r["feasible"]] or done
    best = min(feasible, key=lambda r: r["value"])
    fresh = derive_seeds(cfg.seed + 7919, cfg.confirm)
    sc = _scenario(cfg)
    base = defaults(cfg.dims)
    calls = [(best["params"], sc, cfg.objective, [s], -1) for s in fresh] + \
            [(base, sc, cfg.objective, [s], -2) for s in fresh]
    results = list(executor.run(evaluate, calls))
    by: dict[int, dict[int, dict[str, Any]]] = {-1: {}, -2: {}}
    for r in results:
        by[r["id"]][r["seeds"][0]] = r
    metric = cfg.objective.metric

    def ci(which: int, key: str) -> stats.Interval:
        return stats.t_interval([by[which][s]["mean"][key] for s in fresh], 0.95)

    diff = stats.t_interval([by[-1][s]["mean"][metric] - by[-2][s]["mean"][metric] for s in fresh], 0.95)
    keys = (metric, "p99_ms", "p99_jitter_ms", "success_ratio", "fallback_ratio", "slo_violation_ratio")
    evaluation = {
        "fresh_seeds": fresh,
        "tuned": {k: ci(-1, k).as_dict() for k in keys},
        "default": {k: ci(-2, k).as_dict() for k in keys},
        "tuned_minus_default": {metric: diff.as_dict()},
        "tuned_value_mean": float(np.mean([by[-1][s]["value"] for s in fresh])),
        "default_value_mean": float(np.mean([by[-2][s]["value"] for s in fresh])),
        "tuned_feasible_share": float(np.mean([by[-1][s]["feasible"] for s in fresh])),
        "default_feasible_share": float(np.mean([by[-2][s]["feasible"] for s in fresh])),
        "best_evaluation_id": best["id"],
        "best_value_on_study_seeds": best["value"],
        "evaluations": len(done),
    }
    sf = SettingsFile(settings=settings_from(best["params"]),
                      slo=get_scenario(cfg.scenario).slo,
                      scenario=cfg.scenario,
                      objective=to_dict(cfg.objective),
                      evaluation=evaluation,
                      provenance=provenance(study=cfg.name, seeds=cfg.seeds, budget=cfg.budget, backend=cfg.backend,
                                            sampler=cfg.sampler, quick=cfg.quick))
    sf.write(store.settings_path)
    return {"best": best, "evaluation": evaluation, "settings_path": str(store.settings_path)}
