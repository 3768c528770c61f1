"""Samplers behind one base class (:class:`Sampler`), as Optuna puts its samplers:
``ask(n) -> [params]``, ``tell(params, value)`` and ``replay(done)`` after a resume.

* ``skopt`` (the default): scikit-optimize's ask/tell ``Optimizer`` with a Gaussian
  process that models noise (``noise="gaussian"``, Matern 5/2 kernel) and the
  ``gp_hedge`` acquisition - the machinery of ``gp_minimize``, driven one batch at a time
  so that every evaluation can be saved and run in parallel;
* ``optuna``: an Optuna study with the TPE sampler (``sampler="tpe"``, the default) or
  Optuna's GP sampler (``sampler="gp"``);
* ``random``: uniform (log-uniform where the dimension is log-scaled) random search, the
  baseline of ``mbsim bench tune``.

``replay`` feeds finished evaluations back after a resume. Backends see ``log(value)``:
objective values span milliseconds to penalties of seconds, and a GP fits the logarithm
far better; the minimum is the same.
"""
from __future__ import annotations

import abc
import math
import warnings
from typing import Any

import numpy as np

from mbsim.errors import ConfigError
from mbsim.tuning.space import Dimension


class Sampler(abc.ABC):
    """Proposes candidates and learns from their values (lower is better)."""

    name: str

    @abc.abstractmethod
    def ask(self, n: int) -> list[dict[str, float]]:
        """``n`` candidates to evaluate next (dimension name -> value)."""

    @abc.abstractmethod
    def tell(self, params: dict[str, float], value: float) -> None:
        """The value of a candidate this sampler (or an earlier run of it) proposed."""

    def replay(self, done: list[tuple[dict[str, float], float]]) -> None:
        """Feed back evaluations that finished before a resume."""
        for params, value in done:
            self.tell(params, value)


def _cap(value: float) -> float:
    """log of the objective, finite."""
    if not math.isfinite(value):
        return math.log(1e9)
    return math.log(max(value, 1e-9))


class SkoptSampler(Sampler):
    name = "skopt"

    def __init__(self, dims: list[Dimension], seed: int, n_initial: int = 8) -> None:
        from skopt import Optimizer
        from skopt.space import Integer, Real

        self.dims = dims
        space = [Integer(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=d.name) if d.integer
                 else Real(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=d.name) for d in dims]
        self.opt = Optimizer(space, base_estimator="GP", acq_func="gp_hedge", n_initial_points=n_initial,
                             random_state=seed)

    def _x(self, params: dict[str, float]) -> list[Any]:
        return [d.clip(params[d.name]) for d in self.dims]

    def ask(self, n: int) -> list[dict[str, float]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xs = self.opt.ask(n_points=n, strategy="cl_min") if n > 1 else [self.opt.ask()]
        return [{d.name: (int(v) if d.integer else float(v)) for d, v in zip(self.dims, x)} for x in xs]

    def tell(self, params: dict[str, float], value: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.opt.tell(self._x(params), _cap(value))

    def replay(self, done: list[tuple[dict[str, float], float]]) -> None:
        if done:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.opt.tell([self._x(p) for p, _ in done], [_cap(v) for _, v in done])

    def result(self):
        """The skopt ``OptimizeResult`` (for ``skopt.plots``)."""
        return self.opt.get_result()


class OptunaSampler(Sampler):
    name = "optuna"

    def __init__(self, dims: list[Dimension], seed: int, sampler: str = "tpe") -> None:
        import optuna
        from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

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
        self.dists: dict[str, BaseDistribution] = {
            d.name: IntDistribution(int(d.low), int(d.high), log=d.log) if d.integer
            else FloatDistribution(d.low, d.high, log=d.log) for d in dims}
        self.pending: dict[tuple, Any] = {}

    def ask(self, n: int) -> list[dict[str, float]]:
        out = []
        for _ in range(n):
            trial = self.study.ask(self.dists)
            out.append(dict(trial.params))
            self.pending[tuple(sorted(trial.params.items()))] = trial
        return out

    def tell(self, params: dict[str, float], value: float) -> None:
        trial = self.pending.pop(tuple(sorted(params.items())), None)
        if trial is None:
            self.replay([(params, value)])
        else:
            self.study.tell(trial, _cap(value))

    def replay(self, done: list[tuple[dict[str, float], float]]) -> None:
        for params, value in done:
            self.study.add_trial(self.optuna.trial.create_trial(params=params, distributions=self.dists,
                                                                value=_cap(value)))


class RandomSampler(Sampler):
    name = "random"

    def __init__(self, dims: list[Dimension], seed: int) -> None:
        self.dims = dims
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[dict[str, float]]:
        out = []
        for _ in range(n):
            p = {}
            for d in self.dims:
                u = self.rng.random()
                v = math.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low))) if d.log \
                    else d.low + u * (d.high - d.low)
                p[d.name] = d.clip(v)
            out.append(p)
        return out

    def tell(self, params: dict[str, float], value: float) -> None:
        pass

    def replay(self, done) -> None:
        pass


def make(name: str, dims: list[Dimension], seed: int, sampler: str | None = None) -> Sampler:
    if name == "skopt":
        return SkoptSampler(dims, seed)
    if name == "optuna":
        return OptunaSampler(dims, seed, sampler or "tpe")
    if name == "random":
        return RandomSampler(dims, seed)
    raise ConfigError(f"unknown backend {name!r} (known: skopt, optuna, random)")
