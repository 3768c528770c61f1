"""The engine against closed forms: M/M/1, M/M/c (Erlang C) and Little's law.

Intervals come from independent replications (or batch means over one long run), never
from a naive i.i.d. interval over correlated waits.
"""
import numpy as np
import pytest
from helpers import queue_scenario

from mbsim.engine.run import run_model, server_stats
from mbsim.metrics import intervals as stats
from mbsim.metrics import theory
from mbsim.policies.protection import Protection

LEVEL = 0.99


def replicate(c, lam, mu, reps, duration_s, warmup_s):
    sc = queue_scenario(c, lam, 1.0 / mu, duration_s, warmup_s)
    out = []
    for seed in range(1, reps + 1):
        model, _ = run_model(sc, Protection(), seed=seed)
        out.append(server_stats(model))
    return out


@pytest.fixture(scope="module")
def mm1():
    return replicate(1, 700.0, 1000.0, reps=12, duration_s=120.0, warmup_s=10.0)


@pytest.fixture(scope="module")
def mmc():
    return replicate(4, 3000.0, 1000.0, reps=12, duration_s=60.0, warmup_s=5.0)


def test_mm1_mean_wait(mm1):
    want = theory.mm1_wait(700.0, 1000.0)
    ci = stats.t_interval([s["mean_wait_ms"] / 1e3 for s in mm1], LEVEL)
    assert want in ci, (want, ci)
    assert ci.half_width < 0.1 * want  # the interval is informative


def test_mmc_mean_wait_and_erlang_c(mmc):
    lam, mu, c = 3000.0, 1000.0, 4
    wait = stats.t_interval([s["mean_wait_ms"] / 1e3 for s in mmc], LEVEL)
    assert theory.mmc_wait(c, lam, mu) in wait, (theory.mmc_wait(c, lam, mu), wait)
    p_wait = stats.t_interval([s["p_wait"] for s in mmc], LEVEL)
    assert theory.erlang_c(c, lam, mu) in p_wait, (theory.erlang_c(c, lam, mu), p_wait)
    assert p_wait.half_width < 0.02


def test_utilization_is_offered_load(mmc):
    ci = stats.t_interval([s["utilization"] for s in mmc], LEVEL)
    assert 0.75 in ci


@pytest.mark.parametrize("which", ["mm1", "mmc"])
def test_littles_law(which, request):
    """L (time-average number in the service, sampled every 10 ms) = lambda * W."""
    runs = request.getfixturevalue(which)
    diff = [s["mean_in_system"] - s["throughput_rps"] * s["mean_sojourn_ms"] / 1e3 for s in runs]
    ci = stats.t_interval(diff, LEVEL)
    assert 0.0 in ci, ci
    mean_l = np.mean([s["mean_in_system"] for s in runs])
    assert ci.half_width < 0.05 * mean_l


def test_batch_means_on_one_long_run_and_why_naive_fails():
    lam, mu = 800.0, 1000.0
    sc = queue_scenario(1, lam, 1.0 / mu, duration_s=400.0, warmup_s=20.0)
    waits: list[float] = []
    run_model(sc, Protection(), seed=42, trace=waits)
    waits = waits[int(len(waits) * 20 / 400):]  # drop the warm-up's customers
    want = theory.mm1_wait(lam, mu)
    bm = stats.batch_means(waits, batches=20, level=LEVEL)
    assert want in bm, (want, bm)
    nv = stats.naive(waits, LEVEL)
    assert nv.half_width < bm.half_width / 5  # the i.i.d. interval is far too narrow
