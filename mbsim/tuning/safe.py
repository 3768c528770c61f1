"""The online loop's sampler: the constrained GP, allowed only where it predicts safety.

SafeOpt (Sui et al., 2015) evaluates only points whose constraint the model predicts met
with high probability, growing the safe set outward from a seed known to be safe. mbsim's
form of it, on the default sampler's models (:class:`~mbsim.tuning.constrained.ConstrainedGP`):

* the first evaluation is the seed (the settings in force, or ``--from`` a study's best),
  then ``n_local`` points near it (steps of ``step`` in the unit cube): a few points
  where safety is likely before the models know anything;
* after that, a candidate is eligible only when it lies within ``reach`` (0.2 in the unit
  cube) of a point measured safe - the safe set grows outward, as SafeOpt's does under its
  Lipschitz bound; a GP fitted on a few points is confident far from them for no reason -
  and P(P99 <= target and every constraint met) >= ``confidence`` (0.95) under the models;
  among the eligible, the one with the best log EI x P(feasible) is taken;
* with no eligible candidate, it proposes the best safe point seen so far again (a
  re-measurement is safe, and it refines the models there).

The candidates are the constrained GP's: Sobol points and perturbations of the best.
"""
from __future__ import annotations

import math

import numpy as np

from mbsim.dimension import Dimension
from mbsim.tuning.constrained import RADIUS, ConstrainedGP, log_ei

CONFIDENCE = 0.95


class SafeGP(ConstrainedGP):
    """EI x P(feasible) over the points predicted safe at ``confidence``."""

    name = "safe"

    def __init__(self, dims: list[Dimension], seed: int, slo_target_ms: float | None, start: dict[str, float],
                 confidence: float = CONFIDENCE, n_local: int = 2, step: float = 0.08, reach: float = 0.2) -> None:
        super().__init__(dims, seed, slo_target_ms, n_initial=0)
        self.start = {d.name: d.clip(start[d.name]) for d in dims}
        self.confidence = confidence
        self.n_local = n_local
        self.step = step
        self.reach = reach
        self.unsafe_skipped = 0  # candidates refused because they were not predicted safe (last ask)

    def _ask(self, n: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        for _ in range(n):
            done = len(self.X) + len(self.pending)
            if done == 0:
                u = self._unit(self.start)
            elif done <= self.n_local:
                u = self._fresh(np.clip(self._unit(self.start) + self.rng.normal(0, self.step, (64, len(self.dims))),
                                        0, 1))
            else:
                u = self._safe_pick()
            self.pending.append(u)
            out.append(self._params(u))
        return out

    def _safe_pick(self) -> np.ndarray:
        if not self.X:
            return self._unit(self.start)
        C = self._candidates()
        C = C[np.array([not self._taken(c) for c in C])]
        gp_y, gps, gp_p99 = self._models(np.array(self.X))
        log_pf = self.log_pf(C, gps, gp_p99)
        safe = log_pf >= math.log(self.confidence)
        known = [x for o, x in zip(self.obs, self.X) if o.feasible]
        if known:
            near = np.min(np.linalg.norm(C[:, None, :] - np.array(known)[None, :, :], axis=2), axis=1)
            safe &= near <= self.reach
        else:
            safe &= False
        for p in self.pending:
            safe &= np.linalg.norm(C - p, axis=1) > RADIUS
        self.unsafe_skipped = int((~safe).sum())
        feasible = [(o.metric, x) for o, x in zip(self.obs, self.X) if o.feasible]
        if not safe.any():
            # nothing new is predicted safe: measure the best safe point again
            again: np.ndarray = min(feasible, key=lambda t: t[0])[1] if feasible else self._unit(self.start)
            return again
        C, log_pf = C[safe], log_pf[safe]
        score = log_pf
        if feasible:
            mu, sd = gp_y.predict(C, return_std=True)
            best = math.log(min(m for m, _ in feasible))
            score = score + log_ei(mu, np.maximum(sd, 1e-9), best)
        best_u: np.ndarray = C[int(np.argmax(score))]
        return best_u
