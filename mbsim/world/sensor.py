"""Load sensor: omega, its trend and its acceleration, sampled every ``sample_s``.

Every ``sample_s`` (50 ms) it turns the number of attempts that reached the service in
that interval into ``omega = rate / capacity_rps`` and keeps a short history. From it:

* ``trend`` (1/s): least-squares slope of omega over the last ``trend_window_s``;
  ``slope = atan(trend)`` (rad) is the load function's slope;
* ``accel`` (1/s^2): twice the quadratic coefficient of a least-squares parabola through
  omega over the last ``accel_window_s`` (0.6 s by default; shorter fits are dominated
  by Poisson noise at 10K req/s).

The sensor is part of the service's physics, not of any policy: every policy sees the
same load function.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np


class LoadSensor:
    def __init__(self, capacity_rps: float, sample_s: float = 0.05,
                 trend_window_s: float = 1.2, accel_window_s: float = 0.6) -> None:
        self.capacity_rps = capacity_rps
        self.sample_s = sample_s
        self.n_trend = max(2, round(trend_window_s / sample_s))
        self.n_accel = max(3, round(accel_window_s / sample_s))
        self.history: deque[float] = deque(maxlen=max(self.n_trend, self.n_accel))
        self.count = 0  # attempts since the last sample (the model increments it)
        self.omega = 0.0
        self.trend = 0.0
        self.slope = 0.0
        self.accel = 0.0
        t = np.arange(self.n_trend) * sample_s
        self._trend_x = t - t.mean()
        self._trend_den = float(np.dot(self._trend_x, self._trend_x))
        ta = np.arange(self.n_accel) * sample_s
        self._accel_design = np.vstack([ta ** 2, ta, np.ones_like(ta)]).T
        self._accel_pinv = np.linalg.pinv(self._accel_design)[0]

    def sample(self) -> None:
        """Close the current interval and update omega, trend, slope and accel."""
        rate = self.count / self.sample_s
        self.count = 0
        self.omega = rate / self.capacity_rps
        h = self.history
        h.append(self.omega)
        n = len(h)
        if n >= self.n_trend:
            y = np.fromiter(h, float, n)[-self.n_trend:]
            self.trend = float(np.dot(self._trend_x, y) / self._trend_den)
            self.slope = math.atan(self.trend)
        if n >= self.n_accel:
            y = np.fromiter(h, float, n)[-self.n_accel:]
            self.accel = 2.0 * float(np.dot(self._accel_pinv, y))
