"""Issue 12, part 1 and 3: every parameter finite and within its documented bounds, the
work of a run estimated and limited up front, seeds checked, and the defects found
around them (``params=dict`` resetting a policy's mode, ``mbb-concurrency`` admitting
beyond its ring, tuning logging an unrepaired pair, settings files of the wrong shape)."""
from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

from mbsim import params as P
from mbsim import policies, streams
from mbsim.engine import budget
from mbsim.engine.simulate import simulate
from mbsim.errors import ConfigError
from mbsim.formats import settings_file
from mbsim.params import Params, override
from mbsim.world import catalog
from mbsim.world.scenario import Scenario
from mbsim.world.workload import Workload


def all_params() -> list[type]:
    import mbsim.policies as pol
    importlib.import_module("mbsim.tuning.objective")
    for info in pkgutil.iter_modules(pol.__path__):
        importlib.import_module(f"mbsim.policies.{info.name}")

    def subs(c: type) -> Iterator[type]:
        s: type
        for s in c.__subclasses__():
            yield s
            yield from subs(s)
    return sorted(set(subs(Params)), key=lambda c: c.__qualname__)


def number_fields(cls: type) -> list[dataclasses.Field[Any]]:
    d = cls()
    return [f for f in dataclasses.fields(cls)
            if isinstance(getattr(d, f.name), (int, float)) and not isinstance(getattr(d, f.name), bool)]


CASES = [(c, f.name) for c in all_params() for f in number_fields(c)]


@pytest.mark.parametrize("cls,name", CASES, ids=[f"{c.__name__}.{n}" for c, n in CASES])
def test_no_number_takes_infinity_or_nan(cls, name):
    if name in cls.NO_LIMIT:
        assert getattr(dataclasses.replace(cls(), **{name: math.inf}), name) == math.inf
    for bad in ((-math.inf, math.nan) if name in cls.NO_LIMIT else (math.inf, -math.inf, math.nan)):
        with pytest.raises(ConfigError, match=f"{name} must be a finite number"):
            dataclasses.replace(cls(), **{name: bad})


@pytest.mark.parametrize("cls,name", CASES, ids=[f"{c.__name__}.{n}" for c, n in CASES])
def test_every_number_has_a_finite_ceiling_and_the_defaults_are_inside(cls, name):
    default = getattr(cls(), name)
    low, high = cls.BOUNDS.get(name, (-math.inf, P.ceiling(name, default)))
    assert math.isfinite(high), f"{cls.__name__}.{name} has no upper bound"
    assert low <= default <= high
    with pytest.raises(ConfigError, match=f"{name} must be"):
        dataclasses.replace(cls(), **{name: type(default)(high * 10 + 10)})


def test_the_bounds_are_in_the_words_of_the_message():
    with pytest.raises(ConfigError) as e:
        override(catalog.get("db-down"), {"service.workers": 100_000_000})
    assert str(e.value) == "service.workers must be in [1, 100,000], got 100,000,000"
    with pytest.raises(ConfigError, match=r"buffer.topology.sample_ms must be in \[1, 60,000\], got 1e-09"):
        policies.resolve("mbb", None, {"buffer.topology.sample_ms": 1e-9})
    with pytest.raises(ConfigError, match=r"fallback.deadline_ms must be in \[0.001, 60,000\]"):
        policies.resolve("mbb", None, {"fallback.deadline_ms": 1e308})
    with pytest.raises(ConfigError, match=r"workload\.rate_rps must be at most 1,000,000"):
        override(catalog.get("db-down"), {"workload.rate_rps": 1e12})
    with pytest.raises(ConfigError, match=r"workload\.spike_windows must be a finite number"):
        Workload(spike_windows=((1.0, math.inf, 2.0),))


def test_expected_arrivals_integrate_the_profile_by_hand():
    w = Workload(rate_rps=100.0, ramps=((2.0, 4.0, 300.0),))  # 100 for 2 s, ramp to 300 over 2 s, then 300
    p = w.profile()
    assert p.expected(0, 2) == pytest.approx(200.0)
    assert p.expected(2, 4) == pytest.approx(400.0)  # the mean of 100 and 300, for 2 s
    assert p.expected(0, 10) == pytest.approx(200 + 400 + 6 * 300)
    bursts = Workload(rate_rps=100.0, burst_every_s=2.0, burst_length_s=0.5, burst_factor=3.0)
    assert bursts.profile().expected(0, 10) == pytest.approx(1000 * (1 + 2 * 0.25))


def test_a_run_beyond_the_work_limit_is_refused_with_its_estimate(monkeypatch):
    sc = override(catalog.get("tail-spike"), {"duration_s": 86_400.0})  # 10K req/s for a day
    with pytest.raises(ConfigError, match=r"about 864,000,000 requests .* up to 362.9 GB if they queue\), above "
                                          r"the limit of 10,000,000"):
        simulate(sc, "none")
    monkeypatch.setenv(budget.ENV, "1e9")
    assert budget.check(sc) == pytest.approx(8.64e8)
    with pytest.raises(ConfigError, match="above the limit of 1,000"):
        simulate("db-down", "none", max_requests=1000)


def test_a_run_that_measures_nothing_is_refused():
    with pytest.raises(ConfigError, match="nothing to measure"):
        simulate("db-down", "none", duration_s=1e-300)
    r = simulate("db-down", "none", duration_s=0.05)  # 250 expected arrivals: a real, short run
    assert r.metrics["requests"] > 100


