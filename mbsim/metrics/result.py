"""The result of one run: metrics as a dataclass, a DataFrame row and JSON."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mbsim.metrics import registry
from mbsim.metrics.histogram import LogHistogram
from mbsim.metrics.intervals import Percentile, histogram_percentile
from mbsim.metrics.recorder import Recorder
from mbsim.metrics.registry import P50_MS, P90_MS, P99_MS, P999_MS, P9999_MS

PERCENTILES = registry.percentiles((P50_MS, P90_MS, P99_MS, P999_MS, P9999_MS))


def _clean(v: Any) -> Any:
    """JSON-safe values: NaN/inf become None, numpy scalars become Python ones."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass
class Result:
    """Metrics of one (scenario, policy, seed) run; see :mod:`mbsim.metrics.recorder` for definitions."""

    scenario: str
    policy: str
    seed: int
    duration_s: float
    warmup_s: float
    metrics: dict[str, Any]
    server: dict[str, float]
    buffer: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    wall_s: float = math.nan
    seconds: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    transitions: list[tuple[float, int]] = field(default_factory=list, repr=False)
    histogram: LogHistogram | None = field(default=None, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    def percentiles(self, level: float = 0.95) -> dict[str, Percentile]:
        """Latency percentiles (ms) from the run's histogram, each with its distribution-free
        interval (read at bucket resolution), its sample count beyond it, and whether that
        count makes it meaningful (100 or more). Keys as in ``metrics``: p50_ms ... p9999_ms."""
        h = self.histogram
        if h is None:
            return {}
        edges = h.edges() * 1e3
        return {name: histogram_percentile(h.counts, edges, q, level) for name, q in PERCENTILES.items()}

    @property
    def timeseries(self) -> pd.DataFrame:
        """One row per complete second after warm-up (see ``Recorder.COLUMNS``)."""
        return pd.DataFrame(self.seconds, columns=list(Recorder.COLUMNS))

    def row(self) -> dict[str, Any]:
        base = {"scenario": self.scenario, "policy": self.policy, "seed": self.seed}
        flat = {k: v for k, v in self.metrics.items() if not isinstance(v, dict)}
        return {**base, **flat}

    def frame(self) -> pd.DataFrame:
        """The metrics as a one-row DataFrame."""
        return pd.DataFrame([self.row()])

    def to_dict(self, timeseries: bool = False) -> dict[str, Any]:
        out = {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "metrics": self.metrics,
            "server": self.server,
            "buffer": self.buffer,
            "params": self.params,
            "wall_s": self.wall_s,
            "breaker_transitions": [[t, s] for t, s in self.transitions],
            "percentiles": {k: p.as_dict() for k, p in self.percentiles().items()},
        }
        if timeseries:
            out["timeseries"] = self.timeseries.to_dict(orient="list")
        typed: dict[str, Any] = _clean(out)
        return typed

    def to_json(self, indent: int | None = 2, timeseries: bool = False) -> str:
        return json.dumps(self.to_dict(timeseries), indent=indent)
