"""The terrain rule on synthetic load traces of each kind."""
from __future__ import annotations

import numpy as np
import pytest

from mbsim.world.terrain import TerrainSensor, classify

RNG = np.random.default_rng(7)


def steady(n: int = 20, level: float = 1000.0) -> list[float]:
    return list(level * (1 + 0.03 * RNG.standard_normal(n)))


def test_a_steady_load_is_sustained_at_any_level() -> None:
    for level in (10.0, 1000.0, 50_000.0):
        assert classify(steady(level=level)) == "sustained"


def test_a_wandering_load_is_noisy() -> None:
    x = 1000 * np.exp(0.4 * RNG.standard_normal(20))  # lognormal, sd 0.4: CV about 0.42
    x[-2:] = 1000.0  # no burst at the end
    assert classify(x) == "noisy"


def test_a_burst_at_the_end_is_a_spike_even_on_a_noisy_base() -> None:
    x = steady()
    x[-1] = 3000.0
    assert classify(x) == "spike"
    y = list(1000 * np.exp(0.3 * RNG.standard_normal(20)))
    y[-2] = 2.5 * float(np.median(y))
    assert classify(y) == "spike"


def test_the_thresholds_are_the_documented_ones() -> None:
    x = [1000.0] * 18 + [1000.0, 1999.0]
    assert classify(x) != "spike"
    x[-1] = 2000.0
    assert classify(x) == "spike"
    # CV just under and over 0.25, no burst: alternate levels 1 +- a (CV = a)
    for a, want in ((0.24, "sustained"), (0.26, "noisy")):
        z = [1000 * (1 + a * (-1) ** i) for i in range(20)]
        assert classify(z) == want


@pytest.mark.parametrize("rates", [[], [100.0] * 5, [0.0] * 20])
def test_too_little_or_no_load_is_sustained(rates: list[float]) -> None:
    assert classify(rates) == "sustained"


def test_the_sensor_follows_a_load_whose_terrain_changes() -> None:
    s = TerrainSensor(sample_s=0.25, span=20)
    seen = [s.add(int(250 * (1 + 0.02 * RNG.standard_normal()))) for _ in range(20)]
    assert seen[-1] == "sustained"
    assert s.add(750) == "spike"  # 3000 req/s against a median of 1000
