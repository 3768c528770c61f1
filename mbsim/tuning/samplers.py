"""Samplers behind one base class (:class:`Sampler`), as Optuna puts its samplers:
``ask(n) -> [params]``, ``tell(params, observation)`` and ``replay(done)`` after a resume.

* ``skopt`` (the default): scikit-optimize's Gaussian processes with the constraints
  modelled apart from the objective, expected improvement times the probability of
  feasibility (:mod:`mbsim.tuning.constrained`);
* ``skopt-penalty``: scikit-optimize's ask/tell ``Optimizer`` (GP, ``gp_hedge``) on the
  penalised value, as the default was before; kept for comparison;
* ``optuna``: an Optuna study with the TPE sampler (``sampler="tpe"``, the default) or its
  GP sampler (``sampler="gp"``), both given the constraints (``Trial.set_constraint``);
* ``sobol``: scrambled Sobol points, the quasi-random baseline;
* ``random``: uniform random search (log-uniform where the dimension is log-scaled).

An :class:`Observation` carries what an evaluation measured: the penalised value, the
metric alone (ms), each constraint's slack (>= 0: met) and the P99 (ms). Backends model
the log of the metric: it spans milliseconds to seconds. The base class counts the
duplicates a backend proposes (``duplicates``); ``skopt``, ``sobol`` and ``random`` never
propose one while the space has points left.
"""
from __future__ import annotations

import abc
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mbsim.dimension import Dimension
from mbsim.errors import ConfigError

BACKENDS = ("skopt", "skopt-penalty", "optuna", "sobol", "random")


@dataclass(frozen=True)
class Observation:
    value: float  # the penalised value (ms)
    metric: float  # the objective's metric alone (ms)
    slacks: dict[str, float] = field(default_factory=dict)  # >= 0: the constraint is met
    p99_ms: float = math.nan
    means: dict[str, float] = field(default_factory=dict)  # every mean metric (the front's samplers)

    @property
    def feasible(self) -> bool:
        return sum(max(0.0, -s) for s in self.slacks.values()) <= 0


def _cap(value: float) -> float:
    """log of a value, finite."""
    if not math.isfinite(value):
        return math.log(1e9)
    return math.log(max(value, 1e-9))


class Sampler(abc.ABC):
    """Proposes candidates and learns from what they measured (lower metric is better)."""

    name: str

    def __init__(self, dims: list[Dimension], seed: int) -> None:
        self.dims = dims
        self.seed = seed
        self._seen: set[tuple[float, ...]] = set()
        self.duplicates = 0  # proposed points that had been proposed or told before

    def key(self, params: dict[str, float]) -> tuple[float, ...]:
        """The point as it would run (clipped, integers rounded, 9 significant digits)."""
        return tuple(float(f"{d.clip(params[d.name]):.9g}") for d in self.dims)

    def seen(self, params: dict[str, float]) -> bool:
        return self.key(params) in self._seen

    def ask(self, n: int) -> list[dict[str, float]]:
        """``n`` candidates to evaluate next (dimension name -> value)."""
        out = self._ask(n)
        for p in out:
            k = self.key(p)
            self.duplicates += k in self._seen
            self._seen.add(k)
        return out

    def tell(self, params: dict[str, float], obs: Observation) -> None:
        """What a candidate this sampler (or an earlier run of it, or the study) proposed measured."""
        self._seen.add(self.key(params))
        self._tell(params, obs)

    def replay(self, done: list[tuple[dict[str, float], Observation]]) -> None:
        """Feed back evaluations that finished before a resume."""
        for params, obs in done:
            self.tell(params, obs)

    @abc.abstractmethod
    def _ask(self, n: int) -> list[dict[str, float]]: ...

    @abc.abstractmethod
    def _tell(self, params: dict[str, float], obs: Observation) -> None: ...


