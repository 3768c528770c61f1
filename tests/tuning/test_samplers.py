"""The samplers on toy problems whose answers are known: the constrained acquisition, no
duplicates, resume replay, peer ranges, the trade-off front."""
import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mbsim import policies
from mbsim.dimension import Dimension
from mbsim.tuning import samplers, space, study
from mbsim.tuning.executors import LocalExecutor
from mbsim.tuning.objective import Objective
from mbsim.tuning.pareto import ParetoSampler, front
from mbsim.tuning.samplers import Observation
from mbsim.tuning.storage import StudyStore

XY = [Dimension("x", 0.0, 1.0), Dimension("y", 0.0, 1.0)]


def disc(p):
    """Minimise (x - 0.9)^2 + (y - 0.9)^2 inside the disc of radius 0.25 around (0.3, 0.3):
    the optimum is on the disc's edge, toward (0.9, 0.9)."""
    x, y = p["x"], p["y"]
    metric = 1.0 + (x - 0.9) ** 2 + (y - 0.9) ** 2
    slack = 0.25 - math.hypot(x - 0.3, y - 0.3)
    return Observation(value=metric + (0 if slack >= 0 else 100), metric=metric, slacks={"disc": slack * 4})


BEST_ON_DISC = 1.0 + (math.hypot(0.6, 0.6) - 0.25) ** 2


def test_constrained_acquisition_stays_where_its_model_expects_feasibility():
    s = samplers.make("skopt", XY, seed=3)
    confident_infeasible = []
    for _ in range(30):
        p = s.ask(1)[0]
        if len(s.X) >= s.n_initial and any(o.feasible for o in s.obs):  # type: ignore[attr-defined]  # the concrete object's own attribute
            pf = s.predict_feasible([p])[0]  # type: ignore[attr-defined]  # the concrete object's own attribute
            if pf < 0.01:
                confident_infeasible.append((p, pf))
        s.tell(p, disc(p))
    assert not confident_infeasible
    feasible = [o.metric for o in s.obs if o.feasible]  # type: ignore[attr-defined]  # the concrete object's own attribute
    assert feasible and min(feasible) < BEST_ON_DISC + 0.05  # found the edge of the disc near the optimum
    # and it knows where the disc is: the centre is feasible, the far corner is not
    pf = s.predict_feasible([{"x": 0.3, "y": 0.3}, {"x": 0.95, "y": 0.95}])  # type: ignore[attr-defined]  # the concrete object's own attribute
    assert pf[0] > 0.9 and pf[1] < 0.05


def test_penalty_form_is_kept_for_comparison():
    s = samplers.make("skopt-penalty", XY, seed=3)
    for _ in range(10):
        p = s.ask(1)[0]
        s.tell(p, disc(p))
    assert len(s.opt.yi) == 10 and max(s.opt.yi) > math.log(100)  # type: ignore[attr-defined]  # it saw the penalties


GRID = [Dimension("a", 1, 4, integer=True), Dimension("b", 1, 4, integer=True)]


@pytest.mark.parametrize("backend", ["skopt", "sobol", "random"])
def test_no_duplicate_on_a_discrete_space(backend):
    s = samplers.make(backend, GRID, seed=1)
    got = []
    for _ in range(8):  # batches of 2: the 16 points of the grid
        batch = s.ask(2)
        got += [(p["a"], p["b"]) for p in batch]
        for p in batch:
            s.tell(p, Observation(value=p["a"] + p["b"], metric=p["a"] + p["b"], slacks={"c": 1.0}))
    assert len(got) == 16 and len(set(got)) == 16 and s.duplicates == 0


def test_the_base_class_counts_duplicates():
    class Stuck(samplers.RandomSampler):
        def _ask(self, n):
            return [{"a": 2, "b": 3}] * n

    s = Stuck(GRID, 1)
    s.ask(1)
    s.ask(2)
    assert s.duplicates == 2


def _toy_done(n=10):
    s = samplers.make("random", XY, seed=7)
    return [(p, disc(p)) for p in s.ask(n)]


