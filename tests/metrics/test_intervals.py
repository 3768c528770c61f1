"""Confidence intervals by hand: Student-t from table values, batch means, order-statistic
ranks against a binomial written out with math.comb, sectioning and histogram percentiles."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mbsim.metrics import intervals as iv

T_3_975, T_3_95, T_19_975 = 3.182446305284263, 2.353363434801823, 2.093024054408263  # Student-t table


def binom_ppf(p: float, n: int, q: float) -> int:
    """Smallest k with P(Binomial(n, q) <= k) >= p, summed term by term."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * q ** k * (1 - q) ** (n - k)
        if total >= p - 1e-12:
            return k
    return n


def test_t_interval_by_hand():
    sd = math.sqrt(5 / 3)  # 1, 2, 3, 4
    ci = iv.t_interval([1.0, 2.0, None, 3.0, math.nan, 4.0])  # type: ignore[list-item]  # gaps dropped
    assert (ci.mean, ci.n, ci.level) == (2.5, 4, 0.95)
    assert ci.low == pytest.approx(2.5 - T_3_975 * sd / 2, rel=1e-9)
    assert ci.high == pytest.approx(2.5 + T_3_975 * sd / 2, rel=1e-9)
    assert ci.half_width == pytest.approx(T_3_975 * sd / 2, rel=1e-9)
    assert ci.low in ci and ci.high in ci and math.nextafter(ci.high, 9.0) not in ci
    assert iv.t_interval([1, 2, 3, 4], level=0.9).half_width == pytest.approx(T_3_95 * sd / 2, rel=1e-9)
    assert ci.as_dict() == {"mean": 2.5, "ci_low": ci.low, "ci_high": ci.high, "n": 4, "level": 0.95}
    one = iv.t_interval([7.0])
    assert one.mean == 7.0 and one.n == 1 and math.isnan(one.low) and math.isnan(one.high)
    none = iv.t_interval([], level=0.9)
    assert none.n == 0 and none.level == 0.9 and all(math.isnan(v) for v in (none.mean, none.low, none.high))
    assert iv.t_interval([7.0], level=0.9).level == 0.9
    two = iv.t_interval([1.0, 3.0])  # two values have a spread: t(0.975, 1) = 12.706
    assert two.half_width == pytest.approx(12.706204736174698 * math.sqrt(2) / math.sqrt(2), rel=1e-9)
    assert iv.naive([1.0, 2.0, 3.0, 4.0]).level == 0.95
    assert iv.naive([1.0, 2.0, 3.0, 4.0], level=0.9) == iv.t_interval([1.0, 2.0, 3.0, 4.0], level=0.9)


def test_batch_means_cut_the_series_into_contiguous_batches():
    ci = iv.batch_means(list(range(42)), batches=4)  # 4 batches of 10; the last 2 dropped
    means = [4.5, 14.5, 24.5, 34.5]
    assert ci.mean == 19.5 and ci.n == 4
    assert ci.half_width == pytest.approx(T_3_975 * np.std(means, ddof=1) / 2, rel=1e-9)
    with pytest.raises(ValueError, match="need at least 20 observations, got 19"):
        iv.batch_means(range(19))
    assert iv.batch_means(range(20)).n == 20  # batches of one
    assert iv.batch_means(list(range(42)), batches=4, level=0.9).half_width == pytest.approx(
        T_3_95 * np.std(means, ddof=1) / 2, rel=1e-9)


@pytest.mark.parametrize("n, q", [(100, 0.5), (100, 0.99), (50, 0.99), (1000, 0.9), (10, 0.95), (10, 0.05)])
def test_order_ranks_are_the_binomial_quantiles(n, q):
    k, lo, hi = iv.order_ranks(n, q)
    assert k == min(n - 1, math.ceil(q * n) - 1)
    assert lo == max(0, binom_ppf(0.025, n, q) - 1) and hi == min(n - 1, binom_ppf(0.975, n, q))


def test_order_ranks_at_the_ends():
    assert iv.order_ranks(10, 0.0)[0] == 0 and iv.order_ranks(10, 1.0)[0] == 9


def test_a_percentile_of_one_run_by_hand():
    x = np.random.default_rng(3).permutation(np.arange(1.0, 101.0))  # 1 .. 100
    p = iv.percentile(np.append(x, math.nan), 0.99)
    assert (p.value, p.n, p.beyond) == (99.0, 100, 1)  # rank 98 (0-based); 100 is beyond it
    assert (p.low, p.high) == (float(binom_ppf(0.025, 100, 0.99)), 100.0)  # ranks ppf - 1 and n - 1
    assert not p.meaningful and p.as_dict()["meaningful"] is False
    thin = iv.percentile(x, 0.99, thin=2)  # as wide as 50 independent values allow
    lo50 = binom_ppf(0.025, 50, 0.99) - 1
    assert (thin.value, thin.beyond) == (99.0, 0) and thin.low == float(int(lo50 * 2) + 1) and thin.high == 100.0
    odd = np.arange(1.0, 102.0)  # 101 values, thinned by 2: as wide as 50 allow
    o = iv.percentile(odd, 0.9, thin=2)
    lo50, hi50 = binom_ppf(0.025, 50, 0.9) - 1, min(49, binom_ppf(0.975, 50, 0.9))
    assert o.low == float(int(lo50 * 101 / 50)) + 1
    assert o.high == float(min(100, math.ceil((hi50 + 1) * 101 / 50) - 1)) + 1
    top = iv.percentile(np.arange(10.0), 0.999)  # every rank at the largest value
    assert (top.value, top.low, top.high) == (9.0, 9.0, 9.0)
    lone = iv.percentile(x, 0.99, thin=1000)  # fewer independent values than one: the whole range
    assert (lone.low, lone.high) == (1.0, 100.0)
    assert (iv.percentile(x, 0.0).value, iv.percentile(x, 1.0).value) == (1.0, 100.0)
    for empty in (iv.percentile([], 0.5, level=0.9), iv.histogram_percentile(np.zeros(3), np.arange(4.0), 0.5, 0.9)):
        assert (empty.q, empty.n, empty.beyond, empty.level) == (0.5, 0, 0, 0.9)
        assert all(math.isnan(v) for v in (empty.value, empty.low, empty.high))


