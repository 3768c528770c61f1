"""The backend fit's numbers: distributions, the worker count, the load function recovered
from synthetic data with known coefficients, and a held-out split that never judges with
what it fitted."""
from __future__ import annotations

import numpy as np
import pytest

from mbsim.verify import fit
from mbsim.world.load_function import LoadFunction

LOADS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def synthetic(A: float, B: float, C: float, s0: float = 0.3, n: int = 3000, seed: int = 3) -> fit.LoadData:
    """Jobs whose service time follows the article's form with these coefficients, times a
    lognormal error (sigma 0.3)."""
    rng = np.random.default_rng(seed)
    parts = []
    for u in LOADS:
        om = rng.normal(u, 0.1, n).clip(0)
        sl = rng.normal(0, 0.05, n)
        psi = rng.uniform(0, u, n)
        torque = A * om ** 2 * (1 + B * (1 - np.cos(np.pi * psi))) + C * np.tanh(2 * sl)
        s = s0 * (1 + np.maximum(torque, 0)) * rng.lognormal(0, 0.3, n)
        parts.append(fit.LoadData(np.full(n, u), om, sl, psi, s))
    return fit.LoadData.concat(parts)


def test_the_articles_coefficients_are_recovered_within_their_intervals():
    truth = {"A": 0.8, "B": 0.6, "C": 0.5}
    fitted, held = fit.split(LOADS)
    r = fit.fit_load(synthetic(truth["A"], truth["B"], truth["C"]), fitted, held, boot=60, seed=1)
    art = r["forms"]["article"]
    for name, value in truth.items():
        low, high = art["ci95"][name]
        assert low <= value <= high, (name, value, low, high)
        assert low > 0 and high < 2 * value  # and the interval says something
    assert r["best_by_aic"] == "article" and r["best_held_out"] == "article"
    assert art["held_out_rms_error"] < 0.02 and r["forms"]["none"]["held_out_rms_error"] > 0.1
    assert "explains the sweep better than no load effect and than a linear one" in fit.verdict(r)
    lf = fit.load_function(r)
    assert lf.gain == 1.0 and lf.a == pytest.approx(0.8, rel=0.05) and lf.d == fit.ARTICLE_D


def test_without_a_load_effect_the_article_form_is_not_preferred_and_the_model_gets_none():
    fitted, held = fit.split(LOADS)
    r = fit.fit_load(synthetic(0.0, 0.0, 0.0), fitted, held, boot=20, seed=1)
    f = r["forms"]
    assert f["article"]["aic"] > f["none"]["aic"] - 2  # no evidence for the extra coefficients
    assert "does not explain it better than no load effect" in fit.verdict(r)
    assert fit.load_function(r).gain == 0.0
    assert f["none"]["s0_ms"] == pytest.approx(0.3 * np.exp(0.3 ** 2 / 2), rel=0.02)  # the lognormal's mean


def test_the_split_holds_out_loads_between_fitted_ones_and_never_both():
    fitted, held = fit.split(LOADS)
    assert held == [0.2, 0.4, 0.6, 0.8] and fitted == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert fit.split([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) == ([0.2, 0.4, 0.6, 0.8, 0.9], [0.3, 0.5, 0.7])
    with pytest.raises(ValueError, match="at least 3 loads"):
        fit.split([0.1, 0.2])
    with pytest.raises(ValueError, match=r"loads \[0.3\] are both fitted and held out"):
        fit.fit_load(synthetic(0.8, 0.6, 0.5, n=100), [0.1, 0.3], [0.3, 0.5], boot=0)


def test_the_held_out_loads_judge_the_fit_and_never_enter_it():
    d = synthetic(0.8, 0.6, 0.5, n=1500)
    fitted, held = fit.split(LOADS)
    a = fit.fit_load(d, fitted, held, boot=0)
    worse = fit.LoadData(d.load, d.omega, d.slope, d.psi, np.where(np.isin(d.load, held), d.service_ms * 3,
                                                                   d.service_ms))
    b = fit.fit_load(worse, fitted, held, boot=0)
    for form in ("none", "linear", "article"):
        assert a["forms"][form]["coefficients"] == b["forms"][form]["coefficients"]  # not fitted on them
        assert a["forms"][form]["aic"] == b["forms"][form]["aic"]
    err_a = [h["error"] for h in a["forms"]["article"]["held_out"]]
    err_b = [h["error"] for h in b["forms"]["article"]["held_out"]]
    assert [h["load"] for h in a["forms"]["article"]["held_out"]] == held
    assert all(e_b == pytest.approx((1 + e_a) / 3 - 1) for e_a, e_b in zip(err_a, err_b))  # judged on them


@pytest.mark.parametrize("family", ["lognormal", "gamma", "empirical"])
def test_the_distribution_that_made_the_samples_wins_by_held_out_likelihood(family):
    rng = np.random.default_rng(5)
    x = {"lognormal": lambda: rng.lognormal(np.log(0.3), 0.5, 6000),
         "gamma": lambda: rng.gamma(2.0, 0.15, 6000),
         # two clusters: neither lognormal nor gamma
         "empirical": lambda: np.concatenate([rng.normal(0.1, 0.005, 3000), rng.normal(0.5, 0.02, 3000)])}[family]()
    r = fit.distribution(x, seed=1)
    assert r["best"] == family, r["candidates"]
    assert r["service_time"]["dist"] == family
    assert r["service_time"]["mean_ms"] == pytest.approx(x.mean(), rel=0.03)
    if family == "gamma":
        assert r["service_time"]["shape"] == pytest.approx(2.0, rel=0.1)


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="at least 20 positive samples, got 3"):
        fit.distribution([0.1, 0.2, 0.3])


def test_scaling_a_distribution_scales_its_mean_and_samples():
    d = fit.scaled({"dist": "empirical", "mean_ms": 0.2, "samples_ms": [0.1, 0.3]}, 0.5)
    assert d["samples_ms"] == [0.05, 0.15] and d["mean_ms"] == pytest.approx(0.1)


def test_one_saturated_worker_is_worth_one():
    end = np.cumsum(np.full(3000, 1_000_000))  # a job every 1 ms
    assert fit.effective_workers(end, (500_000_000, 2_500_000_000), 1.0) == pytest.approx(1.0, rel=1e-3)
    assert fit.effective_workers(end, (500_000_000, 2_500_000_000), 2.0) == pytest.approx(2.0, rel=1e-3)


def test_the_sensor_reads_what_the_models_sensor_reads():
    arrivals = np.arange(0, 2_000_000_000, 1_000_000)  # 1,000 req/s from t0 = 0
    omega, slope = fit.sensor_at(arrivals, np.array([10_000_000, 1_000_000_000]), 0, 2000.0, LoadFunction())
    assert omega[0] == 0.0  # before the first sample
    assert omega[1] == pytest.approx(0.5) and slope[1] == pytest.approx(0.0, abs=1e-9)
