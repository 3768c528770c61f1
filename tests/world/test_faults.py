"""Faults, their checks and the ground truth they define, by hand."""
from __future__ import annotations

import pytest
import simpy

from mbsim.errors import ConfigError
from mbsim.world.faults import FaultClock, Faults, RequestFault


@pytest.mark.parametrize("kwargs, message", [
    ({"down": ((-0.1, 1.0),)}, "faults.down: bad interval (-0.1, 1.0)"),
    ({"partitions": ((2.0, 2.0),)}, "faults.partitions: bad interval (2.0, 2.0)"),
    ({"delay_spikes": ((3.0, 1.0, 5.0),)}, "faults.delay_spikes: bad interval (3.0, 1.0, 5.0)"),
    ({"down": ((1.0, 3.0), (2.9, 4.0))}, "faults.down: intervals overlap"),
    ({"partitions": ((5.0, 6.0), (1.0, 5.1))}, "faults.partitions: intervals overlap"),  # in any order
    ({"delay_spikes": ((1.0, 2.0, 60_000.1),)}, "faults.delay_spikes: extra_ms must be in [0, 60,000], got 60000.1"),
    ({"delay_spikes": ((1.0, 2.0, -1.0),)}, "faults.delay_spikes: extra_ms must be in [0, 60,000], got -1"),
    ({"per_request": (RequestFault(name="a"), RequestFault(name="a"))}, "faults.per_request: two faults share a name"),
])
def test_bad_faults_are_refused_with_their_rule(kwargs, message):
    with pytest.raises(ConfigError) as e:
        Faults(**kwargs)
    assert str(e.value) == message


def test_the_edges_are_allowed():
    f = Faults(down=((0.0, 1.0), (1.0, 2.0)), delay_spikes=((0.0, 1.0, 0.0), (1.0, 2.0, 60_000.0)),
               per_request=(RequestFault(name="a-b"), RequestFault(name="c")))
    assert f.down_until(1.0) == 2.0  # touching intervals: the second has begun


@pytest.mark.parametrize("kwargs, message", [
    ({"name": ""}, "faults.per_request: bad name '' (letters, digits, - and _)"),
    ({"name": "a b"}, "faults.per_request: bad name 'a b' (letters, digits, - and _)"),
    ({"name": "x", "probability": 1.0001}, "faults.per_request x: probability must be in [0, 1], got 1.0001"),
    ({"name": "x", "probability": -0.0001}, "faults.per_request x: probability must be in [0, 1], got -0.0001"),
])
def test_bad_request_faults(kwargs, message):
    with pytest.raises(ConfigError) as e:
        RequestFault(**kwargs)
    assert str(e.value) == message
    assert RequestFault(name="x_1", probability=1.0).probability == 1.0 and RequestFault(probability=0.0)


def test_requested_faults_act_where_asked_with_a_chance():
    a = RequestFault(name="a", where="service", probability=0.1, factor=3.0)
    b = RequestFault(name="b", where="service", probability=0.0)
    c = RequestFault(name="c", where="response", probability=0.2)
    f = Faults(per_request=(a, b, c))
    assert f.requested("service") == (a,) and f.requested("response") == (c,) and f.requested("error") == ()


def test_the_ground_truth_and_delays_by_hand():
    f = Faults(down=((1.0, 2.0),), partitions=((3.0, 4.0),), delay_spikes=((5.0, 6.0, 40.0), (6.0, 7.0, 2.0)))
    assert [f.unhealthy(t) for t in (0.99, 1.0, 1.99, 2.0, 3.0, 3.99, 4.0, 5.5)] == [
        False, True, True, False, True, True, False, False]  # delay spikes are not outages
    assert (f.down_until(1.5), f.down_until(2.0)) == (2.0, None)
    assert [f.extra_delay_s(t) for t in (4.99, 5.0, 6.0, 7.0)] == [0.0, 0.04, 0.002, 0.0]


def test_the_clock_switches_at_each_boundary():
    f = Faults(down=((0.0, 1.0),), partitions=((2.0, 3.0),), delay_spikes=((1.0, 2.0, 10.0),))
    clock = FaultClock(f, spike_windows=((2.5, 4.0, 2.0), (3.5, 4.0, 3.0)))
    assert clock.boundaries == [0.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert (clock.down_end, clock.unhealthy, clock.calm) == (1.0, True, False)  # down from t = 0
    env = simpy.Environment()
    env.process(clock.process(env))
    seen = []

    def watch(env):
        for t in (0.5, 1.5, 2.2, 2.7, 3.2, 3.7, 4.5):
            yield env.timeout(t - env.now)
            seen.append((clock.down_end, clock.partitioned, clock.extra_delay_s, clock.spike_factor, clock.calm,
                         clock.unhealthy))

    env.process(watch(env))
    env.run()
    assert seen == [
        (1.0, False, 0.0, 1.0, False, True),
        (None, False, 0.01, 1.0, True, False),
        (None, True, 0.0, 1.0, True, True),
        (None, True, 0.0, 2.0, False, True),
        (None, False, 0.0, 2.0, False, False),
        (None, False, 0.0, 6.0, False, False),  # two spike windows multiply
        (None, False, 0.0, 1.0, True, False),
    ]
