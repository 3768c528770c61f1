"""Run a scenario under a policy: ``simulate(scenario, policy, seed) -> Result``."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mbsim import policies, streams
from mbsim.engine import budget
from mbsim.engine.run import run_model, server_stats
from mbsim.errors import ConfigError
from mbsim.metrics.result import Result
from mbsim.params import to_dict
from mbsim.world.scenario import Scenario


def simulate(scenario: Scenario | str, policy: str = "mbb", params: Any = None, seed: int = 1,
             duration_s: float | None = None, overrides: Mapping[str, Any] | None = None,
             max_requests: float | None = None,
             arrivals_s: Sequence[float] | np.ndarray | None = None) -> Result:
    """Simulate ``scenario`` (a Scenario or a built-in name) under ``policy``.

    ``params`` are the policy's parameters (dataclass, or a dict of changes to its
    defaults, deep-merged) and ``overrides`` dotted-path changes to them
    (``{"buffer.window_min_ms": 60}``). ``seed`` is an integer in [0, 2**63). A run
    expecting more than ``max_requests`` arrivals is refused (:mod:`mbsim.engine.budget`).
    ``arrivals_s`` (s from time 0, ascending) replace the scenario's random arrivals: request
    *i* arrives at ``arrivals_s[i]`` with every other draw of its own (the realized sends
    of a testbed run, say), and nothing arrives after the last.
    """
    from mbsim.world.catalog import get as get_scenario

    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    if duration_s is not None:
        if not duration_s > 0:
            raise ConfigError(f"duration must be positive, got {duration_s:g}")
        sc = sc.__class__(**{**sc.__dict__, "duration_s": float(duration_s),
                             "warmup_s": min(sc.warmup_s, duration_s / 5)})
    streams.check_seed(seed)
    spec, p = policies.resolve(policy, params, overrides)
    budget.check(sc, max_requests)
    protection = spec.build(p, sc, streams.spawn(seed)["policy"])
    t0 = time.perf_counter()
    gaps = None
    if arrivals_s is not None:
        t = np.asarray(arrivals_s, dtype=float)
        if t.ndim != 1 or (t.size and (t[0] < 0 or np.any(np.diff(t) < 0) or not np.all(np.isfinite(t)))):
            raise ConfigError("arrivals_s must be finite times >= 0 in ascending order (s)")
        gaps = np.diff(t, prepend=0.0).tolist()
    model, rec = run_model(sc, protection, seed, gaps=gaps)
    wall = time.perf_counter() - t0
    metrics = rec.summary(sc.duration_s - sc.warmup_s)
    buffer_info: dict[str, Any] = {}
    adm: Any = protection.admission
    if adm is not None and hasattr(adm, "retuner"):  # the mountain-bike buffer
        buffer_info = {
            "window_ms": adm.window_s * 1e3,
            "capacity": adm.capacity,
            "limit": adm.limit,
            "retunes": len(adm.retuner.retunes),
            "windows_opened": dict(adm.retuner.topology.opened),
        }
    return Result(scenario=sc.name, policy=spec.name, seed=seed, duration_s=sc.duration_s,
                  warmup_s=sc.warmup_s, metrics=metrics, server=server_stats(model), buffer=buffer_info,
                  params=to_dict(p), wall_s=wall, seconds=rec.seconds, transitions=rec.transitions,
                  histogram=rec.hist)


def seeds(base: int, n: int) -> list[int]:
    """``n`` replication seeds derived from ``base`` (stable, distinct)."""
    return [int(x) for x in np.random.SeedSequence(base).generate_state(n, dtype=np.uint32)]
