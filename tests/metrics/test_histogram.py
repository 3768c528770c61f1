"""The log-bucketed histogram at its edges, by hand: r = 1 + 2 * 5e-4, bucket k is
[1 us * r**k, 1 us * r**(k+1)), below 1 us is bucket 0, above 1000 s the last bucket."""
from __future__ import annotations

import numpy as np
import pytest

from mbsim.metrics.histogram import LogHistogram

R = 1.001
LO, HI = 1e-6, 1e3


@pytest.mark.parametrize("v", [2e-6, 1e-3, 0.7, 999.0, 999.9])
def test_one_value_is_reported_within_the_relative_error(v):
    h = LogHistogram()
    h.add(np.array([v]))
    assert h.n == 1 and h.quantile(0.5) == pytest.approx(v, rel=5e-4)


def test_below_the_floor_is_the_first_bucket_and_above_the_ceiling_the_last():
    h = LogHistogram()
    h.add(np.array([1e-9]))
    assert h.quantile(0.5) == pytest.approx(LO * R ** 0.5, rel=1e-12)  # bucket 0's midpoint
    top = LogHistogram()
    top.add(np.array([1e6, 1e9]))
    q = top.quantile(1.0)
    assert HI <= q < HI * R ** 1.5  # the bucket just above 1000 s, for both
    assert top.quantile(0.0) == q


def test_counts_totals_and_the_cdf_add_up_across_calls_and_merges():
    a, b = LogHistogram(), LogHistogram()
    a.add(np.array([0.001]))
    a.add(np.array([0.002, 0.004]))
    b.add(np.array([0.008]))
    assert (a.n, a.mean) == (3, pytest.approx(0.007 / 3))
    x, share = a.cdf()
    assert share.tolist() == [1 / 3, 2 / 3, 1.0]
    for edge, v in zip(x, (0.001, 0.002, 0.004), strict=True):  # each bucket's upper edge
        assert v < edge <= v * R
    a.merge(b)
    assert (a.n, a.total) == (4, pytest.approx(0.015))
    assert a.cdf()[1].tolist() == [0.25, 0.5, 0.75, 1.0] and a.quantile(1.0) == pytest.approx(0.008, rel=5e-4)
    assert b.n == 1  # the other is left as it was


def test_the_cdf_of_one_value():
    h = LogHistogram()
    h.add(np.array([0.5]))
    x, share = h.cdf()
    assert share.tolist() == [1.0] and 0.5 < x[0] <= 0.5 * R


def test_an_empty_histogram():
    h = LogHistogram()
    h.add(np.array([]))
    x, share = h.cdf()
    assert h.n == 0 and x.size == 0 and share.size == 0
    assert np.isnan(h.quantile(0.5)) and np.isnan(h.mean)


def test_the_edges_are_the_powers_of_r():
    h = LogHistogram()
    e = h.edges()
    assert e[0] == LO and e[1] == pytest.approx(LO * R, rel=1e-12) and e[10] == pytest.approx(LO * R ** 10, rel=1e-12)
    assert len(e) == h.size + 1 and e[-2] >= HI > e[-3]  # the last bucket starts at or above 1000 s
