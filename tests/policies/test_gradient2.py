"""Netflix Gradient2Limit, rule by rule, against its documented rules and hand computation:
the long RTT is the plain mean of the first 10 samples, then an exponential average with
factor 2 / (longWindow + 1); long / short above 2 decays it by 0.9; fewer than half the
limit in flight keeps the limit; else gradient = clamp(long / short, 0.5, 1) and
limit = limit (1 - smoothing) + (limit gradient + queueSize) smoothing."""
from __future__ import annotations

import pytest

from mbsim.policies.gradient2 import Gradient2, Gradient2Params


def test_the_long_rtt_is_a_plain_mean_for_ten_samples_then_an_exponential_average():
    g = Gradient2(Gradient2Params(long_window=3))  # factor 2 / 4 = 0.5
    for n in range(1, 11):
        g.update(float(n), 0, False)  # 1 .. 10 s: long / short stays under 2
        assert g.long == pytest.approx(sum(range(1, n + 1)) / n)
    assert g.long == 5.5
    g.update(7.5, 0, False)
    assert g.long == 0.5 * 5.5 + 0.5 * 7.5  # 6.5
    d = Gradient2(Gradient2Params())  # longWindow 600: factor 2 / 601
    for _ in range(10):
        d.update(4.0, 0, False)
    d.update(6.0, 0, False)
    assert d.long == pytest.approx(4.0 + 2.0 * 2 / 601, rel=1e-12)


@pytest.mark.parametrize("samples, long", [
    ([3.0, 1.0], 2.0),  # long / short = 2: no decay
    ([4.0, 1.0], 2.5 * 0.9),  # 2.5: decays by 0.9
    ([3.0, 3.0], 3.0),  # 1: none
])
def test_the_long_rtt_decays_only_when_it_is_more_than_twice_the_short(samples, long):
    g = Gradient2(Gradient2Params())
    for s in samples:
        g.update(s, 0, False)
    assert g.long == pytest.approx(long, rel=1e-12)


def test_a_zero_rtt_is_ignored():
    g = Gradient2(Gradient2Params())
    g.update(0.0, 20, False)
    assert g.count == 0 and g.limit == 20


@pytest.mark.parametrize("inflight, limit", [(9, 20.0), (10, 20.8)])
def test_fewer_than_half_the_limit_in_flight_keeps_it(inflight, limit):
    """At a steady RTT the gradient is 1: limit 20 -> 20 * 0.8 + (20 + 4) * 0.2 = 20.8."""
    g = Gradient2(Gradient2Params())
    g.update(0.01, inflight, False)
    assert g.limit == pytest.approx(limit, rel=1e-12)


def test_the_gradient_is_capped_at_one_and_floored_at_a_half():
    """A sample shorter than the long RTT cannot raise the limit beyond the queue's
    allowance; one much longer cuts it by at most half (before smoothing)."""
    g = Gradient2(Gradient2Params(min_limit=1))
    g.update(0.02, 20, False)
    g.update(0.015, 20, False)  # long = 0.0175 > short: gradient 1, not 1.17
    assert g.limit == pytest.approx(20.8 * 0.8 + (20.8 + 4) * 0.2, rel=1e-12)
    h = Gradient2(Gradient2Params(min_limit=1))
    h.update(0.01, 20, False)
    h.update(0.1, 20, False)  # long / short = 0.55
    h.update(1.0, 20, False)  # long = 0.37, short = 1: gradient floored at 0.5
    lim = 20.8 * 0.8 + (20.8 * 0.55 + 4) * 0.2
    assert h.limit == pytest.approx(lim * 0.8 + (lim * 0.5 + 4) * 0.2, rel=1e-12)
