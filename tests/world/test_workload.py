"""Arrival processes: rate profiles, thinning and spikes."""
import numpy as np
import pytest
from scipy import stats as sps

from mbsim.errors import ConfigError
from mbsim.world.workload import Workload, arrival_gaps


def arrivals(w, seed=1, until=20.0):
    g = arrival_gaps(w, np.random.default_rng(seed), np.random.default_rng(seed + 1000))
    t, out = 0.0, list[float]()
    while True:
        t += next(g)
        if t >= until:
            return np.array(out)
        out.append(t)


def test_profile_steps_ramps_bursts():
    w = Workload(rate_rps=100, steps=((5.0, 200.0),), ramps=((10.0, 12.0, 0.0),),
                 burst_every_s=4.0, burst_length_s=1.0, burst_factor=3.0)
    p = w.profile()
    assert p(1.0) == 100 and p(4.5) == 300  # a burst
    assert p(6.0) == 200 and p(11.0) == pytest.approx(100) and p(12.5) == 0
    assert p(8.2) == 600  # burst on the stepped rate
    assert p.peak == 600


def test_poisson_counts_match_rate():
    t = arrivals(Workload(rate_rps=1000.0), until=20.0)
    counts = np.histogram(t, bins=20, range=(0, 20))[0]
    assert abs(counts.mean() - 1000) < 3 * np.sqrt(1000 / 20)
    assert sps.kstest(np.diff(t) * 1000, "expon").pvalue > 0.01


def test_thinning_follows_a_ramp():
    w = Workload(rate_rps=100.0, ramps=((0.0, 10.0, 2100.0),))
    t = arrivals(w, until=10.0)
    counts = np.histogram(t, bins=10, range=(0, 10))[0]
    expected = np.array([100 + 200 * (k + 0.5) for k in range(10)])  # mean rate over each second
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))


@pytest.mark.parametrize("bad", [{"rate_rps": -5}, {"spike_fraction": 2.0},
                                 {"burst_every_s": 2.0, "burst_length_s": 3.0},
                                 {"steps": ((1.0, 10.0),), "ramps": ((0.5, 2.0, 5.0),)}])
def test_bad_workloads(bad):
    with pytest.raises(ConfigError):
        Workload(**bad)
