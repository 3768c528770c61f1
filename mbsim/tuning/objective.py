"""What a tuning study minimises, and the terrain / mode presets (digest 2.4).

The value of a candidate is its latency metric (ms, mean over the study's seeds) plus
penalties for every violated constraint:

    value = metric + 100 ms * (max(0, min_success - success) / (1 - min_success)
                               + max(0, fallback - max_fallback) / max_fallback
                               + max(0, slo_violation - slo_budget))

so each constraint missed by its own size costs 100 ms. With ``handling="constraint"``
an infeasible candidate is worth ``metric + 10 000 ms`` instead (a wall the optimiser
cannot trade against).

``max_fallback`` matters: the horn answers everything from the snapshot if the deadline
is short enough, so without it "minimise P99" would tune the service away.

Presets: the terrain picks the scenario (spike -> tail-spike, sustained -> sustained,
noisy -> noisy); the mode picks the constraints: *conservative* minimises P99.99 with
success >= 99.99 % and at most 1 % from the snapshot; *aggressive* minimises P99 with
success >= 99.9 % and at most 10 % from the snapshot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mbsim.errors import ConfigError
from mbsim.metrics.registry import (
    FALLBACK_RATIO,
    LATENCY_MEAN_MS,
    P99_MS,
    P999_MS,
    P9999_MS,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
)
from mbsim.params import Params, require

PENALTY_MS = 100.0
WALL_MS = 10_000.0
OBJECTIVE_METRICS = (P99_MS, P9999_MS, P999_MS, LATENCY_MEAN_MS)  # what a study may minimise
TERRAINS = {"spike": "tail-spike", "sustained": "sustained", "noisy": "noisy"}


@dataclass(frozen=True)
class Objective(Params):
    metric: str = P99_MS  # one of OBJECTIVE_METRICS
    min_success: float = 0.999
    max_fallback: float = 0.05
    slo_budget: float | None = None  # None: the scenario's own SLO budget
    handling: Literal["penalty", "constraint"] = "penalty"

    def validate(self) -> None:
        require(self.metric in OBJECTIVE_METRICS,
                f"objective.metric: {self.metric!r} is not one of {', '.join(map(repr, OBJECTIVE_METRICS))}")
        require(0 < self.min_success < 1, "objective.min_success must be in (0, 1)")
        require(0 < self.max_fallback <= 1, "objective.max_fallback must be in (0, 1]")
        require(self.slo_budget is None or 0 <= self.slo_budget <= 1, "objective.slo_budget must be in [0, 1]")

    def slacks(self, m: dict[str, Any], slo_budget: float) -> dict[str, float]:
        """Each constraint's margin, scaled by its own size: >= 0 is met, -1 is missed by its
        own size (success: the shortfall over 1 - min_success; snapshot share: the excess
        over max_fallback; SLO: the share of violating windows over the budget)."""
        budget = self.slo_budget if self.slo_budget is not None else slo_budget
        return {"success": (m[SUCCESS_RATIO] - self.min_success) / (1 - self.min_success),
                "fallback": (self.max_fallback - m[FALLBACK_RATIO]) / self.max_fallback,
                "slo": budget - (m[SLO_VIOLATION_RATIO] or 0.0)}

    def value(self, m: dict[str, Any], slo_budget: float) -> tuple[float, bool]:
        """(value to minimise, feasible?) for mean metrics ``m``: the metric plus penalties
        (see the module docstring). The constrained samplers use the metric and
        :meth:`slacks` instead."""
        misses = sum(max(0.0, -s) for s in self.slacks(m, slo_budget).values())
        feasible = misses <= 0
        if feasible:
            return m[self.metric], True
        extra = WALL_MS if self.handling == "constraint" else PENALTY_MS * misses
        return m[self.metric] + extra, False


MODES = {
    "conservative": Objective(metric=P9999_MS, min_success=0.9999, max_fallback=0.01),
    "aggressive": Objective(metric=P99_MS, min_success=0.999, max_fallback=0.10),
}


def preset(terrain: str | None, mode: str | None) -> tuple[str | None, Objective | None]:
    """(scenario name, objective) of a terrain and a mode (either may be None)."""
    if terrain is not None and terrain not in TERRAINS:
        raise ConfigError(f"unknown terrain {terrain!r} (known: {', '.join(TERRAINS)})")
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    return (TERRAINS[terrain] if terrain else None), (MODES[mode] if mode else None)