def test_the_level_is_carried_through():
    x = np.arange(1000.0)
    p95, p90 = iv.percentile(x, 0.9), iv.percentile(x, 0.9, level=0.9)
    assert (p90.q, p90.level) == (0.9, 0.9) and p95.low < p90.low and p90.high < p95.high
    assert (p95.low, p95.high) == (float(binom_ppf(0.025, 1000, 0.9) - 1), float(binom_ppf(0.975, 1000, 0.9)))
    s95, s90 = iv.percentile(x, 0.9, sections=20), iv.percentile(x, 0.9, level=0.9, sections=20)
    assert s90.level == 0.9 and s90.high - s90.low < s95.high - s95.low
    h = iv.histogram_percentile(np.ones(1000, dtype=int), np.arange(1001.0), 0.9, level=0.9)
    assert (h.q, h.level, h.low) == (0.9, 0.9, float(binom_ppf(0.05, 1000, 0.9) - 1))


def test_a_percentile_as_a_dict_and_its_interval():
    p = iv.percentile(np.arange(1.0, 101.0), 0.5)
    assert p.as_dict() == {"value": 50.0, "ci_low": p.low, "ci_high": p.high, "n": 100, "beyond": 50,
                           "meaningful": False, "level": 0.95}
    assert p.low in p and p.high in p and math.nextafter(p.low, 0.0) not in p


def test_a_percentile_needs_100_samples_beyond_it_to_be_meaningful():
    assert iv.percentile(np.arange(10000.0), 0.99).beyond == 100
    assert iv.percentile(np.arange(10000.0), 0.99).meaningful
    assert iv.percentile(np.arange(9999.0), 0.99).beyond == 99
    assert not iv.percentile(np.arange(9999.0), 0.99).meaningful


def test_sectioning_by_hand():
    """Section s holds (s, s): section medians 0..19, the whole median 9 (inverted cdf:
    the interpolated median of a section of (s, s + 1) would be s + 0.5)."""
    x = np.repeat(np.arange(20.0), 2)
    low, high = iv.sectioned(np.append(x, math.nan), 0.5)
    half = T_19_975 * np.std(np.arange(20.0), ddof=1) / math.sqrt(20)
    assert low == pytest.approx(9 - half, rel=1e-9) and high == pytest.approx(9 + half, rel=1e-9)
    assert all(math.isnan(v) for v in iv.sectioned(np.arange(39.0), 0.5))  # fewer than 2 per section
    pairs = np.arange(40.0)  # sections (2s, 2s + 1): inverted-cdf medians 0, 2, .., 38; whole 19
    p_low, p_high = iv.sectioned(pairs, 0.5)
    p_half = T_19_975 * np.std(np.arange(0.0, 40.0, 2.0), ddof=1) / math.sqrt(20)
    assert (p_low, p_high) == (pytest.approx(19 - p_half), pytest.approx(19 + p_half))
    wide = iv.percentile(x, 0.5, sections=20)
    plain = iv.percentile(x, 0.5)
    assert wide.low == min(plain.low, low) and wide.high == max(plain.high, high)
    assert wide.value == plain.value == 9.0
    short = iv.percentile(np.arange(30.0), 0.5, sections=20)  # no sections possible: order statistics only
    ref = iv.percentile(np.arange(30.0), 0.5)
    assert (short.low, short.high) == (ref.low, ref.high)
    flat = np.array([[0.0, float(s)] for s in range(20)]).ravel()  # every section's lower median is 0
    assert iv.sectioned(flat, 0.5) == (0.0, 0.0)


def test_a_histogram_percentile_reads_its_buckets():
    counts = np.array([0, 10, 0, 90])
    edges = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    p = iv.histogram_percentile(counts, edges, 0.5)  # rank 49, in the last bucket
    assert (p.value, p.low, p.high, p.n, p.beyond) == (math.sqrt(8 * 16), 8.0, 16.0, 100, 50)
    low = iv.histogram_percentile(counts, edges, 0.05)  # rank 4: bucket 1; its interval reaches bucket 3
    assert (low.value, low.low, low.high) == (math.sqrt(2 * 4), 2.0, 16.0)
    tenth = iv.histogram_percentile(counts, edges, 0.1)  # rank 9, the last of bucket 1
    assert tenth.value == math.sqrt(2 * 4)
