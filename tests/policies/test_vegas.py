"""Netflix VegasLimit, rule by rule at its edges, against its documented rules and hand
computation: with L = max(1, int(log10(limit))), queue <= L adds 6 L, queue < 3 L adds
L, queue > 6 L removes L, else the limit stays; fewer than half the limit in flight keeps
it; a drop removes L; the no-load RTT is re-probed every jitter * 30 * limit samples."""
from __future__ import annotations

import math

import pytest
from helpers import FixedRng

from mbsim.policies.vegas import Vegas, VegasParams

NOLOAD = 0.01  # s


def vegas(limit: int = 20, smoothing: float = 1.0, rng=None) -> Vegas:
    v = Vegas(VegasParams(initial_limit=limit, smoothing=smoothing), rng)
    v.update(NOLOAD, limit, False)  # the first sample is the no-load RTT
    assert v.rtt_noload == NOLOAD and v.limit == limit
    return v


def rtt_for(queue: int, limit: int) -> float:
    """An RTT whose queue estimate ceil(limit * (1 - noload / rtt)) is ``queue``: half a
    request below it, away from the ceiling's edge (0: the no-load RTT itself)."""
    if queue == 0:
        return NOLOAD
    rtt = NOLOAD / (1 - (queue - 0.5) / limit)
    assert math.ceil(limit * (1 - NOLOAD / rtt)) == queue
    return rtt


@pytest.mark.parametrize("limit, queue, after", [
    (20, 0, 26), (20, 1, 26),  # L = 1: queue <= L adds beta = 6 L
    (20, 2, 21),  # queue < alpha = 3 L adds L
    (20, 3, 20), (20, 6, 20),  # alpha <= queue <= beta: stays
    (20, 7, 19),  # queue > beta removes L
    (100, 2, 112), (100, 3, 102), (100, 5, 102),  # L = 2: 6 L = 12; 3 L = 6
    (100, 6, 100), (100, 12, 100), (100, 13, 98),
])
def test_the_queue_rules_at_their_edges(limit, queue, after):
    v = vegas(limit)
    v.update(rtt_for(queue, limit), limit, False)
    assert v.limit == after


def test_fewer_than_half_the_limit_in_flight_keeps_it():
    for inflight, after in ((9, 20), (10, 19)):  # 9 * 2 < 20 keeps; 10 * 2 = 20 does not
        v = vegas(20)
        v.update(rtt_for(7, 20), inflight, False)
        assert v.limit == after


def test_a_drop_removes_l_and_the_limit_never_goes_below_one():
    v = vegas(100)
    v.update(NOLOAD * 2, 0, True)  # drops count whatever is in flight
    assert v.limit == 98
    one = vegas(1)
    one.update(NOLOAD * 2, 1, True)  # 1 - L(1) = 0, clamped
    assert one.limit == 1.0


def test_smoothing_moves_part_of_the_way():
    v = vegas(20, smoothing=0.5)
    v.update(rtt_for(1, 20), 20, False)  # towards 26
    assert v.limit == 23.0


def test_a_zero_rtt_is_ignored():
    v = vegas(20)
    v.update(0.0, 20, False)
    assert v.rtt_noload == NOLOAD and v.probe_count == 1  # only the first sample counted
    v.update(rtt_for(7, 20), 20, False)
    assert v.limit == 19


def test_the_first_sample_is_the_no_load_rtt_whatever_it_is():
    v = Vegas(VegasParams(), None)
    v.update(2.0, 20, False)
    assert v.rtt_noload == 2.0 and v.limit == 20


@pytest.mark.parametrize("rng, every", [(FixedRng(0.25), 375), (None, 450)])
def test_the_no_load_rtt_is_probed_every_jitter_times_30_times_limit_samples(rng, every):
    """jitter = 0.5 + 0.5 U (U = 0.25: 0.625; 0.5 without a stream): with limit 20, the
    no-load RTT is reset to the sample at sample 375 (450), counted from the first, and
    again that many samples later."""
    v = Vegas(VegasParams(initial_limit=20), rng)
    v.update(NOLOAD, 0, False)  # sample 1
    for _ in range(2, every):
        v.update(NOLOAD * 2, 0, False)  # too few in flight: the limit stays at 20
    assert v.rtt_noload == NOLOAD and v.limit == 20
    v.update(NOLOAD * 2, 0, False)  # sample ``every``
    assert v.rtt_noload == NOLOAD * 2 and v.probe_count == 0
    v.update(NOLOAD, 0, False)
    for _ in range(2, every):
        v.update(NOLOAD * 3, 0, False)
    assert v.rtt_noload == NOLOAD
    v.update(NOLOAD * 3, 0, False)
    assert v.rtt_noload == NOLOAD * 3