@pytest.mark.parametrize("bad", [-1, 2 ** 63, 1.5, "1", True, None])
def test_seeds_are_integers_in_0_to_2_63(bad):
    with pytest.raises(ConfigError, match=r"a seed is an integer in \[0, 2\*\*63\)"):
        streams.check_seed(bad)


def test_the_largest_seed_runs():
    assert streams.check_seed(2 ** 63 - 1) == 2 ** 63 - 1
    assert simulate("db-down", "none", seed=2 ** 63 - 1, duration_s=0.2).metrics["requests"] > 0


def test_params_as_a_dict_change_the_policy_s_own_defaults():
    """mbb-concurrency's buffer is in concurrency mode: a dict that changes one field of
    the buffer keeps the mode (it used to reset it to window)."""
    _, p = policies.resolve("mbb-concurrency", {"buffer": {"capacity_max": 64}})
    assert p.buffer.mode == "concurrency" and p.buffer.capacity_max == 64
    assert p.buffer.window_max_ms == 200.0  # the other fields keep their defaults
    _, q = policies.resolve("mbb-concurrency", None, {"buffer.capacity_max": 64})
    assert p == q
    with pytest.raises(ConfigError, match=r"unknown parameter buffer\.nope"):
        policies.resolve("mbb-concurrency", {"buffer": {"nope": 1}})
    with pytest.raises(ConfigError, match="params must be a MbbConcurrencySettings or a mapping"):
        policies.resolve("mbb-concurrency", [1, 2])


@pytest.mark.parametrize("mode", ["window", "concurrency"])
def test_the_ring_bounds_the_waiting_requests_in_every_mode(mode):
    """Three times the service's capacity, capacity_max 16: at most 15 wait and 16 are
    served, so the mean number in the system is at most 31 (it was 26,838 in concurrency
    mode, whose limit only came with its first re-tune)."""
    sc = override(catalog.get("db-down"), {"faults.down": [], "workload.rate_rps": 48_000.0, "duration_s": 3.0,
                                           "warmup_s": 0.5})
    pol = "mbb" if mode == "window" else "mbb-concurrency"
    r = simulate(sc, pol, overrides={"buffer.capacity_min": 16, "buffer.capacity_max": 16,
                                     "breaker.min_calls": 1_000_000})  # the breaker never trips
    workers = sc.service.workers
    assert r.server["mean_in_system"] <= 15 + workers
    assert r.server["mean_in_system"] > workers  # overloaded: the ring is used


def test_tuning_records_the_values_that_ran():
    from mbsim.tuning import objective
    from mbsim.tuning.evaluate import evaluate

    sc = override(catalog.get("db-down"), {"duration_s": 1.0, "warmup_s": 0.2})
    asked = {"buffer.window_min_ms": 175.7, "buffer.window_max_ms": 52.6}
    rec = evaluate(asked, sc, objective.Objective(), [1])
    assert rec["asked"] == asked
    assert rec["params"] == {"buffer.window_min_ms": 52.6, "buffer.window_max_ms": 52.6}
    assert rec["settings"]["buffer"]["window_min_ms"] == 52.6


@pytest.mark.parametrize("field,value,words", [
    ("settings", [], "'settings' must be an object, got list"),
    ("scenario", 12345, "'scenario' must be a scenario name, got int"),
    ("provenance", "a string", "'provenance' must be an object, got str"),
    ("objective", 5, "'objective' must be an object, got int"),
])
def test_a_settings_file_of_the_wrong_shape_is_refused(field, value, words):
    doc = {"schema": settings_file.SCHEMA, "settings": {}, field: value}
    with pytest.raises(ConfigError, match=words):
        settings_file.parse(doc)


def test_results_under_data_need_a_clean_tree(monkeypatch, tmp_path):
    from mbsim import provenance

    monkeypatch.setattr(provenance, "git_revision", lambda cwd=None: {"commit": "abc", "dirty": True})
    with pytest.raises(ConfigError, match="uncommitted changes: commit them first, or pass --allow-dirty"):
        provenance.guard_write(provenance.DATA / "compare" / "x")
    provenance.guard_write(provenance.DATA / "compare" / "x", allow_dirty=True)
    provenance.guard_write(tmp_path / "x")  # elsewhere: allowed
    assert "dirty tree" in provenance.dirty_banner({"git": {"commit": "abc", "dirty": True}})
    assert provenance.dirty_banner({"git": {"commit": "abc", "dirty": False}}) == ""
    monkeypatch.setattr(provenance, "git_revision", lambda cwd=None: {"commit": "abc", "dirty": False})
    provenance.guard_write(provenance.DATA / "compare" / "x")


def test_scenario_bounds_hold_for_every_built_in():
    for name in catalog.names():
        sc = catalog.get(name)
        assert isinstance(sc, Scenario)
        total, measured = budget.expected_requests(sc)
        assert measured >= 1 and total <= budget.DEFAULT_MAX_REQUESTS


def test_only_changes_outside_data_make_a_tree_dirty(tmp_path):
    """Results being regenerated under data/ do not change the code that makes them."""
    import subprocess

    from mbsim import provenance

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "r.json").write_text("1")
    (tmp_path / "code.py").write_text("x = 1")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "c")
    assert provenance.git_revision(tmp_path)["dirty"] is False
    (tmp_path / "data" / "r.json").write_text("2")
    assert provenance.git_revision(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2")
    assert provenance.git_revision(tmp_path)["dirty"] is True
