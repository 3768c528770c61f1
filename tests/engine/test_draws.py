"""Per-request faults declared in a scenario (``faults.per_request``), checked against
their probabilities, and the draws they add against the draws they must leave alone."""
import dataclasses

import numpy as np
import pytest

from mbsim import SCENARIOS, simulate
from mbsim.engine import draws
from mbsim.errors import ConfigError
from mbsim.params import from_dict
from mbsim.world.client import Client
from mbsim.world.faults import Faults, RequestFault
from mbsim.world.load_function import LoadFunction
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload


def quiet(*faults: RequestFault, rate: float = 2000.0) -> Scenario:
    """Low load, no load function: every attempt meets only the faults given."""
    return Scenario(name="quiet", duration_s=12.0, warmup_s=1.0, workload=Workload(rate_rps=rate),
                    service=Service(load=LoadFunction(gain=0.0)), client=Client(timeout_ms=20.0, max_retries=2),
                    faults=Faults(per_request=faults))


def binomial_tol(p: float, n: int, z: float = 4.0) -> float:
    return float(z * np.sqrt(p * (1 - p) / n))


@pytest.mark.parametrize("where", ["request", "response"])
def test_a_leg_fault_loses_its_share_of_attempts(where):
    p = 0.3
    r = simulate(quiet(RequestFault("drop", where=where, probability=p)), policy="none", seed=4)
    n = r["requests"]
    # three attempts (two retries), each lost independently: the request times out
    assert r["timeout_ratio"] == pytest.approx(p ** 3, abs=binomial_tol(p ** 3, n))
    assert r["success_ratio"] == pytest.approx(1 - p ** 3, abs=binomial_tol(p ** 3, n))


def test_an_error_fault_answers_errors_that_retries_mostly_hide():
    p = 0.2
    r = simulate(quiet(RequestFault("flaky", where="error", probability=p)), policy="none", seed=5)
    n = r["requests"]
    assert r["error_ratio"] == pytest.approx(p ** 3, abs=binomial_tol(p ** 3, n))
    assert r["timeout_ratio"] == 0


def test_a_service_fault_slows_its_share_by_its_factor():
    p, factor = 0.1, 10.0
    base = simulate(quiet(), policy="none", seed=6)
    slow = simulate(quiet(RequestFault("gc-pause", where="service", probability=p, factor=factor)),
                    policy="none", seed=6)
    # the mean service time grows from 1 ms to 0.9 + 0.1 * 10 = 1.9 ms; at 2K req/s on 16 workers
    # nobody waits, so the mean time in the service is the mean service time
    assert base.server["mean_sojourn_ms"] == pytest.approx(1.0, rel=0.03)
    assert slow.server["mean_sojourn_ms"] == pytest.approx(1 + p * (factor - 1), rel=0.03)


def test_a_fault_with_probability_zero_changes_nothing_else():
    a = simulate("tail-spike", policy="mbb", seed=2, duration_s=4)
    sc = dataclasses.replace(SCENARIOS["tail-spike"],
                             faults=Faults(per_request=(RequestFault("idle", where="error", probability=0.0),)))
    b = simulate(sc, policy="mbb", seed=2, duration_s=4)
    assert a.metrics == b.metrics and a.seconds == b.seconds


def test_each_fault_has_its_own_stream_and_leaves_the_other_draws_alone():
    base = quiet()
    one = quiet(RequestFault("a", probability=0.5))
    two = quiet(RequestFault("a", probability=0.5), RequestFault("b", where="error", probability=0.5))
    rows = {}
    for name, sc in (("base", base), ("one", one), ("two", two)):
        d = draws.draws(sc, seed=9, block=64)
        rows[name] = [next(d.first) for _ in range(100)]
    for r0, r1, r2 in zip(rows["base"], rows["one"], rows["two"]):
        assert r1[:draws.LOSS_REQUEST] == r0[:draws.LOSS_REQUEST] == r2[:draws.LOSS_REQUEST]
        assert r2[draws.EXTRA] == r1[draws.EXTRA]  # adding fault b leaves fault a's draws alone
    a_col = [r[draws.EXTRA] for r in rows["two"]]
    b_col = [r[draws.EXTRA + 1] for r in rows["two"]]
    assert a_col != b_col and 0.3 < np.mean(b_col) < 0.7


@pytest.mark.parametrize("bad, message", [
    ({"name": "x", "where": "disk", "probability": 0.1}, "is not one of"),
    ({"name": "x", "probability": 1.5}, "probability must be in [0, 1]"),
    ({"name": "x", "where": "service", "probability": 0.1, "factor": 0}, "factor must be in"),
    ({"name": "", "probability": 0.1}, "bad name"),
])
def test_bad_faults_are_refused_in_one_line(bad, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_dict(Faults, {"per_request": [bad]})


def test_two_faults_may_not_share_a_name():
    with pytest.raises(ConfigError, match="share a name"):
        Faults(per_request=(RequestFault("a", probability=0.1), RequestFault("a", probability=0.2)))


def measured(rtt_ms: float = 0.3, samples: tuple[float, ...] = ()) -> Scenario:
    """No queue to speak of (16 workers, 1 us deterministic service at 2,000 req/s): a
    request's latency is its round trip plus 1 us."""
    return Scenario(name="rtt", duration_s=6.0, warmup_s=1.0, workload=Workload(rate_rps=2000.0),
                    service=Service(workers=16, dist="deterministic", mean_ms=0.001, load=LoadFunction(gain=0.0)),
                    network=dataclasses.replace(Scenario().network, rtt_ms=rtt_ms, rtt_samples_us=samples))


def test_measured_round_trips_that_are_all_equal_give_the_constant_round_trip_exactly():
    # the round trip's own streams leave every other draw alone: same seed, same results
    const = simulate(measured(0.3), policy="none", seed=7)
    drawn = simulate(measured(0.3, (300.0,) * 5), policy="none", seed=7)
    for key in ("requests", "p50_ms", "p99_ms", "latency_mean_ms", "success_ratio"):
        assert drawn[key] == const[key], key


def test_each_attempt_draws_its_round_trip_from_the_measured_samples():
    pool = np.linspace(100.0, 1000.0, 10)  # us: mean 550, median 550
    r = simulate(measured(0.55, tuple(pool)), policy="none", seed=3)
    n = r["requests"]
    sd = float(np.std(pool)) / 1e3 / np.sqrt(n)
    assert r["latency_mean_ms"] == pytest.approx(0.551, abs=5 * sd)
    # a tenth of the requests take each sample: P99 is the largest (1 ms), P50 between 0.5 and 0.6
    assert r["p99_ms"] == pytest.approx(1.001, rel=0.02)
    assert 0.5 <= r["p50_ms"] <= 0.61
    again = simulate(measured(0.55, tuple(pool)), policy="none", seed=3)
    assert again["p50_ms"] == r["p50_ms"] and again["latency_mean_ms"] == r["latency_mean_ms"]


def test_a_negative_round_trip_sample_is_one_line():
    with pytest.raises(ConfigError, match=r"network\.rtt_samples_us must be in"):
        from_dict(Scenario, {"name": "x", "network": {"rtt_samples_us": [10.0, -1.0]}})
