"""The dynamic window topology (digest 2.1), mapped from the bike onto the service.

Three windows, each opened by its own trigger and each changing one thing:

================  ======================================  ==========================================
window (length)   trigger (bike -> service)               what it changes when it closes
================  ======================================  ==========================================
short (200 ms)    acceleration > 1.8 m/s^2 ->              re-tunes window and capacity from the
                  load acceleration |accel| > 1.8 /s^2     200 ms it covered, instead of waiting up
                  (omega units, see :mod:`sensor`)         to ``adjust_s`` for the periodic re-tune:
                                                           the buffer answers a transient at once
medium (1.2 s)    slope change > 0.03 rad/s ->             fits the damping: every later re-tune
                  change of the load trend angle           moves only ``1 / (1 + cv**2)`` of the way
                  |d slope / dt| > 0.03 rad/s, measured    to its target, cv being the latency's
                  over the window's length                 coefficient of variation in the window
long (8 s)        elevation falling continuously ->        global re-plan: damping back to 1 and a
                  the load trend negative at every         re-tune from the whole 8 s, discarding
                  sample for ``decline_ms``                transient adjustments
================  ======================================  ==========================================

A window that is already open is not re-opened by its trigger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mbsim.params import Params, require

if TYPE_CHECKING:  # pragma: no cover
    from mbsim.mbb.retune import LoadReading, Retuner


@dataclass(frozen=True)
class TopologySettings(Params):
    """Lengths (ms) and trigger thresholds of the three windows."""

    NAME: ClassVar[str] = "buffer.topology"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "sample_ms": (1.0, 60_000.0), "accel_threshold": (0.0, 1_000_000_000.0),
        "slope_rate_threshold": (0.0, 1_000_000_000.0)
    }

    enabled: bool = True
    sample_ms: float = 50.0
    short_ms: float = 200.0
    medium_ms: float = 1200.0
    long_ms: float = 8000.0
    accel_threshold: float = 1.8  # 1/s^2, on omega
    slope_rate_threshold: float = 0.03  # rad/s
    decline_ms: float = 1000.0

    def validate(self) -> None:
        for name in ("short_ms", "medium_ms", "long_ms", "decline_ms"):
            require(getattr(self, name) >= self.sample_ms, f"topology.{name} must be >= sample_ms")
        require(self.accel_threshold > 0 and self.slope_rate_threshold > 0,
                "topology thresholds must be positive")


class Topology:
    """Opens and closes the three windows from the sensor's readings."""

    def __init__(self, s: TopologySettings, retuner: Retuner) -> None:
        self.s = s
        self.retuner = retuner
        self.open_until: dict[str, float | None] = {"short": None, "medium": None, "long": None}
        self.opened = {"short": 0, "medium": 0, "long": 0}
        self._slopes: list[tuple[float, float]] = []
        self._declining_since: float | None = None

    def tick(self, now: float, sensor: LoadReading) -> None:
        if not self.s.enabled:
            return
        s = self.s
        for name, until in self.open_until.items():
            if until is not None and now >= until - 1e-9:
                self.open_until[name] = None
                self._close(name, now)
        # short: load acceleration
        if abs(sensor.accel) > s.accel_threshold:
            self._open("short", now, s.short_ms)
        # medium: change of the trend angle over the medium window's length
        self._slopes.append((now, sensor.slope))
        horizon = now - s.medium_ms / 1e3
        while self._slopes and self._slopes[0][0] < horizon - 1e-9:
            self._slopes.pop(0)
        t0, slope0 = self._slopes[0]
        if now > t0 and abs(sensor.slope - slope0) / (now - t0) > s.slope_rate_threshold:
            self._open("medium", now, s.medium_ms)
        # long: sustained decline
        if sensor.trend < 0:
            if self._declining_since is None:
                self._declining_since = now
            if now - self._declining_since >= s.decline_ms / 1e3 - 1e-9:
                self._open("long", now, s.long_ms)
        else:
            self._declining_since = None

    def _open(self, name: str, now: float, length_ms: float) -> None:
        if self.open_until[name] is None:
            self.open_until[name] = now + length_ms / 1e3
            self.opened[name] += 1

    def _close(self, name: str, now: float) -> None:
        b = self.retuner
        if name == "short":
            b.retune(now, self.s.short_ms / 1e3, "short")
        elif name == "medium":
            _, std_ms, _ = b.stats(self.s.medium_ms / 1e3)
            mean_ms = b.mean_latency_ms(self.s.medium_ms / 1e3)
            cv = std_ms / mean_ms if mean_ms > 0 else 0.0
            b.damping = 1.0 / (1.0 + cv * cv)
        else:
            b.damping = 1.0
            b.retune(now, self.s.long_ms / 1e3, "long")
