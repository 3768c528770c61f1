"""The terrain of the load (digest 2.4's ``terrain`` label): spike, sustained or noisy.

The rule reads the offered rate (req/s) in the last ``span`` samples of equal length (the
controller's: 20 samples of 250 ms, 5 s):

* **spike**: the newest ``recent`` samples (two: 0.5 s) hold one at least ``spike_ratio``
  (2) times the median of the span - a burst well above the usual load;
* **noisy**: otherwise, when the span's coefficient of variation (stddev / mean) is at
  least ``noisy_cv`` (0.25) - the load wanders without a burst;
* **sustained**: otherwise - the load holds steady (whatever its level).

With fewer than ``span // 2`` samples, or no load at all, the terrain is ``sustained``: there
is nothing to react to. The thresholds are mbsim's (the article names the terrains, not
their rule); tests/world/test_terrain.py checks each kind on synthetic traces.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

import numpy as np

Terrain = Literal["spike", "sustained", "noisy"]
TERRAINS: tuple[Terrain, ...] = ("spike", "sustained", "noisy")


def classify(rates: Iterable[float], spike_ratio: float = 2.0, noisy_cv: float = 0.25, recent: int = 2,
             min_samples: int = 10) -> Terrain:
    """The terrain of a series of offered rates (req/s, oldest first)."""
    x = np.asarray(list(rates), float)
    if len(x) < min_samples or not np.any(x > 0):
        return "sustained"
    med = float(np.median(x))
    if float(np.max(x[-recent:])) >= spike_ratio * max(med, 1e-9):
        return "spike"
    mean = float(np.mean(x))
    if float(np.std(x)) / mean >= noisy_cv:
        return "noisy"
    return "sustained"


class TerrainSensor:
    """The rule above on a live load: ``add(requests)`` once per ``sample_s`` (s)."""

    def __init__(self, sample_s: float = 0.25, span: int = 20) -> None:
        self.sample_s = sample_s
        self.rates: deque[float] = deque(maxlen=span)
        self.terrain: Terrain = "sustained"

    def add(self, requests: int) -> Terrain:
        self.rates.append(requests / self.sample_s)
        self.terrain = classify(self.rates, min_samples=max(2, (self.rates.maxlen or 2) // 2))
        return self.terrain
