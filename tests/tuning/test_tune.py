"""Tuning studies: backends, persistence and resume after a kill, Dask, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mbsim.errors import ConfigError
from mbsim.formats.settings_file import load as load_settings
from mbsim.tuning import space
from mbsim.tuning.executors import LocalExecutor
from mbsim.tuning.objective import Objective
from mbsim.tuning.storage import StudyStore
from mbsim.tuning.study import StudyConfig, run

DIMS = ["fallback.deadline_ms", "buffer.capacity_max", "breaker.failure_ratio"]


def mbsim(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True, **kw)


def small(name, backend="skopt", budget=6, sampler=None):
    if sampler == "gp":
        budget = 12  # past Optuna's 10 random start-up trials, so the GP (PyTorch) really runs
    return StudyConfig(name=name, scenario="tail-spike", objective=Objective(), dims=space.build(DIMS),
                       budget=budget, backend=backend, sampler=sampler, n_seeds=1, quick=True, batch=2, confirm=2)


@pytest.mark.parametrize("backend, sampler", [("skopt", None), ("optuna", "tpe"), ("optuna", "gp")])
def test_backends_run_save_every_evaluation_and_write_settings(tmp_path, backend, sampler):
    cfg = small(f"s-{backend}-{sampler}", backend, sampler=sampler)
    store = StudyStore(cfg.name, tmp_path)
    seen = []
    ex = LocalExecutor(1)
    summary = run(cfg, store, ex, on_result=lambda rec, best: seen.append((rec["id"], best)))
    recs = store.load_evaluations()
    assert [r["id"] for r in recs] == list(range(cfg.budget)) == [s[0] for s in seen]
    assert recs[0].get("baseline") and recs[0]["params"] == space.defaults(cfg.dims)
    assert [b for _, b in seen] == sorted((b for _, b in seen), reverse=True)  # best so far never worsens
    sf = load_settings(store.settings_path)  # schema-checked
    assert sf.scenario == "tail-spike" and sf.provenance["budget"] == cfg.budget and sf.provenance["git"]
    ev = sf.evaluation
    # the confirmation, recomputed here: the best candidate on each fresh seed, then the mean
    from mbsim.tuning.evaluate import evaluate, scenario_for
    from mbsim.world.catalog import get
    sc = scenario_for(get("tail-spike"), True)
    fresh = [evaluate(summary["best"]["params"], sc, cfg.objective, [s])["mean"]["p99_ms"] for s in ev["fresh_seeds"]]
    assert len(fresh) == cfg.confirm and ev["tuned"]["p99_ms"]["mean"] == pytest.approx(sum(fresh) / len(fresh))
    feasible = [r["value"] for r in recs if r["feasible"]] or [r["value"] for r in recs]
    assert summary["best"]["value"] == min(feasible)


def test_common_random_numbers_make_evaluations_repeatable(tmp_path):
    from mbsim.tuning.evaluate import evaluate, scenario_for
    from mbsim.world.catalog import get
    sc = scenario_for(get("tail-spike"), True)
    p = space.defaults(space.build(DIMS))
    a = evaluate(p, sc, Objective(), [11, 12])
    b = evaluate(p, sc, Objective(), [11, 12])
    assert a["value"] == b["value"] and a["per_seed"] == b["per_seed"]


def test_objective_penalties():
    o = Objective(min_success=0.999, max_fallback=0.05)
    m = {"p99_ms": 4.0, "success_ratio": 1.0, "fallback_ratio": 0.04, "slo_violation_ratio": 0.0}
    assert o.value(m, 0.01) == (4.0, True)
    v, ok = o.value({**m, "fallback_ratio": 0.10}, 0.01)  # twice the allowed fallback: one full penalty
    assert not ok and v == pytest.approx(4.0 + 100.0)
    v, ok = Objective(handling="constraint").value({**m, "success_ratio": 0.99}, 0.01)
    assert not ok and v == pytest.approx(4.0 + 10_000)


def test_kill_and_resume_loses_and_repeats_nothing(tmp_path):
    root = tmp_path / "studies"
    args = ["tune", "--quick", "--budget", "14", "--name", "k", "--out", str(root), "--reps", "1",
            "--workers", "2", "--dims", ",".join(DIMS)]
    p = subprocess.Popen([sys.executable, "-m", "mbsim", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    evals = root / "k" / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if evals.exists() and evals.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = evals.read_bytes()
    n_before = before.count(b"\n")
    assert 4 <= n_before < 14
    assert not (root / "k" / "settings.json").exists()
    r = mbsim("tune", "--resume", "k", "--out", str(root), "--workers", "2")
    assert r.returncode == 0, r.stderr
    after = evals.read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])  # finished results untouched
    recs = [json.loads(line) for line in after.splitlines()]
    assert len(recs) == 14
    ids = [x["id"] for x in recs]
    assert len(set(ids)) == 14  # nothing repeated
    assert sum(1 for x in recs if x.get("baseline")) == 1
    assert load_settings(root / "k" / "settings.json").evaluation["evaluations"] == 14


def test_dask_local_cluster(tmp_path):
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        r = mbsim("tune", "--quick", "--budget", "4", "--name", "d", "--out", str(tmp_path), "--reps", "1",
                  "--dims", ",".join(DIMS), "--dask", cluster.scheduler_address)
    assert r.returncode == 0, r.stderr
    assert len(StudyStore("d", tmp_path).load_evaluations()) == 4
    assert "settings:" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--dims", "buffer.nope"], "unknown dimension 'buffer.nope'"),
    (["--dims", "fallback.deadline_ms", "--bounds", "fallback.deadline_ms=9:3"], "bounds inverted"),
    (["--budget", "0"], "--budget: must be in [1, 100,000]"),
    (["--backend", "hyperopt"], "argument --backend: invalid choice: 'hyperopt'"),
    (["--terrain", "mud"], "argument --terrain: invalid choice: 'mud'"),
    (["--bounds", "fallback.deadline_ms=3"], "NAME=LOW:HIGH"),
    (["--objective", "p42"], "argument --objective: invalid choice: 'p42'"),
    (["--resume", "ghost"], "no study 'ghost'"),
])
def test_bad_input(tmp_path, args, message):
    r = mbsim("tune", "--quick", "--out", str(tmp_path), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_corrupt_study_names_the_file_and_keeps_results(tmp_path):
    cfg = small("c", budget=2)
    store = StudyStore("c", tmp_path)
    run(cfg, store, LocalExecutor(1))
    good = store.evals_path.read_bytes()
    store.evals_path.write_bytes(good + b"{not json}\n")
    r = mbsim("tune", "--resume", "c", "--out", str(tmp_path))
    assert r.returncode == 2 and f"{store.evals_path}:3" in r.stderr
    assert store.evals_path.read_bytes() == good + b"{not json}\n"  # nothing rewritten
    store.config_path.write_text("{")
    r = mbsim("tune", "--resume", "c", "--out", str(tmp_path))
    assert r.returncode == 2 and "study.json" in r.stderr


def test_existing_study_is_never_overwritten(tmp_path):
    cfg = small("e", budget=2)
    store = StudyStore("e", tmp_path)
    run(cfg, store, LocalExecutor(1))
    before = store.evals_path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        run(small("e", budget=2), StudyStore("e", tmp_path), LocalExecutor(1))
    assert store.evals_path.read_bytes() == before


def test_unfinished_tail_is_dropped_on_resume(tmp_path):
    cfg = small("t", budget=3)
    store = StudyStore("t", tmp_path)
    run(cfg, store, LocalExecutor(1))
    data = store.evals_path.read_bytes()
    lines = data.splitlines(keepends=True)
    store.evals_path.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # the third was cut by a kill
    recs = store.load_evaluations()
    assert len(recs) == 2
    store.drop_unfinished_tail()
    assert store.evals_path.read_bytes() == b"".join(lines[:2])
    os.remove(store.settings_path)
