"""The search space: which mountain-bike settings tuning may move, and how far.

Each dimension is a dotted path into :class:`~mbsim.mbb.settings.MbbSettings` with bounds.
The defaults bracket the article's values (digest 1, 2.5, 4.1) and stretch them where
a scenario can use it:

==========================  =============  ========  ================================================
dimension                   bounds         article   meaning
==========================  =============  ========  ================================================
buffer.window_min_ms        5 - 200 (log)  50        shortest admission window: the longest expected
                                                     wait admitted when latency is steady
buffer.window_max_ms        50 - 400 (log) 200       longest window, reached when stddev >= scale
buffer.capacity_min         2 - 64 (log)   16        ring slots at low request rates
buffer.capacity_max         16 - 1024 (log) 256      ring slots at high request rates
buffer.stddev_scale_ms      1 - 100 (log)  10        the 10 in clamp(stddev / 10): the stddev gain
buffer.rps_scale            1 - 1000 (log) 10        the 10 in log2(rps / 10): the RPS gain
buffer.adjust_s             0.2 - 10 (log) 2         re-tuning period
fallback.deadline_ms        1 - 50 (log)   5         the horn's hard deadline (the article's > 5 ms)
breaker.failure_ratio       0.1 - 0.9      0.5       failure share that trips the breaker
breaker.min_calls           5 - 200 (log)  20        calls in the window before the ratio counts
breaker.open_ms             100 - 10000    1000      time OPEN before probing
==========================  =============  ========  ================================================

A candidate whose minimum exceeds its maximum (window or capacity) is repaired by
lowering the minimum to the maximum.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mbsim.errors import ConfigError
from mbsim.mbb.settings import MbbSettings
from mbsim.params import override, to_dict


@dataclass(frozen=True)
class Dimension:
    name: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ConfigError(f"dimension {self.name}: bounds must be finite, got {self.low:g}:{self.high:g}")
        if not self.low < self.high:
            raise ConfigError(f"dimension {self.name}: bounds inverted or empty ({self.low:g} >= {self.high:g})")
        if self.log and self.low <= 0:
            raise ConfigError(f"dimension {self.name}: a log-scaled dimension needs a positive lower bound")

    def clip(self, v: float) -> float:
        v = min(self.high, max(self.low, v))
        return round(v) if self.integer else float(v)


DEFAULT_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("buffer.window_min_ms", 5, 200, log=True),
    Dimension("buffer.window_max_ms", 50, 400, log=True),
    Dimension("buffer.capacity_min", 2, 64, integer=True, log=True),
    Dimension("buffer.capacity_max", 16, 1024, integer=True, log=True),
    Dimension("buffer.stddev_scale_ms", 1, 100, log=True),
    Dimension("buffer.rps_scale", 1, 1000, log=True),
    Dimension("buffer.adjust_s", 0.2, 10, log=True),
    Dimension("fallback.deadline_ms", 1, 50, log=True),
    Dimension("breaker.failure_ratio", 0.1, 0.9),
    Dimension("breaker.min_calls", 5, 200, integer=True, log=True),
    Dimension("breaker.open_ms", 100, 10000, log=True),
)
KNOWN = {d.name: d for d in DEFAULT_DIMENSIONS}


def _exists(name: str) -> bool:
    node: Any = to_dict(MbbSettings())
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, (int, float)) and not isinstance(node, bool)


def build(names: Iterable[str] | None = None, bounds: Mapping[str, tuple[float, float]] | None = None
          ) -> list[Dimension]:
    """The space: ``names`` (default: all) with ``bounds`` overriding their ranges."""
    names = list(names) if names else list(KNOWN)
    if len(set(names)) != len(names):
        raise ConfigError("a dimension is listed twice")
    dims = []
    for n in names:
        if n in KNOWN:
            d = KNOWN[n]
        elif _exists(n):
            d = None
        else:
            raise ConfigError(f"unknown dimension {n!r} (known: {', '.join(KNOWN)})")
        if bounds and n in bounds:
            lo, hi = bounds[n]
            integer = d.integer if d else isinstance(getattr_path(MbbSettings(), n), int)
            d = Dimension(n, lo, hi, integer=integer, log=(d.log if d else False) and lo > 0)
        if d is None:
            raise ConfigError(f"dimension {n!r} needs bounds (--bounds {n}=LOW:HIGH)")
        for end in (d.low, d.high):  # both ends must be settings that validate
            try:
                override(MbbSettings(), {n: round(end) if d.integer else end})
            except ConfigError as exc:
                raise ConfigError(f"--bounds {n}: {end:g} is not a valid value ({exc})") from None
        dims.append(d)
    for n in bounds or {}:
        if n not in names:
            raise ConfigError(f"bounds given for {n!r}, which is not a dimension of this study")
    return dims


def getattr_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


PAIRS = (("buffer.window_min_ms", "buffer.window_max_ms"), ("buffer.capacity_min", "buffer.capacity_max"))


def repaired(params: Mapping[str, float], base: MbbSettings | None = None) -> dict[str, float]:
    """``params`` as they will run: a minimum above its maximum (given, or the base's) is
    lowered to it, and then appears among the returned names even if it was not given."""
    p = dict(params)
    base = base or MbbSettings()
    for lo, hi in PAIRS:
        a = p.get(lo, getattr_path(base, lo))
        b = p.get(hi, getattr_path(base, hi))
        if a > b:
            p[lo] = b
    return p


def settings_from(params: Mapping[str, float], base: MbbSettings | None = None) -> MbbSettings:
    """Settings with ``params`` applied (repairing inverted min/max pairs, see :func:`repaired`)."""
    base = base or MbbSettings()
    return override(base, repaired(params, base))


def defaults(dims: list[Dimension]) -> dict[str, float]:
    """The article's values of these dimensions."""
    s = MbbSettings()
    return {d.name: getattr_path(s, d.name) for d in dims}


def parse_bounds(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items:
        name, sep, rng = item.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2):
                raise ValueError
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ConfigError(f"--bounds wants NAME=LOW:HIGH, got {item!r}") from None
    return out


