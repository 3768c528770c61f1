"""The default sampler: scikit-optimize's Gaussian processes with the constraints modelled
apart from the objective (expected improvement times the probability of feasibility).

A penalised objective (``skopt-penalty``) puts a wide plateau over a narrow feasible
valley; a GP fits the plateau as flat noise and samples its edges. Here instead:

* the space is the unit cube (log-scaled where a dimension spans decades, see
  :class:`~mbsim.dimension.Dimension`), started with 8 scrambled Sobol points;
* one GP (skopt's ``GaussianProcessRegressor``, Matern 5/2 with automatic relevance and a
  fitted noise level) models the log of the metric, and one more each constraint's slack
  (:meth:`~mbsim.tuning.objective.Objective.slacks`, in a signed log so that a miss by
  100x does not flatten the rest);
* the SLO rule (at most ``budget`` of the 1-s windows with their P99 above the target)
  takes a few values over a short run and a GP fits it badly: it is judged through the
  P99 model instead, as the probability that P99 stays below the target;
* the next point maximises log EI + sum of log P(feasible) over 2048 Sobol candidates and
  local perturbations of the best points (only P(feasible) while nothing is feasible);
  a candidate the models call infeasible with 95 % confidence is never taken, however
  large its EI;
  a point evaluated or pending is never proposed again, and a batch keeps its points
  apart (exclusion radius 0.05 in the unit cube).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import log_ndtr
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from mbsim.dimension import Dimension
from mbsim.tuning.samplers import Observation, Sampler

N_INITIAL = 8
N_CANDIDATES_LOG2 = 11  # 2048 Sobol candidates
RADIUS = 0.05
MIN_PF = 0.05  # once something is feasible, candidates below this P(feasible) are not considered
LOG_FLOOR = math.log(1e-3)  # metrics below 1 us count as 1 us


def signed_log(x: np.ndarray) -> np.ndarray:
    typed: np.ndarray = np.sign(x) * np.log1p(np.abs(x))
    return typed


def log_ei(mu: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """log of the expected improvement below ``best``, stable far into the tail."""
    z = (best - mu) / sd
    out = np.empty_like(z)
    near = z > -6
    zn = z[near]
    h = zn * np.exp(log_ndtr(zn)) + np.exp(-0.5 * zn * zn) / math.sqrt(2 * math.pi)
    out[near] = np.log(np.maximum(h, 1e-300))
    zf = z[~near]  # h(z) ~ phi(z) / z^2 for z -> -inf
    out[~near] = -0.5 * zf * zf - 0.5 * math.log(2 * math.pi) - 2 * np.log(-zf)
    typed: np.ndarray = out + np.log(sd)
    return typed


def _gp(dim: int, seed: int) -> Any:
    from skopt.learning import GaussianProcessRegressor
    from skopt.learning.gaussian_process.kernels import ConstantKernel, Matern

    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(length_scale=np.full(dim, 0.3), length_scale_bounds=(1e-2, 1e1),
                                                       nu=2.5)
    return GaussianProcessRegressor(kernel=kernel, normalize_y=True, noise="gaussian", n_restarts_optimizer=2,
                                    random_state=seed)


class ConstrainedGP(Sampler):
    """EI x P(feasible) on skopt's GPs (the ``skopt`` backend)."""

    name = "skopt"

    def __init__(self, dims: list[Dimension], seed: int, slo_target_ms: float | None = None,
                 n_initial: int = N_INITIAL) -> None:
        super().__init__(dims, seed)
        self.slo_target_ms = slo_target_ms
        self.n_initial = n_initial
        self.rng = np.random.default_rng(seed)
        self.sobol = qmc.Sobol(len(dims), scramble=True, seed=seed)
        self.X: list[np.ndarray] = []
        self.obs: list[Observation] = []
        self.pending: list[np.ndarray] = []  # asked, not yet told

    # -- the unit cube ---------------------------------------------------------------
    def _params(self, u: np.ndarray) -> dict[str, float]:
        return {d.name: d.from_unit(float(x)) for d, x in zip(self.dims, u)}

    def _unit(self, params: dict[str, float]) -> np.ndarray:
        return np.array([d.to_unit(d.clip(params[d.name])) for d in self.dims])

    def _snap(self, U: np.ndarray) -> np.ndarray:
        """Candidates moved to the values they would run with (integers rounded)."""
        return np.array([self._unit(self._params(u)) for u in U])

    # -- the sampler interface --------------------------------------------------------
    def _ask(self, n: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        while len(out) < n and len(self.X) + len(self.pending) < self.n_initial:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # one Sobol point at a time
                u = self._fresh(self.sobol.random(1))
            self.pending.append(u)
            out.append(self._params(u))
        if len(out) < n:
            for u in self._acquire(n - len(out)):  # the models are fitted once per batch
                self.pending.append(u)
                out.append(self._params(u))
        return out

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        u = self._unit(params)
        self.pending = [v for v in self.pending if not np.allclose(v, u)]
        self.X.append(u)
        self.obs.append(obs)

    def _taken(self, u: np.ndarray) -> bool:
        """Evaluated, or asked and pending?"""
        p = self._params(u)
        return self.seen(p) or any(self.key(p) == self.key(self._params(v)) for v in self.pending)

    def _fresh(self, U: np.ndarray) -> np.ndarray:
        """The first candidate of ``U`` not yet taken (else a random point not taken)."""
        u: np.ndarray
        for u in self._snap(U):
            if not self._taken(u):
                return u
        for _ in range(1000):
            u = self._snap(self.rng.random((1, len(self.dims))))[0]
            if not self._taken(u):
                return u
        return u  # a small discrete space is exhausted: a repeat cannot be avoided

    # -- the acquisition ---------------------------------------------------------------
    def _models(self, X: np.ndarray) -> Any:
        seed = int(self.rng.integers(2**31 - 1))
        metric = np.array([max(math.log(o.metric), LOG_FLOOR) if math.isfinite(o.metric) and o.metric > 0
                           else math.log(1e6) for o in self.obs])
        names = [k for k in self.obs[0].slacks if not (k == "slo" and self.slo_target_ms)]
        with warnings.catch_warnings(), threadpool_limits(1):  # BLAS threads would fight the workers
            warnings.simplefilter("ignore")
            gp_y = _gp(X.shape[1], seed).fit(X, metric)
            gps = {}
            for k in names:
                s = signed_log(np.array([o.slacks[k] if math.isfinite(o.slacks[k]) else -1e3 for o in self.obs]))
                gps[k] = None if np.ptp(s) == 0 else _gp(X.shape[1], seed).fit(X, s)
                if gps[k] is None:
                    gps[k] = float(s[0])  # constant so far: feasible everywhere, or nowhere
            gp_p99 = None
            if self.slo_target_ms:
                p99 = np.array([math.log(max(o.p99_ms, 1e-3)) if math.isfinite(o.p99_ms) else math.log(1e6)
                                for o in self.obs])
                gp_p99 = _gp(X.shape[1], seed).fit(X, p99)
        return gp_y, gps, gp_p99

    def log_pf(self, C: np.ndarray, gps: Any, gp_p99: Any) -> np.ndarray:
        """log P(every constraint is met) at the candidates ``C``."""
        total = np.zeros(len(C))
        for model in gps.values():
            if isinstance(model, float):
                total += 0.0 if model >= 0 else -50.0
                continue
            mu, sd = model.predict(C, return_std=True)
            total += log_ndtr(mu / np.maximum(sd, 1e-9))
        if gp_p99 is not None:
            mu, sd = gp_p99.predict(C, return_std=True)
            total += log_ndtr((math.log(self.slo_target_ms or 1.0) - mu) / np.maximum(sd, 1e-9))
        return total

    def _candidates(self) -> np.ndarray:
        sobol = qmc.Sobol(len(self.dims), scramble=True, seed=int(self.rng.integers(2**31 - 1)))
        sob = sobol.random_base2(N_CANDIDATES_LOG2)
        feasible = [i for i, o in enumerate(self.obs) if o.feasible]
        if feasible:
            order = sorted(feasible, key=lambda i: self.obs[i].metric)
        else:
            order = sorted(range(len(self.obs)), key=lambda i: -min(self.obs[i].slacks.values()))
        local = [np.clip(self.X[i] + self.rng.normal(0, sd, (64, len(self.dims))), 0, 1)
                 for i in order[:5] for sd in (0.02, 0.1)]
        return self._snap(np.vstack([sob, *local]))

    def _acquire(self, k: int) -> list[np.ndarray]:
        """``k`` points: the best by the acquisition, each at least RADIUS from the pending."""
        if not self.X:  # nothing told yet (a batch larger than the initial design)
            return [self._fresh(self.rng.random((64, len(self.dims)))) for _ in range(k)]
        C = self._candidates()
        keep = np.array([not self._taken(c) for c in C])
        C = C[keep]
        gp_y, gps, gp_p99 = self._models(np.array(self.X))
        score = self.log_pf(C, gps, gp_p99)
        feasible = [o.metric for o in self.obs if o.feasible]
        if feasible and len(C):
            likely = score >= math.log(MIN_PF)  # never where the models are confident it fails
            if likely.any():
                C, score = C[likely], score[likely]
            mu, sd = gp_y.predict(C, return_std=True)
            best = max(math.log(min(feasible)), LOG_FLOOR)
            score = score + log_ei(mu, np.maximum(sd, 1e-9), best)
        out: list[np.ndarray] = []
        for _ in range(k):
            ok = np.ones(len(C), dtype=bool)
            for p in [*self.pending, *out]:
                ok &= np.linalg.norm(C - p, axis=1) > RADIUS
            if not ok.any():
                out.append(self._fresh(self.rng.random((64, len(self.dims)))))
                continue
            i = int(np.flatnonzero(ok)[np.argmax(score[ok])])
            out.append(C[i])
        return out

    def predict_feasible(self, points: Sequence[dict[str, float]]) -> np.ndarray:
        """P(feasible) of ``points`` under the current models (for tests and plots)."""
        _, gps, gp_p99 = self._models(np.array(self.X))
        typed: np.ndarray = np.exp(self.log_pf(np.array([self._unit(p) for p in points]), gps, gp_p99))
        return typed
