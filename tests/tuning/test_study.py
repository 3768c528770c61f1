"""The study loop (:mod:`mbsim.tuning.study`) without simulating: a scripted sampler and an
executor that answers from a formula. What is asked, in which batches, with which ids;
what is stored and told back; how a resume replays, skips repeats and numbers on; and
what the confirmation compares and writes."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from mbsim.engine.simulate import seeds as derive_seeds
from mbsim.errors import ConfigError
from mbsim.formats.settings_file import load as load_settings
from mbsim.metrics.intervals import t_interval
from mbsim.params import to_dict
from mbsim.tuning import samplers, space, study
from mbsim.tuning.evaluate import observation
from mbsim.tuning.objective import Objective
from mbsim.tuning.samplers import Sampler
from mbsim.tuning.storage import StudyStore
from mbsim.tuning.study import StudyConfig
from mbsim.world.catalog import get as get_scenario

DIMS = ["fallback.deadline_ms", "buffer.capacity_max"]
START = {"fallback.deadline_ms": 5.0, "buffer.capacity_max": 256}  # the article's
OBJ = Objective(metric="latency_mean_ms")  # not P99: the confirmation reports both apart


def point(x: float, c: int = 64) -> dict[str, float]:
    return {"fallback.deadline_ms": x, "buffer.capacity_max": c}


def means(x: float, c: float, s: int) -> dict[str, float]:
    """What the fake service measures for deadline ``x`` ms and capacity ``c`` on seed ``s``
    (binary-exact, every metric a different function)."""
    r = s % 4
    return {"latency_mean_ms": x + c / 64 + r, "p99_ms": 2 * x + r, "p99_jitter_ms": x / 2 + r / 2,
            "success_ratio": 1 - r / 64, "fallback_ratio": r / 32, "slo_violation_ratio": r / 128}


def feasible(x: float, c: float, seeds: list[int]) -> bool:
    return x >= 2 and c < 256 and sum(seeds) % 3 != 2


def record(params, seeds, eval_id, policy="mbb"):
    """The record of a run (a peer's parameters count as deadline 3 ms, capacity 64)."""
    x, c = params.get("fallback.deadline_ms", 3.0), params.get("buffer.capacity_max", 64)
    per = [means(x, c, s) for s in seeds]
    mean = {k: sum(p[k] for p in per) / len(per) for k in per[0]}
    ok = feasible(x, c, seeds)
    return {"id": eval_id, "params": dict(params), "asked": dict(params), "metric": mean["latency_mean_ms"],
            "value": mean["latency_mean_ms"] + (0 if ok else 100), "feasible": ok, "mean": mean,
            "slacks": {"success": 1.0, "fallback": 1.0, "slo": 0.0 if ok else -1.0}, "seeds": list(seeds),
            "policy": policy}


class Executor:
    """Answers each call from :func:`record`, the last call of a batch first."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[Any, ...]]] = []
        self.fns: list[object] = []

    def run(self, fn, calls):
        self.fns.append(fn)
        self.batches.append(list(calls))
        for params, _sc, _obj, seeds, eval_id, policy in reversed(calls):
            yield record(params, seeds, eval_id, policy)


class Script(Sampler):
    """Proposes ``points`` in order; records every ask, tell and replay."""

    name = "script"

    def __init__(self, dims, points) -> None:
        super().__init__(dims, 0)
        self.points = list(points)
        self.asks: list[int] = []
        self.told: list[tuple[dict[str, Any], samplers.Observation]] = []
        self.replayed: list[Any] | None = None

    def _ask(self, n):
        self.asks.append(n)
        return [self.points.pop(0) for _ in range(n)]

    def _tell(self, params, obs):
        self.told.append((params, obs))

    def replay(self, done):
        self.replayed = list(done)


def config(name="s", **kw) -> StudyConfig:
    args = {"name": name, "scenario": "db-down", "objective": OBJ, "dims": space.build(DIMS), "budget": 5,
            "batch": 2, "confirm": 3, "n_seeds": 2}
    return StudyConfig(**{**args, **kw})


@pytest.fixture
def scripted(monkeypatch):
    """Install a Script as the study's sampler; returns (script, [(config, seed) it was made with])."""
    made: list[tuple[StudyConfig, int]] = []
    box: dict[str, Script] = {}

    def use(points, dims=None) -> tuple[Script, list[tuple[StudyConfig, int]]]:
        box["s"] = Script(dims or space.build(DIMS), points)
        return box["s"], made

    monkeypatch.setattr(study, "make_sampler", lambda cfg, seed: made.append((cfg, seed)) or box["s"])
    return use


def obs_of(rec, cfg):
    return observation(rec, cfg.objective, get_scenario(cfg.scenario).slo.budget)


# ---- the configuration ---------------------------------------------------------------------

def test_config_defaults_and_derived_seeds():
    cfg = StudyConfig(name="n", scenario="db-down", objective=OBJ, dims=space.build(DIMS), budget=1)
    assert (cfg.backend, cfg.sampler, cfg.seed, cfg.n_seeds, cfg.quick, cfg.batch, cfg.confirm) == \
        ("skopt", None, 1, 2, False, 2, 5)
    assert (cfg.include_default, cfg.policy, cfg.scenario_spec, cfg.pareto) == (True, "mbb", None, None)
    assert cfg.seeds == derive_seeds(1, 2) == [1835504127, 1731038949]
    assert config(seed=7920, n_seeds=3).seeds == [1883447667, 676373110, 2075426537]
    assert config(seeds=[4, 5]).seeds == [4, 5]  # given seeds are kept


@pytest.mark.parametrize("kw, message", [
    ({"budget": 0}, "--budget must be at least 1, got 0"),
    ({"n_seeds": 0}, "need at least 1 seed per evaluation and 2 confirmation seeds"),
    ({"confirm": 1}, "need at least 1 seed per evaluation and 2 confirmation seeds"),
    ({"scenario": "nope"}, "unknown scenario 'nope' (known: "),
    ({"backend": "grid"}, "unknown backend 'grid' (known: skopt, skopt-penalty, optuna, sobol, random)"),
    ({"backend": "optuna", "sampler": "cma"}, "unknown optuna sampler 'cma' (known: tpe, gp)"),
    ({"pareto": ["p99", "fallback"]}, "--pareto runs on Optuna's multi-objective sampler (--backend optuna), "
                                      "not 'skopt'"),
    ({"pareto": ["p99", "nope"], "backend": "optuna"}, "--pareto: unknown metric 'nope'"),
])
def test_config_refuses(kw, message):
    with pytest.raises(ConfigError) as e:
        config(**kw)
    assert str(e.value).startswith(message)


def test_config_edges_and_what_each_path_validates():
    assert config(budget=1, n_seeds=1, confirm=2).seeds == derive_seeds(1, 1)
    # a scenario given whole is not looked up by name
    spec = to_dict(get_scenario("db-down")) | {"name": "mine"}
    assert config(scenario="mine", scenario_spec=spec).scenario == "mine"
    # the front's sampler is checked by the front, not by the single-metric backends
    # (NSGA-II is no sampler of the single-metric Optuna backend)
    assert config(pareto=["p99", "fallback"], backend="optuna", sampler="nsga2").pareto == ["p99", "fallback"]


def test_config_round_trip_and_its_errors():
    cfg = config(quick=True, backend="random", sampler=None, policy="mbb", seed=3)
    d = cfg.to_dict()
    assert d["schema"] == "mbsim.study/1"
    assert set(d) == {"schema", "name", "scenario", "budget", "backend", "sampler", "seed", "n_seeds", "quick",
                      "batch", "confirm", "include_default", "seeds", "policy", "scenario_spec", "pareto",
                      "objective", "dims", "provenance"}
    assert d["objective"] == to_dict(OBJ) and d["seeds"] == derive_seeds(3, 2)
    assert d["dims"][1] == {"name": "buffer.capacity_max", "low": 16, "high": 1024, "integer": True, "log": True}
    assert {"git", "kernel", "packages"} <= set(d["provenance"])  # (a copy of the tree has no git)
    back = StudyConfig.from_dict(json.loads(json.dumps(d)))
    assert back == cfg
    old = {k: v for k, v in d.items() if k not in ("sampler", "policy", "scenario_spec", "pareto")}
    assert StudyConfig.from_dict(old) == cfg  # written before those existed
    spec = to_dict(get_scenario("noisy"))
    full = config(backend="optuna", sampler="tpe", policy="hystrix", dims=space.build(policy="hystrix"),
                  scenario="x", scenario_spec=spec, include_default=False, batch=3, confirm=4)
    assert StudyConfig.from_dict(json.loads(json.dumps(full.to_dict()))) == full
    front = config(pareto=["p99", "fallback"], backend="optuna")
    assert StudyConfig.from_dict(json.loads(json.dumps(front.to_dict()))).pareto == ["p99", "fallback"]
    for key in ("name", "scenario", "objective", "dims", "budget", "backend", "seed", "n_seeds", "quick",
                "batch", "confirm", "include_default", "seeds"):
        with pytest.raises(ConfigError) as e:
            StudyConfig.from_dict({k: v for k, v in d.items() if k != key})
        assert str(e.value) == f"study.json is missing or has a bad field ({key!r})"
    with pytest.raises(ConfigError, match=r"^study.json is missing or has a bad field \(.*unexpected keyword"):
        StudyConfig.from_dict(d | {"dims": [{"nme": "x", "low": 1, "high": 2}]})


def test_scenario_is_the_named_one_or_the_spec_and_quick_shortens_it():
    assert study._scenario(config()) == get_scenario("db-down")
    spec = to_dict(dataclasses.replace(get_scenario("noisy"), duration_s=20.0, warmup_s=3.0))
    sc = study._scenario(config(scenario="db-down", scenario_spec=spec))
    assert (sc.name, sc.duration_s, sc.warmup_s) == ("noisy", 20.0, 3.0)
    sc = study._scenario(config(scenario="db-down", scenario_spec=spec, quick=True))
    assert (sc.name, sc.duration_s, sc.warmup_s) == ("noisy", 6.0, 1.0)


def test_make_sampler_passes_the_p99_target_only_for_a_p99_slo(monkeypatch):
    got = []
    monkeypatch.setattr(samplers, "make", lambda *a, **kw: got.append((a, kw)) or "made")
    cfg = config(backend="sobol", sampler="x")  # make is checked before the patch
    assert study.make_sampler(cfg, 11) == "made"
    assert got[-1] == (("sobol", cfg.dims, 11, "x"), {"slo_target_ms": get_scenario("db-down").slo.target_ms})
    spec = to_dict(get_scenario("db-down"))
    spec["slo"] = {"target_ms": 7.0, "percentile": 99.0, "budget": 0.01}
    study.make_sampler(config(scenario_spec=spec), 2)
    assert got[-1][1] == {"slo_target_ms": 7.0}
    spec["slo"]["percentile"] = 99.9
    study.make_sampler(config(scenario_spec=spec), 2)
    assert got[-1][1] == {"slo_target_ms": None}


def test_make_sampler_of_a_front():
    from mbsim.tuning.pareto import ParetoSampler

    s = study.make_sampler(config(pareto=["p99", "fallback"], backend="optuna"), 9)
    assert isinstance(s, ParetoSampler) and s.seed == 9 and s.keys == ["p99_ms", "fallback_ratio"]
    assert s.dims == config().dims and type(s.study.sampler).__name__ == "TPESampler"
    s = study.make_sampler(config(pareto=["p99", "fallback"], backend="optuna", sampler="nsga2"), 9)
    assert type(s.study.sampler).__name__ == "NSGAIISampler"  # type: ignore[attr-defined]  # the concrete object's own attribute


# ---- a fresh study ---------------------------------------------------------------------------

def test_fresh_study_asks_the_baseline_first_then_whole_batches(tmp_path, scripted):
    cfg = config()
    ps = [point(3.0), point(1.0), point(4.0, 512), point(2.5)]
    script, made = scripted(ps)
    ex, store, seen = Executor(), StudyStore("s", tmp_path), []
    out = study.run(cfg, store, ex, on_result=lambda rec, best: seen.append((rec["id"], best)))
    assert made == [(cfg, cfg.seed)] and script.replayed == []
    assert script.asks == [1, 2, 1]  # the baseline and one; two; the last one
    sc = study._scenario(cfg)
    assert ex.batches[:3] == [[(START, sc, OBJ, cfg.seeds, 0, "mbb"), (ps[0], sc, OBJ, cfg.seeds, 1, "mbb")],
                              [(ps[1], sc, OBJ, cfg.seeds, 2, "mbb"), (ps[2], sc, OBJ, cfg.seeds, 3, "mbb")],
                              [(ps[3], sc, OBJ, cfg.seeds, 4, "mbb")]]
    assert all(fn is study.evaluate for fn in ex.fns) and len(ex.fns) == 4  # type: ignore[attr-defined]  # and the confirmation
    recs = store.load_evaluations()
    assert [r["id"] for r in recs] == [1, 0, 3, 2, 4]  # stored as they finish
    assert [r["id"] for r in recs if r.get("baseline")] == [0]
    assert [p for p, _ in script.told] == [r["asked"] for r in recs]
    assert [o for _, o in script.told] == [obs_of(r, cfg) for r in recs]
    values = [r["value"] for r in recs]
    assert seen == [(r["id"], min(values[:k + 1])) for k, r in enumerate(recs)]
    written = json.loads(store.config_path.read_text())
    assert {k: v for k, v in written.items() if k != "provenance"} == \
        {k: v for k, v in json.loads(json.dumps(cfg.to_dict())).items() if k != "provenance"}
    assert out["duplicates_skipped"] == 0 and out["best"] == min((r for r in recs if r["feasible"]),
                                                               key=lambda r: r["value"])


def test_without_the_baseline_every_slot_is_the_samplers(tmp_path, scripted):
    cfg = config(include_default=False, budget=3)
    script, _ = scripted([START, point(3.0), point(4.0)])  # it may propose the start itself
    ex, store = Executor(), StudyStore("s", tmp_path)
    study.run(cfg, store, ex)
    assert script.asks == [2, 1]
    recs = store.load_evaluations()
    assert [r["id"] for r in recs] == [1, 0, 2] and not any("baseline" in r for r in recs)


def test_batches_of_one_never_ask_for_nothing(tmp_path, scripted):
    cfg = config(batch=1, budget=3)
    script, _ = scripted([point(3.0), point(4.0)])
    ex = Executor()
    study.run(cfg, StudyStore("s", tmp_path), ex)
    assert script.asks == [1, 1]
    assert [[c[4] for c in b] for b in ex.batches[:3]] == [[0], [1], [2]]
    assert ex.batches[0][0][0] == START


def test_a_repeat_is_told_its_stored_result_and_asked_again(tmp_path, scripted):
    cfg = config(budget=4)
    a, b = point(3.0), point(2.5)
    # batch 1: the start, a; batch 2: a again (told, skipped), the start again (told, skipped), then b
    script, _ = scripted([a, dict(a), dict(START), b, point(4.0)])
    ex, store = Executor(), StudyStore("s", tmp_path)
    out = study.run(cfg, store, ex)
    assert out["duplicates_skipped"] == 2
    assert script.asks == [1, 2, 1, 1]
    assert [c[0] for c in ex.batches[1]] == [b, point(4.0)] and [c[4] for c in ex.batches[1]] == [2, 3]
    first = {json.dumps(r["asked"], sort_keys=True): r for r in store.load_evaluations()[:2]}
    told = script.told[2:4]  # after batch 1's two
    assert told == [(a, obs_of(first[json.dumps(a, sort_keys=True)], cfg)),
                    (START, obs_of(first[json.dumps(START, sort_keys=True)], cfg))]


def test_a_sampler_stuck_on_one_point_is_run_again_after_20_tries(tmp_path, scripted):
    cfg = config(budget=2, batch=1, include_default=False)
    a = point(3.0)
    script, _ = scripted([dict(a) for _ in range(22)])
    ex, store = Executor(), StudyStore("s", tmp_path)
    out = study.run(cfg, store, ex)
    assert out["duplicates_skipped"] == 20 and script.points == []
    assert [r["asked"] for r in store.load_evaluations()] == [a, a]


def test_an_existing_study_is_not_started_again(tmp_path, scripted):
    scripted([])
    store = StudyStore("s", tmp_path)
    store.create({"schema": "mbsim.study/1"})
    with pytest.raises(ConfigError, match=r"^study 's' already exists"):
        study.run(config(), store, Executor())


# ---- resume ----------------------------------------------------------------------------------

def stored(tmp_path, cfg, recs, tail=b""):
    store = StudyStore(cfg.name, tmp_path)
    store.create(cfg.to_dict())
    for r in recs:
        store.append(r)
    with open(store.evals_path, "ab") as f:
        f.write(tail)
    return StudyStore(cfg.name, tmp_path)


def test_resume_replays_numbers_on_and_drops_the_cut_line(tmp_path, scripted):
    cfg = config(budget=5)
    r0 = record(START, cfg.seeds, 0) | {"baseline": True}
    r2 = record(point(3.0), cfg.seeds, 2)
    r2["asked"] = point(3.0, 2000)  # asked beyond the range, ran clipped
    r5 = record(point(2.0), cfg.seeds, 5)
    del r5["asked"], r5["slacks"]  # written before "asked" and "slacks" existed: slacks from the means
    store = stored(tmp_path, cfg, [r0, r2, r5], tail=b'{"id": 6, "par')
    before = store.evals_path.read_bytes()
    script, made = scripted([point(4.0), point(2.25)])
    ex, seen = Executor(), []
    study.run(cfg, store, ex, resume=True, on_result=lambda rec, best: seen.append((rec["id"], best)))
    assert made == [(cfg, cfg.seed + 3)]
    assert script.replayed == [(START, obs_of(r0, cfg)), (point(3.0, 2000), obs_of(r2, cfg)),
                               (point(2.0), obs_of(r5, cfg))]
    assert script.replayed[2][1].slacks == OBJ.slacks(r5["mean"], get_scenario("db-down").slo.budget)
    assert script.asks == [2]  # the baseline ran before the kill
    assert [c[4] for c in ex.batches[0]] == [6, 7]
    after = store.evals_path.read_bytes()
    assert after.startswith(before[:before.rindex(b"\n") + 1]) and b'"par\n' not in after
    recs = store.load_evaluations()
    assert [r["id"] for r in recs] == [0, 2, 5, 7, 6]
    best_before = min(r["value"] for r in (r0, r2, r5))
    assert best_before < min(r["value"] for r in recs[3:])
    assert seen == [(7, best_before), (6, best_before)]


def test_resume_skips_what_ran_before_the_kill(tmp_path, scripted):
    cfg = config(budget=3, include_default=False)
    a, ran = point(3.0, 1024), point(3.0, 64)  # asked one point, ran another (as a repair does)
    ra = record(ran, cfg.seeds, 0) | {"asked": a}
    store = stored(tmp_path, cfg, [ra])
    script, _ = scripted([dict(a), point(4.0), point(2.5)])  # the point asked is the repeat
    out = study.run(cfg, store, Executor(), resume=True)
    assert out["duplicates_skipped"] == 1 and script.told[0] == (a, obs_of(ra, cfg))
    assert [r["asked"] for r in store.load_evaluations()] == [a, point(4.0), point(2.5)]


def test_resume_without_a_baseline_asks_it_first(tmp_path, scripted):
    cfg = config(budget=3)
    store = stored(tmp_path, cfg, [record(point(3.0), cfg.seeds, 0)])
    script, _ = scripted([point(4.0)])
    ex = Executor()
    study.run(cfg, store, ex, resume=True)
    assert [c[0] for c in ex.batches[0]] == [START, point(4.0)] and script.asks == [1]
    assert [r.get("baseline", False) for r in store.load_evaluations()] == [False, False, True]


def test_resume_of_a_spent_budget_only_confirms(tmp_path, scripted):
    cfg = config(budget=2)
    store = stored(tmp_path, cfg, [record(point(3.0), cfg.seeds, 0), record(point(2.0), cfg.seeds, 1)])
    script, _ = scripted([])
    ex = Executor()
    out = study.run(cfg, store, ex, resume=True)
    assert script.asks == [] and len(ex.batches) == 1 and out["evaluation"]["evaluations"] == 2


# ---- the confirmation ------------------------------------------------------------------------

def test_confirmation_compares_the_best_feasible_with_the_start_on_fresh_seeds(tmp_path):
    cfg = config(confirm=3, seed=1)
    store = stored(tmp_path, cfg, [])
    done = [record(point(1.0), cfg.seeds, 0),  # the lowest value, but infeasible (x < 2)
            record(point(3.0), cfg.seeds, 1), record(point(2.0), cfg.seeds, 2), record(START, cfg.seeds, 3)]
    done[0]["value"] = 0.5  # as low as no feasible one (a penalty can be that small)
    assert not done[0]["feasible"] and done[2]["feasible"] and min(r["value"] for r in done[1:]) > 0.5
    ex = Executor()
    out = study.finish(cfg, store, done, ex)
    fresh = derive_seeds(cfg.seed + 7919, 3)
    assert fresh == [1883447667, 676373110, 2075426537]
    sc = study._scenario(cfg)
    assert ex.batches == [[(point(2.0), sc, OBJ, [s], -1, "mbb") for s in fresh] +
                          [(START, sc, OBJ, [s], -2, "mbb") for s in fresh]]
    ev = out["evaluation"]
    assert out["best"] is done[2] and ev["best_evaluation_id"] == 2 and ev["evaluations"] == 4
    assert ev["best_value_on_study_seeds"] == done[2]["value"] and ev["fresh_seeds"] == fresh
    keys = ("latency_mean_ms", "p99_ms", "p99_jitter_ms", "success_ratio", "fallback_ratio", "slo_violation_ratio")
    tuned = [means(2.0, 64, s) for s in fresh]
    base = [means(5.0, 256, s) for s in fresh]
    assert set(ev) == {"fresh_seeds", "tuned", "default", "tuned_minus_default", "tuned_value_mean",
                       "default_value_mean", "tuned_feasible_share", "default_feasible_share",
                       "best_evaluation_id", "best_value_on_study_seeds", "evaluations"}
    for k in keys:
        assert ev["tuned"][k] == t_interval([m[k] for m in tuned]).as_dict()
        assert ev["default"][k] == t_interval([m[k] for m in base]).as_dict()
    assert set(ev["tuned"]) == set(keys)
    d = [t["latency_mean_ms"] - b["latency_mean_ms"] for t, b in zip(tuned, base)]
    assert d == [2.0 - 5.0 + (64 - 256) / 64] * 3  # the seed's share cancels in each pair
    assert ev["tuned_minus_default"] == {"latency_mean_ms": t_interval(d).as_dict()}
    ok = [feasible(2.0, 64, [s]) for s in fresh]
    assert ok == [True, True, False] and not any(feasible(5.0, 256, [s]) for s in fresh)
    assert ev["tuned_feasible_share"] == 2 / 3 and ev["default_feasible_share"] == 0.0
    assert ev["tuned_value_mean"] == pytest.approx(sum(t["latency_mean_ms"] + (0 if o else 100)
                                                       for t, o in zip(tuned, ok)) / 3)
    assert ev["default_value_mean"] == pytest.approx(sum(b["latency_mean_ms"] + 100 for b in base) / 3)
    sf = load_settings(out["settings_path"])
    assert out["settings_path"] == str(store.settings_path) and "front" not in out
    assert sf.settings == space.settings_from(point(2.0)) and sf.evaluation == json.loads(json.dumps(ev))


def test_confirmation_with_nothing_feasible_takes_the_lowest_value(tmp_path):
    cfg = config()
    store = stored(tmp_path, cfg, [])
    done = [record(point(1.5), cfg.seeds, 0), record(point(1.0), cfg.seeds, 1), record(point(1.25), cfg.seeds, 2)]
    out = study.finish(cfg, store, done, Executor())
    assert out["best"] is done[1]


def test_a_front_study_writes_its_front(tmp_path):
    cfg = config(pareto=["p99", "fallback"], backend="optuna")
    store = stored(tmp_path, cfg, [])
    done = [record(point(3.0), cfg.seeds, 0), record(point(2.0), cfg.seeds, 1)]
    out = study.finish(cfg, store, done, Executor())
    assert out["front"]["path"] == str(store.dir / "front.json")
    assert json.loads((store.dir / "front.json").read_text())["evaluations"] == 2


# ---- the result files ------------------------------------------------------------------------

def test_settings_of_mbb_say_how_they_were_made(tmp_path):
    cfg = config(quick=True, backend="optuna", sampler="tpe")
    store = StudyStore("s", tmp_path)
    path = study.write_result(cfg, store, point(3.0, 128), {"x": 1})
    assert path == store.settings_path
    doc = json.loads(path.read_text())
    assert doc["settings"] == to_dict(space.settings_from(point(3.0, 128)))
    assert doc["slo"] == to_dict(get_scenario("db-down").slo) and doc["scenario"] == "db-down"
    assert doc["objective"] == to_dict(OBJ) and doc["evaluation"] == {"x": 1}
    prov = doc["provenance"]
    assert {k: prov[k] for k in ("study", "seeds", "budget", "backend", "sampler", "quick", "policy")} == \
        {"study": "s", "seeds": cfg.seeds, "budget": 5, "backend": "optuna", "sampler": "tpe", "quick": True,
         "policy": "mbb"}
    assert {"git", "kernel", "packages"} <= set(prov)
    other = study.write_result(cfg, store, START, None, tmp_path / "elsewhere.json")
    assert other == tmp_path / "elsewhere.json" and "evaluation" not in json.loads(other.read_text())


def test_a_peers_result_is_its_params(tmp_path):
    dims = space.build(policy="hystrix")
    cfg = config(policy="hystrix", dims=dims, backend="sobol", sampler=None)
    store = StudyStore("s", tmp_path)
    store.dir.mkdir()
    p = space.defaults(dims, "hystrix")
    path = study.write_result(cfg, store, p, {"y": 2})
    assert path == store.dir / "params.json"
    doc = json.loads(path.read_text())
    assert set(doc) == {"schema", "policy", "params", "slo", "scenario", "objective", "evaluation", "provenance"}
    assert (doc["schema"], doc["policy"], doc["scenario"], doc["evaluation"]) == \
        ("mbsim.policy/1", "hystrix", "db-down", {"y": 2})
    assert doc["params"] == json.loads(json.dumps(to_dict(space.settings_from(p, "hystrix")), default=str))
    assert doc["slo"] == to_dict(get_scenario("db-down").slo) and doc["objective"] == to_dict(OBJ)
    assert doc["provenance"]["policy"] == "hystrix" and doc["provenance"]["backend"] == "sobol"
    assert path.read_text().endswith("}\n") and path.read_text().startswith('{\n  "schema"')
    there = study.write_result(cfg, store, p, None, tmp_path / "p.json")
    assert there == tmp_path / "p.json" and json.loads(there.read_text())["evaluation"] is None


def test_trial_settings_exports_one_evaluation(tmp_path):
    cfg = config()
    store = stored(tmp_path, cfg, [record(point(3.0), cfg.seeds, 0), record(point(2.0, 32), cfg.seeds, 4)])
    path = study.trial_settings(store, 4)
    assert path == store.dir / "trial-4.settings.json"
    sf = load_settings(path)
    assert sf.settings == space.settings_from(point(2.0, 32))
    assert sf.evaluation == {"trial": 4, "mean": record(point(2.0, 32), cfg.seeds, 4)["mean"]}
    with pytest.raises(ConfigError) as e:
        study.trial_settings(store, 3)
    assert str(e.value) == "study s has no evaluation 3"
    assert not math.isnan(sf.slo.target_ms)


def test_a_peer_study_starts_from_and_confirms_against_its_own_base(tmp_path, scripted):
    dims = space.build(policy="hystrix")
    cfg = config(policy="hystrix", dims=dims, backend="random", budget=2)
    base = space.defaults(dims, "hystrix")
    assert base["execution_timeout_ms"] == 5.0 and base["core_size"] == 64
    other = base | {"core_size": 32}
    scripted([other], dims)
    ex, store = Executor(), StudyStore("s", tmp_path)
    out = study.run(cfg, store, ex)
    assert [c[0] for c in ex.batches[0]] == [base, other] and {c[5] for c in ex.batches[0]} == {"hystrix"}
    assert [c[0] for c in ex.batches[1] if c[4] == -2] == [base] * cfg.confirm
    assert out["settings_path"] == str(store.dir / "params.json")
