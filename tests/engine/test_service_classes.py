"""Service-time distributions a fitted backend uses (gamma, empirical) and a heavy request
class of its own, against their definitions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mbsim.engine import draws as D
from mbsim.engine.simulate import simulate
from mbsim.errors import ConfigError
from mbsim.params import from_dict
from mbsim.world.client import Client
from mbsim.world.load_function import LoadFunction
from mbsim.world.network import Network
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.service_time import ServiceTime
from mbsim.world.workload import Workload


def test_gamma_and_empirical_draws_have_their_definitions_moments():
    rng = np.random.default_rng(1)
    g = Service(dist="gamma", mean_ms=2.0, shape=4.0).sampler(rng)(200_000) * 1e3
    assert g.mean() == pytest.approx(2.0, rel=0.01) and g.std() == pytest.approx(2.0 / 2.0, rel=0.02)  # mean/sqrt(k)
    pool = (0.1, 0.2, 0.7)
    e = Service(dist="empirical", mean_ms=1 / 3, samples_ms=pool).sampler(rng)(30_000) * 1e3
    assert set(np.round(e, 9)) == set(pool)
    assert [np.mean(np.isclose(e, v)) for v in pool] == pytest.approx([1 / 3] * 3, abs=0.02)


def test_an_empirical_service_without_samples_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"service\.samples_ms must list the measured service times"):
        from_dict(Service, {"dist": "empirical"})
    with pytest.raises(ConfigError, match=r"service\.heavy\.mean_ms"):
        from_dict(Service, {"heavy": {"mean_ms": -1.0}})


def _two_classes(heavy: ServiceTime | None) -> Scenario:
    return Scenario(name="classes", description="", duration_s=40.0, warmup_s=0.0,
                    workload=Workload(rate_rps=50.0, spike_fraction=0.25, spike_factor=3.0),
                    service=Service(workers=64, dist="deterministic", mean_ms=1.0, load=LoadFunction(gain=0.0),
                                    heavy=heavy),
                    network=Network(rtt_ms=0.5), client=Client(timeout_ms=float("inf"), max_retries=0))


def test_a_heavy_class_replaces_the_spike_factor_for_exactly_the_spiked_requests():
    """64 workers at 50 req/s: nobody waits, so each latency is RTT + service. Without a
    heavy class, a spike is 3x the 1 ms draw; with one, it is the class's own 7 ms, for the
    same requests (the spike uniform is the same stream)."""
    plain = simulate(_two_classes(None), policy="none", seed=4)
    heavy = simulate(_two_classes(ServiceTime(dist="deterministic", mean_ms=7.0)), policy="none", seed=4)
    seen = []
    for r, slow in ((plain, 3.5), (heavy, 7.5)):
        h = r.histogram
        edges = h.edges() * 1e3
        full = np.flatnonzero(h.counts)
        assert len(full) == 2  # two latencies only
        for k, want in zip(full, (1.5, slow)):
            assert edges[k] <= want * (1 + 1e-9) and want <= edges[k + 1] * (1 + 1e-9)
        seen.append(h.counts[full].tolist())
    assert seen[0] == seen[1]  # the same requests are the spikes
    fast, slow_n = seen[1]
    n = fast + slow_n
    assert abs(slow_n / n - 0.25) < 3 * np.sqrt(0.25 * 0.75 / n)


def test_the_heavy_class_draws_from_its_own_streams_and_leaves_the_others_alone():
    sc = _two_classes(ServiceTime(dist="lognormal", mean_ms=7.0, sigma=0.3))
    k = D.heavy_field(sc)
    assert k == D.width(sc) - 1 and D.heavy_field(dataclasses.replace(sc, service=dataclasses.replace(
        sc.service, heavy=None))) is None
    with_heavy = [next(D.draws(sc, 9).first) for _ in range(3)]
    without = [next(D.draws(_two_classes(None), 9).first) for _ in range(3)]
    assert [row[:D.LOSS_REQUEST] for row in with_heavy] == [row[:D.LOSS_REQUEST] for row in without]
    draws = D.draws(sc, 9).first
    h = np.array([next(draws)[k] for _ in range(20_000)]) * 1e3
    assert h.mean() == pytest.approx(7.0, rel=0.01) and np.log(h).std() == pytest.approx(0.3, rel=0.03)