@pytest.mark.parametrize("backend, sampler, state", [
    ("skopt", None, lambda s: len(s.X)),
    ("skopt-penalty", None, lambda s: len(s.opt.Xi)),
    ("optuna", "tpe", lambda s: len(s.study.trials)),
    ("optuna", "gp", lambda s: len(s.study.trials)),
    ("sobol", None, lambda s: len(s._seen)),
    ("random", None, lambda s: len(s._seen)),
])
def test_replay_after_a_resume_is_really_used(backend, sampler, state):
    done = _toy_done()
    s = samplers.make(backend, XY, seed=99, sampler=sampler)
    s.replay(done)
    assert state(s) == len(done)
    assert all(s.seen(p) for p, _ in done)
    asked = s.ask(4)
    assert not any(s.key(p) == s.key(q) for p in asked for q, _ in done)


def test_replay_moves_the_constrained_sampler_past_its_initial_design():
    done = _toy_done(12)
    fresh = samplers.make("skopt", XY, seed=5)
    resumed = samplers.make("skopt", XY, seed=5)
    resumed.replay(done)
    # the fresh sampler starts its Sobol design; the resumed one acquires from its models
    # and so goes where the disc is feasible
    p = resumed.ask(1)[0]
    assert math.hypot(p["x"] - 0.3, p["y"] - 0.3) < 0.35
    assert fresh.ask(1)[0] != p


@pytest.mark.parametrize("backend, told", [
    ("skopt", lambda s: len(s.obs)),
    ("skopt-penalty", lambda s: len(s.opt.yi)),
    ("optuna", lambda s: len([t for t in s.study.trials if t.state.is_finished()])),
    ("sobol", lambda s: len(s._seen)),
])
def test_study_resume_replays_every_finished_evaluation(tmp_path, monkeypatch, backend, told):
    made = []
    real = study.make_sampler
    monkeypatch.setattr(study, "make_sampler", lambda cfg, seed: made.append(real(cfg, seed)) or made[-1])
    cfg = study.StudyConfig(name="r", scenario="tail-spike", objective=Objective(),
                            dims=space.build(["fallback.deadline_ms", "breaker.failure_ratio"]), budget=4,
                            n_seeds=1, quick=True, batch=2, confirm=2, backend=backend)
    store = StudyStore("r", tmp_path)
    ex = LocalExecutor(1)
    study.run(cfg, store, ex)
    cfg2 = study.StudyConfig.from_dict({**store.load_config(), "budget": 6})
    study.run(cfg2, store, ex, resume=True)
    assert told(made[1]) == 6  # 4 replayed + 2 new
    recs = store.load_evaluations()
    assert len({made[1].key(r["asked"]) for r in recs}) == 6


def test_a_repeat_is_told_from_the_store_not_run_again(tmp_path):
    cfg = study.StudyConfig(name="dup", scenario="tail-spike", objective=Objective(),
                            dims=space.build(["buffer.capacity_max", "breaker.min_calls"],
                                             {"buffer.capacity_max": (16, 19), "breaker.min_calls": (5, 6)}),
                            budget=6, backend="optuna", n_seeds=1, quick=True, batch=1, confirm=2)
    store = StudyStore("dup", tmp_path)
    study.run(cfg, store, LocalExecutor(1))
    recs = store.load_evaluations()
    keys = [(r["params"]["buffer.capacity_max"], r["params"]["breaker.min_calls"]) for r in recs]
    assert len(keys) == 6 and len(set(keys)) == 6


TUNABLE = [n for n in policies.names() if policies.get(n).tuning]


def test_every_peer_declares_what_tuning_may_move():
    assert {"mbb", "hystrix", "resilience4j", "sre", "gradient2", "vegas", "envoy", "gobreaker"} <= set(TUNABLE)


@pytest.mark.parametrize("policy", TUNABLE)
def test_peer_tuning_respects_the_declared_ranges(policy):
    dims = space.build(policy=policy)
    declared = {d.name: d for d in policies.get(policy).tuning}
    spec = policies.get(policy)
    s = samplers.make("skopt", dims, seed=2)
    for _ in range(3):
        for p in s.ask(4):
            for d in dims:
                assert declared[d.name].low <= p[d.name] <= declared[d.name].high, (d.name, p[d.name])
                assert (p[d.name] == round(p[d.name])) if d.integer else True
            params = space.settings_from(p, policy)
            assert isinstance(params, spec.tuning_base or spec.params)
            for lo, hi in spec.tuning_pairs:
                assert space.getattr_path(params, lo) <= space.getattr_path(params, hi)
            s.tell(p, Observation(value=1.0, metric=1.0 + np.random.default_rng(0).random(), slacks={"c": 1.0}))


