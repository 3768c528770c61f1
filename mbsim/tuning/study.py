"""A tuning study: ask -> evaluate (in parallel) -> save -> tell, until the budget is spent;
then confirm the best candidate against the starting parameters on fresh seeds.

Every candidate is evaluated on the same ``seeds`` (common random numbers). The reported
best is re-run, together with the starting parameters (mbb: the article's defaults; a
peer: its hand-tuned variant), on ``confirm`` fresh seeds; the two are compared pairwise
and both are reported with 95 % intervals. A candidate the sampler proposes again is not
run again: the study tells it the stored result and asks anew (``duplicates_skipped``).

With ``pareto`` (two metrics, e.g. P99 and the snapshot share) the study searches the
trade-off front instead (:mod:`mbsim.tuning.pareto`).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mbsim.dimension import Dimension
from mbsim.engine.simulate import seeds as derive_seeds
from mbsim.errors import ConfigError
from mbsim.formats.settings_file import SettingsFile
from mbsim.metrics import intervals as stats
from mbsim.metrics.registry import FALLBACK_RATIO, P99_JITTER_MS, P99_MS, SLO_VIOLATION_RATIO, SUCCESS_RATIO
from mbsim.params import from_dict, to_dict
from mbsim.provenance import provenance
from mbsim.tuning import samplers
from mbsim.tuning.evaluate import evaluate, observation, scenario_for
from mbsim.tuning.objective import Objective
from mbsim.tuning.space import defaults, settings_from
from mbsim.tuning.storage import StudyStore
from mbsim.world.catalog import get as get_scenario
from mbsim.world.scenario import Scenario

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
    policy: str = "mbb"
    scenario_spec: dict[str, Any] | None = None  # the whole scenario (from a file or --set); else the built-in
    pareto: list[str] | None = None  # two metrics: search the front

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError(f"--budget must be at least 1, got {self.budget}")
        if self.n_seeds < 1 or self.confirm < 2:
            raise ConfigError("need at least 1 seed per evaluation and 2 confirmation seeds")
        if self.scenario_spec is None:
            get_scenario(self.scenario)
        if self.pareto:
            from mbsim.tuning import pareto

            pareto.check(self.pareto, self.backend)
        else:
            samplers.make(self.backend, self.dims, self.seed, self.sampler)  # validates the backend now
        if not self.seeds:
            self.seeds = derive_seeds(self.seed, self.n_seeds)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "scenario", "budget", "backend", "sampler", "seed", "n_seeds",
                                            "quick", "batch", "confirm", "include_default", "seeds", "policy",
                                            "scenario_spec", "pareto")}
        return {"schema": SCHEMA, **d, "objective": to_dict(self.objective),
                "dims": [dataclasses.asdict(x) for x in self.dims], "provenance": provenance()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyConfig:
        try:
            return cls(name=d["name"], scenario=d["scenario"], objective=from_dict(Objective, d["objective"]),
                       dims=[Dimension(**x) for x in d["dims"]], budget=d["budget"], backend=d["backend"],
                       sampler=d.get("sampler"), seed=d["seed"], n_seeds=d["n_seeds"], quick=d["quick"],
                       batch=d["batch"], confirm=d["confirm"], include_default=d["include_default"],
                       seeds=d["seeds"], policy=d.get("policy", "mbb"), scenario_spec=d.get("scenario_spec"),
                       pareto=d.get("pareto"))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"study.json is missing or has a bad field ({exc})") from None


def scenario_ref(source: str, sc: Scenario, changed: bool = False) -> tuple[str, dict[str, Any] | None]:
    """How a study names and stores its scenario (``StudyConfig.scenario`` and
    ``scenario_spec``): a built-in one by its name alone; one from a .json file, or one
    changed (``--set``, a run configuration's SLO), by its whole spec, under the file's or
    the scenario's name (with ``-set`` when changed)."""
    if not (source.endswith(".json") or changed):
        return source, None
    return source.rsplit("/", 1)[-1].removesuffix(".json") + ("-set" if changed else ""), to_dict(sc)


def _scenario(cfg: StudyConfig) -> Scenario:
    sc = from_dict(Scenario, cfg.scenario_spec) if cfg.scenario_spec is not None else get_scenario(cfg.scenario)
    return scenario_for(sc, cfg.quick)


def make_sampler(cfg: StudyConfig, seed: int) -> samplers.Sampler:
    if cfg.pareto:
        from mbsim.tuning import pareto

        return pareto.ParetoSampler(cfg.dims, seed, cfg.pareto, cfg.sampler)
    sc = _scenario(cfg)
    target = sc.slo.target_ms if sc.slo.percentile == 99.0 else None
    return samplers.make(cfg.backend, cfg.dims, seed, cfg.sampler, slo_target_ms=target)


def run(cfg: StudyConfig, store: StudyStore, executor: Any, resume: bool = False,
        on_result: Callable[[dict[str, Any], float], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the study to its budget; returns the summary written to settings.json."""
    if resume:
        done = store.load_evaluations()
        store.drop_unfinished_tail()
    else:
        store.create(cfg.to_dict())
        done = []
    sc = _scenario(cfg)
    backend = make_sampler(cfg, cfg.seed + len(done))

    def obs(rec: dict[str, Any]) -> samplers.Observation:
        return observation(rec, cfg.objective, sc.slo.budget)

    backend.replay([(r.get("asked", r["params"]), obs(r)) for r in done])
    by_key = {backend.key(r.get("asked", r["params"])): r for r in done}
    next_id = max((r["id"] for r in done), default=-1) + 1
    best = min((r["value"] for r in done), default=math.inf)
    start = defaults(cfg.dims, cfg.policy)
    first_batch = cfg.include_default and not any(r.get("baseline") for r in done)
    skipped = 0
    while len(done) < cfg.budget:
        n = min(cfg.batch, cfg.budget - len(done))
        asked = [start] if first_batch else []
        first_batch = False
        for p in backend.ask(n - len(asked)) if n > len(asked) else []:
            tries = 0
            while backend.key(p) in by_key and tries < 20:  # a repeat: tell it what it gave, ask again
                skipped += 1
                tries += 1
                backend.tell(p, obs(by_key[backend.key(p)]))
                p = backend.ask(1)[0]
            asked.append(p)
        calls = [(p, sc, cfg.objective, cfg.seeds, next_id + k, cfg.policy) for k, p in enumerate(asked)]
        next_id += n
        for rec in executor.run(evaluate, calls):
            if rec["asked"] == start and cfg.include_default:
                rec["baseline"] = True
            store.append(rec)
            done.append(rec)
            by_key[backend.key(rec["asked"])] = rec
            backend.tell(rec["asked"], obs(rec))
            best = min(best, rec["value"])
            if on_result:
                on_result(rec, best)
    summary = finish(cfg, store, done, executor)
    summary["duplicates_skipped"] = skipped
    return summary


def finish(cfg: StudyConfig, store: StudyStore, done: list[dict[str, Any]], executor: Any) -> dict[str, Any]:
    """Confirm the best against the defaults on fresh seeds; write settings.json."""
    feasible = [r for r in done if r["feasible"]] or done
    best = min(feasible, key=lambda r: r["value"])
    fresh = derive_seeds(cfg.seed + 7919, cfg.confirm)
    sc = _scenario(cfg)
    base = defaults(cfg.dims, cfg.policy)
    calls = [(best["params"], sc, cfg.objective, [s], -1, cfg.policy) for s in fresh] + \
            [(base, sc, cfg.objective, [s], -2, cfg.policy) for s in fresh]
    results = list(executor.run(evaluate, calls))
    by: dict[int, dict[int, dict[str, Any]]] = {-1: {}, -2: {}}
    for r in results:
        by[r["id"]][r["seeds"][0]] = r
    metric = cfg.objective.metric

    def ci(which: int, key: str) -> stats.Interval:
        return stats.t_interval([by[which][s]["mean"][key] for s in fresh], 0.95)

    diff = stats.t_interval([by[-1][s]["mean"][metric] - by[-2][s]["mean"][metric] for s in fresh], 0.95)
    keys = (metric, P99_MS, P99_JITTER_MS, SUCCESS_RATIO, FALLBACK_RATIO, SLO_VIOLATION_RATIO)
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
    path = write_result(cfg, store, best["params"], evaluation)
    out = {"best": best, "evaluation": evaluation, "settings_path": str(path)}
    if cfg.pareto:
        from mbsim.tuning import pareto

        out["front"] = pareto.write_front(cfg, store, done)
    return out


def write_result(cfg: StudyConfig, store: StudyStore, params: dict[str, float], evaluation: dict[str, Any] | None,
                 path: Any=None) -> Any:
    """``settings.json`` (mbb: schema mbsim.settings/1, what ``mbsim export`` reads) or, for
    a peer, ``params.json`` (schema mbsim.policy/1: the policy's parameters)."""
    prov = provenance(study=cfg.name, seeds=cfg.seeds, budget=cfg.budget, backend=cfg.backend, sampler=cfg.sampler,
                      quick=cfg.quick, policy=cfg.policy)
    sc = _scenario(cfg)
    settings = settings_from(params, cfg.policy)
    if cfg.policy == "mbb":
        sf = SettingsFile(settings=settings, slo=sc.slo, scenario=cfg.scenario, objective=to_dict(cfg.objective),
                          evaluation=evaluation, provenance=prov)
        return sf.write(path or store.settings_path)
    import json

    path = path or store.dir / "params.json"
    doc = {"schema": "mbsim.policy/1", "policy": cfg.policy, "params": to_dict(settings), "slo": to_dict(sc.slo),
           "scenario": cfg.scenario, "objective": to_dict(cfg.objective), "evaluation": evaluation,
           "provenance": prov}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def trial_settings(store: StudyStore, trial: int) -> Any:
    """Write the settings of evaluation ``trial`` of a finished or running study (for
    ``mbsim export STUDY --trial N``) and return the file's path."""
    cfg = StudyConfig.from_dict(store.load_config())
    for rec in store.load_evaluations():
        if rec["id"] == trial:
            return write_result(cfg, store, rec["params"], {"trial": trial, "mean": rec["mean"]},
                                store.dir / f"trial-{trial}.settings.json")
    raise ConfigError(f"study {store.name} has no evaluation {trial}")
