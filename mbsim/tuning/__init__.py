"""Bayesian tuning of the mountain-bike settings: scenario + objective -> settings.json.

One concept per module: a searched parameter (:mod:`dimension`), a policy's search space
(:mod:`space`), the objective (:mod:`objective`),
evaluating a candidate (:mod:`evaluate`), the samplers behind one interface
(:mod:`samplers`; the default, constrained GP in :mod:`constrained`; the trade-off front in
:mod:`pareto`), where evaluations run (:mod:`executors`), where they are kept
(:mod:`storage`), and the study loop (:mod:`study`).
"""
from __future__ import annotations

from typing import Any


def tune(scenario: str = "tail-spike", budget: int = 40, backend: str = "skopt", name: str | None = None,
         root: str = "data/studies", workers: int | None = None, seed: int = 1, n_seeds: int = 2,
         quick: bool = False, dims: list[str] | None = None, policy: str = "mbb",
         **objective: Any) -> dict[str, Any]:
    """Run a tuning study of the mountain-bike settings (or of a peer's parameters:
    ``policy="hystrix"``...) for ``scenario`` on this machine.

    ``objective`` takes the :class:`~mbsim.tuning.objective.Objective` fields
    (``metric="p99_ms"``, ``min_success``, ``max_fallback``, ``handling``). Returns the
    summary that ``settings.json`` in ``root/NAME`` also holds.
    """
    from mbsim.params import override
    from mbsim.tuning import space, study
    from mbsim.tuning.executors import LocalExecutor
    from mbsim.tuning.objective import Objective
    from mbsim.tuning.storage import StudyStore

    label = "" if policy == "mbb" else f"{policy}-"
    name = name or f"{scenario}-{label}{backend}{'-quick' if quick else ''}"
    cfg = study.StudyConfig(name=name, scenario=scenario, objective=override(Objective(), objective),
                            dims=space.build(dims, policy=policy), budget=budget, backend=backend, seed=seed,
                            n_seeds=n_seeds, quick=quick, batch=max(1, workers or 2), policy=policy)
    executor = LocalExecutor(workers)
    try:
        return study.run(cfg, StudyStore(name, root), executor)
    finally:
        executor.close()
