"""The watermark loop's rule, and the simulator's buffer running it."""
from __future__ import annotations

import math

import pytest

from mbsim.engine.simulate import simulate
from mbsim.errors import ConfigError
from mbsim.mbb.watermark import RateLimiter, RateLimitSettings, slot_shift


def test_off_by_default_and_then_never_limits() -> None:
    r = RateLimiter(RateLimitSettings())
    assert r.step(1000, 16, 5000) == math.inf


def test_cuts_when_full_raises_when_empty_and_lifts() -> None:
    r = RateLimiter(RateLimitSettings(enabled=True, high=0.8, low=0.5, cut=0.7, raise_by=1.2, floor_rps=10))
    assert r.step(13, 16, 1000.0) == pytest.approx(700.0)  # fill 0.81: 0.7 x what passed
    assert r.step(13, 16, 700.0) == pytest.approx(490.0)  # the smaller of limit and passed
    assert r.step(10, 16, 490.0) == pytest.approx(490.0)  # fill 0.62: holds
    assert r.step(8, 16, 490.0) == pytest.approx(588.0)  # fill 0.5: raised
    for _ in range(3):
        r.step(1, 16, 490.0)
    assert r.limit_rps == math.inf  # twice what passes: lifted


def test_never_under_the_floor() -> None:
    r = RateLimiter(RateLimitSettings(enabled=True, floor_rps=50))
    for _ in range(30):
        r.step(100, 16, 60.0)
    assert r.limit_rps == 50


def test_per_slot_is_the_kernel_form() -> None:
    slot = (1 << slot_shift(50.0)) / 1e9  # 2^23 ns for the article's 50 ms window
    assert slot_shift(50.0) == 23
    assert RateLimiter.per_slot(1000.0, slot) == math.ceil(1000 * slot)
    assert RateLimiter.per_slot(math.inf, slot) == 0
    assert RateLimiter.per_slot(1e-3, slot) == 1


def test_low_above_high_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"low .* > high"):
        RateLimitSettings(enabled=True, low=0.9, high=0.8)


def test_the_simulated_buffer_sheds_once_the_loop_limits() -> None:
    off = simulate("overload", "mbb", seed=3, duration_s=8).metrics
    same = simulate("overload", "mbb", seed=3, duration_s=8, overrides={"buffer.rate_limit.enabled": True}).metrics
    # the default thresholds are never reached here: enabling the loop changes nothing
    assert same["p99_ms"] == off["p99_ms"] and same["fallback_ratio"] == off["fallback_ratio"]
    tight = simulate("overload", "mbb", seed=3, duration_s=8,
                     overrides={"buffer.rate_limit.enabled": True, "buffer.rate_limit.high": 0.05,
                                "buffer.rate_limit.low": 0.01}).metrics
    assert tight["fallback_ratio"] > off["fallback_ratio"] + 0.2
    assert tight["p99_ms"] < off["p99_ms"]