class SkoptPenalty(Sampler):
    """scikit-optimize's ``Optimizer`` (GP, Matern 5/2, noise modelled, ``gp_hedge``) on the
    log of the penalised value."""

    name = "skopt-penalty"

    def __init__(self, dims: list[Dimension], seed: int, n_initial: int = 8) -> None:
        super().__init__(dims, seed)
        from skopt import Optimizer
        from skopt.space import Integer, Real

        space = [Integer(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=d.name) if d.integer
                 else Real(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=d.name) for d in dims]
        self.opt = Optimizer(space, base_estimator="GP", acq_func="gp_hedge", n_initial_points=n_initial,
                             random_state=seed)

    def _x(self, params: dict[str, float]) -> list[Any]:
        return [d.clip(params[d.name]) for d in self.dims]

    def _ask(self, n: int) -> list[dict[str, float]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xs = self.opt.ask(n_points=n, strategy="cl_min") if n > 1 else [self.opt.ask()]
        return [{d.name: (int(v) if d.integer else float(v)) for d, v in zip(self.dims, x)} for x in xs]

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.opt.tell(self._x(params), _cap(obs.value))

    def replay(self, done: list[tuple[dict[str, float], Observation]]) -> None:
        if done:
            for p, _ in done:
                self._seen.add(self.key(p))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.opt.tell([self._x(p) for p, _ in done], [_cap(o.value) for _, o in done])


def optuna_distributions(dims: list[Dimension]) -> dict[str, Any]:
    """Optuna's distribution of each dimension (integer or float, log-scaled or not)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    return {d.name: IntDistribution(int(d.low), int(d.high), log=d.log) if d.integer
            else FloatDistribution(d.low, d.high, log=d.log) for d in dims}


class OptunaSampler(Sampler):
    """Optuna's TPE or GP sampler on the log of the metric, with the slacks as constraints."""

    name = "optuna"

    def __init__(self, dims: list[Dimension], seed: int, sampler: str = "tpe") -> None:
        super().__init__(dims, seed)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s: optuna.samplers.BaseSampler
        if sampler == "tpe":
            s = optuna.samplers.TPESampler(seed=seed)
        elif sampler == "gp":
            try:
                import torch  # noqa: F401  (Optuna's GP sampler runs on PyTorch)
            except ImportError:
                raise ConfigError("optuna's GP sampler needs PyTorch: pip install 'mbsim[optuna-gp]' "
                                  "(or use --sampler tpe)") from None
            s = optuna.samplers.GPSampler(seed=seed)
        else:
            raise ConfigError(f"unknown optuna sampler {sampler!r} (known: tpe, gp)")
        self.optuna = optuna
        self.study = optuna.create_study(direction="minimize", sampler=s)
        self.dists = optuna_distributions(dims)
        self.pending: dict[tuple[Any, ...], Any] = {}

    def _ask(self, n: int) -> list[dict[str, float]]:
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(n):
                trial = self.study.ask(self.dists)
                out.append(dict(trial.params))
                self.pending[self.key(trial.params)] = trial
        return out

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        trial = self.pending.pop(self.key(params), None)
        c = {k: -s for k, s in obs.slacks.items()}  # Optuna: <= 0 is feasible
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if trial is None:
                p = {d.name: d.clip(params[d.name]) for d in self.dims}
                self.study.add_trial(self.optuna.trial.create_trial(
                    params=p, distributions=self.dists, value=_cap(obs.metric), constraints=c))
            else:
                for k, v in c.items():
                    trial.set_constraint(k, v)
                self.study.tell(trial, _cap(obs.metric))


class SobolSampler(Sampler):
    """Scrambled Sobol points in the unit cube (log-scaled dimensions in the logarithm)."""

    name = "sobol"

    def __init__(self, dims: list[Dimension], seed: int) -> None:
        super().__init__(dims, seed)
        from scipy.stats import qmc

        self.sobol = qmc.Sobol(len(dims), scramble=True, seed=seed)
        self.rng = np.random.default_rng(seed)

    def _ask(self, n: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        keys: set[tuple[float, ...]] = set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol points in batches that are not powers of 2
            us = self.sobol.random(n)
        for u in us:
            p = {d.name: d.from_unit(float(x)) for d, x in zip(self.dims, u)}
            if self.key(p) in self._seen or self.key(p) in keys:  # rounding met an earlier point
                p = _unseen(self, keys, self.rng) or p
            keys.add(self.key(p))
            out.append(p)
        return out

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        pass


def _unseen(s: Sampler, keys: set[Any], rng: np.random.Generator) -> dict[str, float] | None:
    """A random point neither seen by ``s`` nor in ``keys`` (None after 1000 tries)."""
    for _ in range(1000):
        p = {d.name: d.from_unit(float(rng.random())) for d in s.dims}
        k = s.key(p)
        if k not in s._seen and k not in keys:
            return p
    return None


class RandomSampler(Sampler):
    name = "random"

    def __init__(self, dims: list[Dimension], seed: int) -> None:
        super().__init__(dims, seed)
        self.rng = np.random.default_rng(seed)

    def _ask(self, n: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        keys: set[tuple[float, ...]] = set()
        for _ in range(n):
            p = _unseen(self, keys, self.rng) or {d.name: d.from_unit(float(self.rng.random())) for d in self.dims}
            keys.add(self.key(p))
            out.append(p)
        return out

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        pass

    def replay(self, done: Any) -> None:
        for p, _ in done:
            self._seen.add(self.key(p))


def make(name: str, dims: list[Dimension], seed: int, sampler: str | None = None,
         slo_target_ms: float | None = None) -> Sampler:
    """The backend ``name`` over ``dims``. ``slo_target_ms``: the default backend judges the
    SLO rule through its P99 model against this target."""
    if name == "skopt":
        from mbsim.tuning.constrained import ConstrainedGP

        return ConstrainedGP(dims, seed, slo_target_ms)
    if name == "skopt-penalty":
        return SkoptPenalty(dims, seed)
    if name == "optuna":
        return OptunaSampler(dims, seed, sampler or "tpe")
    if name == "sobol":
        return SobolSampler(dims, seed)
    if name == "random":
        return RandomSampler(dims, seed)
    raise ConfigError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
