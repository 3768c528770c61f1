"""``mbsim bench bpf``'s reading of its rounds: the median of paired ratios, its interval, and no
verdict when the interval is too wide (the figures themselves need the kernel: see the README)."""
from __future__ import annotations

import pytest

from mbsim.bench import bpf


def test_the_ratio_is_the_median_of_the_paired_rounds_with_an_order_statistic_interval():
    ratios = [2.0 + 0.01 * k for k in range(41)]  # 2.00 .. 2.40, median 2.20
    r = bpf._paired(ratios)
    assert r["median"] == pytest.approx(2.20) and r["rounds"] == 41
    # 41 samples, 95 %: Binomial(41, 0.5)'s 2.5 % quantile is 14, so the interval runs from the
    # 14th smallest round (rank 13, 0-based) to rank 27
    assert r["ci_low"] == pytest.approx(2.0 + 0.01 * 13) and r["ci_high"] == pytest.approx(2.0 + 0.01 * 27)
    assert r["width"] == pytest.approx(0.14 / 2.20) and r["stable"] is True


def test_a_wide_interval_gives_no_verdict():
    noisy = [1.0 + 0.05 * k for k in range(41)]  # the middle rounds alone span 1.70 .. 2.35
    r = bpf._paired(noisy)
    assert r["width"] > bpf.WIDE and r["stable"] is False
    out = {"runs": 20000, "answer_ratio": r, "answer_logged_ratio": r, "pass_ratio": r, "goal_answer_ratio": 3.0,
           "answer_ns_per_packet": 300.0, "empty_ns_per_packet": 100.0, "empty_ns_rounds_min_max": [47.0, 107.0],
           "decision_log_ns": 20.0, "answer_breakdown_ns": {"parse and decide": 50.0},
           "pass_ns_per_packet_repeat": 60.0, "empty_ns_per_packet_repeat": 40.0}
    text = bpf.format(out)
    assert "too noisy for a verdict" in text and "goal <= 3" not in text
    steady = bpf._paired([2.0] * 41)
    out |= {"answer_ratio": steady}
    assert "answer / empty program: 2.00 (95 % CI 2.00..2.00, 41 paired rounds) -> goal <= 3: met" in bpf.format(out)