def test_tune_a_peer_from_the_command_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mbsim", "tune", "--policy", "hystrix", "--quick", "--budget", "3",
                        "--reps", "1", "--workers", "1", "--out", str(tmp_path), "--name", "h"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in (tmp_path / "h" / "evaluations.jsonl").read_text().splitlines()]
    assert all(rec["policy"] == "hystrix" for rec in recs)
    for rec in recs:
        for d in policies.get("hystrix").tuning:
            assert d.low <= rec["params"][d.name] <= d.high
    doc = json.loads((tmp_path / "h" / "params.json").read_text())
    assert doc["schema"] == "mbsim.policy/1" and doc["policy"] == "hystrix"
    assert doc["params"]["fallback"] is True  # started from hystrix-tuned: the snapshot as fallback
    assert "evaluations of hystrix" in r.stdout


def test_a_policy_with_nothing_to_tune_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mbsim", "tune", "--policy", "none", "--quick", "--budget", "2",
                        "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "policy 'none' declares nothing to tune (tunable: " in r.stderr


def test_front_of_points():
    pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 6.0), (5.0, 1.0)]
    assert front(pts) == [0, 1, 3]


def test_toy_two_objective_front_is_recovered():
    """ZDT1: f1 = x, f2 = g (1 - sqrt(x / g)), g = 1 + 9 y; the front is y = 0, f2 = 1 - sqrt(f1)."""
    dims = [Dimension("x", 0.01, 1.0), Dimension("y", 0.0, 1.0)]
    s = ParetoSampler(dims, seed=1, names=["p99", "fallback"])
    pts = []
    for _ in range(200):
        p = s.ask(1)[0]
        g = 1 + 9 * p["y"]
        f1, f2 = p["x"], g * (1 - math.sqrt(p["x"] / g))
        pts.append((f1, f2))
        s.tell(p, Observation(value=f1, metric=f1, slacks={"success": 1.0, "slo": 0.0},
                              means={"p99_ms": f1, "fallback_ratio": f2}))
    on = [pts[i] for i in front(pts)]
    gap = [f2 - (1 - math.sqrt(f1)) for f1, f2 in on]
    assert len(on) >= 10 and np.mean(np.array(gap) < 0.1) >= 0.8  # the found front lies on the true one
    true = [(a, 1 - math.sqrt(a)) for a in np.linspace(0.05, 1.0, 20)]
    cover = max(min(math.hypot(a - f1, b - f2) for f1, f2 in on) for a, b in true)
    assert cover < 0.15  # and covers it: every point of the true front has a found point near


def test_pareto_study_writes_the_front_and_exports_a_trial(tmp_path):
    root = tmp_path / "studies"
    r = subprocess.run([sys.executable, "-m", "mbsim", "tune", "--pareto", "p99,fallback", "--quick", "--budget", "6",
                        "--reps", "1", "--workers", "1", "--out", str(root), "--name", "f",
                        "--dims", "fallback.deadline_ms,buffer.capacity_max"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads((root / "f" / "front.json").read_text())
    assert doc["metrics"] == ["p99_ms", "fallback_ratio"] and doc["front"]
    pts = [(p["p99_ms"], p["fallback_ratio"]) for p in doc["front"]]
    assert pts == sorted(pts) and all(b[1] < a[1] for a, b in itertools.pairwise(pts))  # non-dominated
    assert (root / "f" / "front.png").stat().st_size > 10_000
    trial = doc["front"][0]["trial"]
    out = tmp_path / "out"
    e = subprocess.run([sys.executable, "-m", "mbsim", "export", str(root / "f"), "--trial", str(trial), "--out",
                        str(out), "--no-object"], capture_output=True, text=True, timeout=120)
    assert e.returncode == 0, e.stderr
    exported = json.loads((out / "mbb-config.json").read_text())["settings"]
    chosen = doc["front"][0]["params"]
    assert exported["fallback"]["deadline_ms"] == pytest.approx(chosen["fallback.deadline_ms"])
    assert exported["buffer"]["capacity_max"] == chosen["buffer.capacity_max"]
