"""The simulator's prediction of a testbed run: the same scenario, seed, arrivals and
settings, the arm's simulated policy, and the testbed's measured constants
(:func:`mbsim.verify.calibrate.apply`). Percentiles come from the run's latency histogram,
with order-statistic intervals read at bucket resolution."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mbsim.engine.simulate import simulate
from mbsim.mbb.settings import MbbSettings
from mbsim.metrics.intervals import Percentile
from mbsim.metrics.registry import P50_MS, P90_MS, P99_MS, P999_MS, P9999_MS
from mbsim.metrics.result import Result
from mbsim.verify import calibrate
from mbsim.verify.arms import Arm
from mbsim.verify.measure import QUANTILES
from mbsim.world.scenario import Scenario


def params_for(arm: Arm, settings: MbbSettings) -> Any:
    """The arm's policy parameters from the verified settings."""
    if arm.policy == "horn":
        return settings
    if arm.policy == "breaker-snapshot":
        return settings.breaker
    return None


def predict(sc: Scenario, arm: Arm, settings: MbbSettings, seed: int, cal: dict[str, Any] | None,
            arrivals_s: Sequence[float] | np.ndarray | None = None) -> Result:
    """Simulate what the testbed run of ``sc`` under ``arm`` with ``seed`` should measure:
    from the planned arrivals (the seed's own), or from ``arrivals_s``, the sends the
    generator really made (s from scenario time 0; request *i* keeps its other draws)."""
    sim_sc = calibrate.apply(sc, cal, arm.name) if cal is not None else sc
    return simulate(sim_sc, policy=arm.policy, params=params_for(arm, settings), seed=seed, arrivals_s=arrivals_s)


NAMES = {"p50": P50_MS, "p90": P90_MS, "p99": P99_MS, "p99_9": P999_MS, "p99_99": P9999_MS}


def percentiles(r: Result) -> dict[str, Percentile]:
    """P50 ... P99.99 (ms) of a simulated run, with their intervals, named as measure names them."""
    pct = r.percentiles()
    return {name: pct[NAMES[name]] for name in QUANTILES}
