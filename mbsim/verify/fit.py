"""The model fitted to a real backend, from measurements only (numbers in, numbers out).

* :func:`distribution`: a request class's service time. Lognormal and gamma (by maximum
  likelihood) and the empirical distribution (a kernel density on the log, Scott's
  bandwidth) are compared by their two-fold cross-validated log-likelihood: each is fitted
  on one half of the samples and scored on the other, so that the empirical one cannot win
  by remembering its own samples.
* :func:`effective_workers`: the throughput at saturation in units of one worker's
  (low-load) service rate.
* :func:`fit_load`: the load function. Three forms of a job's service time ``s`` are
  fitted to the log of ``s`` by least squares (a lognormal error):

  - ``none``: no load effect, ``s = s0``;
  - ``linear``: the simpler alternative, ``s = s0 * (1 + k * omega)``;
  - ``article``: the article's torque with mbsim's mapping
    (:mod:`mbsim.world.load_function`), ``s = s0 * (1 + max(0, A omega^2 (1 + B (1 - cos(pi psi)))
    + C tanh(2 slope)))``, where ``A = gain * a``, ``B = b``, ``C = gain * c`` (``d`` is
    kept at the article's 2: a steady sweep's slopes are too small to tell ``c`` from
    ``d``).

  They are judged by AIC on the loads of the fit, and by the error of the mean service
  time they predict at loads held out of the fit (:func:`split`); the coefficients get
  block-bootstrap 95 % intervals.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from mbsim.metrics.registry import P50_MS, P99_MS
from mbsim.world.load_function import LoadFunction
from mbsim.world.sensor import LoadSensor

KEEP = 2000  # samples kept for an empirical distribution
ARTICLE_D = 2.0  # the article's slope steepness, kept


# -- service-time distributions ------------------------------------------------------
def _lognormal(train: np.ndarray) -> tuple[dict[str, float], Callable[[np.ndarray], np.ndarray]]:
    lx = np.log(train)
    mu, sigma = float(lx.mean()), float(max(lx.std(), 1e-6))
    return ({"mean_ms": float(math.exp(mu + sigma ** 2 / 2)), "sigma": sigma},
            lambda x: stats.lognorm.logpdf(x, sigma, scale=math.exp(mu)))


def _gamma(train: np.ndarray) -> tuple[dict[str, float], Callable[[np.ndarray], np.ndarray]]:
    k, _, scale = stats.gamma.fit(train, floc=0.0)
    return {"mean_ms": float(k * scale), "shape": float(k)}, lambda x: stats.gamma.logpdf(x, k, scale=scale)


def _empirical(train: np.ndarray) -> tuple[dict[str, float], Callable[[np.ndarray], np.ndarray]]:
    kde = stats.gaussian_kde(np.log(train))
    return {"mean_ms": float(train.mean())}, lambda x: kde.logpdf(np.log(x)) - np.log(x)


FAMILIES: dict[str, Callable[[np.ndarray], tuple[dict[str, float], Callable[[np.ndarray], np.ndarray]]]] = {
    "lognormal": _lognormal, "gamma": _gamma, "empirical": _empirical}


def distribution(samples_ms: Sequence[float] | np.ndarray, seed: int = 0, cap: int = 4000) -> dict[str, Any]:
    """The best of :data:`FAMILIES` for ``samples_ms`` by two-fold cross-validated
    log-likelihood (at most ``cap`` samples per fold), the comparison, and the winner
    fitted on every sample as :class:`~mbsim.world.service_time.ServiceTime` fields."""
    x = np.asarray(samples_ms, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if x.size < 20:
        raise ValueError(f"a distribution needs at least 20 positive samples, got {x.size}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(x.size)
    halves = [x[perm[: x.size // 2]][:cap], x[perm[x.size // 2:]][:cap]]
    table = {}
    for name, family in FAMILIES.items():
        ll = 0.0
        for train, test in ((halves[0], halves[1]), (halves[1], halves[0])):
            _, logpdf = family(train)
            ll += float(np.sum(logpdf(test)))
        n = halves[0].size + halves[1].size
        table[name] = {"heldout_loglik": ll, "per_sample": ll / n}
    best = max(table, key=lambda k: table[k]["heldout_loglik"])
    params, _ = FAMILIES[best](x)
    fields: dict[str, Any] = {"dist": best, **params}
    if best == "empirical":
        s = np.sort(x)
        fields["samples_ms"] = [round(float(v), 5) for v in s[np.linspace(0, s.size - 1, min(KEEP, s.size))
                                                               .round().astype(int)]]
        fields["mean_ms"] = float(np.mean(fields["samples_ms"]))
    return {"best": best, "n": int(x.size), "candidates": table, "service_time": fields,
            "mean_ms": float(x.mean()), P50_MS: float(np.median(x)), P99_MS: float(np.percentile(x, 99))}


def scaled(fields: dict[str, Any], factor: float) -> dict[str, Any]:
    """A distribution's fields with every service time times ``factor``."""
    out = dict(fields)
    out["mean_ms"] = fields["mean_ms"] * factor
    if "samples_ms" in fields:
        out["samples_ms"] = [round(v * factor, 5) for v in fields["samples_ms"]]
        out["mean_ms"] = float(np.mean(out["samples_ms"]))
    return out


# -- the effective worker count ----------------------------------------------------------
def effective_workers(end_ns: np.ndarray, window_ns: tuple[int, int], mean_service_ms: float) -> float:
    """Jobs finished per second inside ``window_ns`` (a saturated stretch), times the mean
    service time at low load: how many workers the backend is worth."""
    lo, hi = window_ns
    done = int(np.sum((end_ns >= lo) & (end_ns < hi)))
    return done / ((hi - lo) / 1e9) * mean_service_ms / 1e3


# -- the load function -----------------------------------------------------------------
def sensor_at(arrival_ns: np.ndarray, start_ns: np.ndarray, t0_ns: int, capacity_rps: float,
              lf: LoadFunction | None = None, sample_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """What the model's load sensor (:class:`LoadSensor`, sampled every ``sample_s`` from
    ``t0_ns + sample_s``) reads when each job starts: omega and slope (rad)."""
    lf = lf or LoadFunction()
    sensor = LoadSensor(capacity_rps, sample_s, lf.trend_window_s)
    step = int(sample_s * 1e9)
    end = int(max(start_ns.max(), arrival_ns.max())) if start_ns.size else t0_ns
    ticks = np.arange(t0_ns + step, end + step, step, dtype=np.int64)
    counts = np.diff(np.concatenate([[0], np.searchsorted(np.sort(arrival_ns), ticks, side="right")]))
    omega, slope = np.zeros(ticks.size + 1), np.zeros(ticks.size + 1)
    for k, c in enumerate(counts):
        sensor.count = int(c)
        sensor.sample()
        omega[k + 1], slope[k + 1] = sensor.omega, sensor.slope
    at = np.searchsorted(ticks, start_ns, side="right")  # ticks at or before the start
    return omega[at], slope[at]


@dataclass
class LoadData:
    """One class's jobs from a load sweep: the sweep point (offered utilisation) each came
    from, what the sensor read when it started (omega, slope rad), the queue fill psi, and
    its service time (ms)."""

    load: np.ndarray
    omega: np.ndarray
    slope: np.ndarray
    psi: np.ndarray
    service_ms: np.ndarray

    def where(self, keep: np.ndarray) -> LoadData:
        return LoadData(self.load[keep], self.omega[keep], self.slope[keep], self.psi[keep], self.service_ms[keep])

    @staticmethod
    def concat(parts: Sequence[LoadData]) -> LoadData:
        return LoadData(*(np.concatenate([getattr(p, f) for p in parts])
                          for f in ("load", "omega", "slope", "psi", "service_ms")))


def _article(p: np.ndarray, d: LoadData) -> np.ndarray:
    psi = np.minimum(d.psi, 1.0)
    torque = p[1] * d.omega ** 2 * (1.0 + p[2] * (1.0 - np.cos(np.pi * psi))) + p[3] * np.tanh(ARTICLE_D * d.slope)
    out: np.ndarray = np.log1p(np.maximum(torque, 0.0))
    return out


def _linear(p: np.ndarray, d: LoadData) -> np.ndarray:
    out: np.ndarray = np.log1p(np.maximum(p[1] * d.omega, -0.99))
    return out


def _none(p: np.ndarray, d: LoadData) -> np.ndarray:
    return np.zeros_like(d.omega)


@dataclass(frozen=True)
class Form:
    """A form of the load effect: its coefficients (after log s0), start and bounds."""

    name: str
    coefficients: tuple[str, ...]
    log_factor: Callable[[np.ndarray, LoadData], np.ndarray]
    start: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


FORMS = (
    Form("none", (), _none, (), (), ()),
    Form("linear", ("k",), _linear, (0.1,), (-0.99,), (100.0,)),
    Form("article", ("A", "B", "C"), _article, (0.1, 0.6, 0.1), (0.0, -1.0, -100.0), (100.0, 100.0, 100.0)),
)


def fit_form(form: Form, d: LoadData, start: np.ndarray | None = None) -> np.ndarray:
    """Least-squares coefficients [log s0, ...] of ``form`` on the log service times."""
    y = np.log(d.service_ms)
    if not form.coefficients:
        return np.array([float(y.mean())])

    def residual(p: np.ndarray) -> np.ndarray:
        r: np.ndarray = y - p[0] - form.log_factor(p, d)
        return r

    x0 = start if start is not None else np.array([float(np.median(y)), *form.start])
    lo, hi = np.array([-np.inf, *form.low]), np.array([np.inf, *form.high])
    r = optimize.least_squares(residual, np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), method="trf")
    fitted: np.ndarray = r.x
    return fitted


def predicted_mean_ms(form: Form, p: np.ndarray, d: LoadData, smear: float) -> float:
    """The mean service time (ms) ``form`` predicts for the jobs of ``d`` (``smear``: the
    mean of exp(residual) on the fit's data, Duan's smearing estimate)."""
    return float(np.mean(np.exp(p[0] + form.log_factor(p, d))) * smear)


def split(loads: Sequence[float]) -> tuple[list[float], list[float]]:
    """The sweep's loads, sorted, into those fitted (every other one, from the lowest, and
    the highest) and those held out to judge the fit (the rest): disjoint, and each held-out
    load between two fitted ones."""
    u = sorted({float(x) for x in loads})
    if len(u) < 3:
        raise ValueError(f"a held-out split needs at least 3 loads, got {len(u)}")
    held = [x for k, x in enumerate(u) if k % 2 == 1 and k != len(u) - 1]
    return [x for x in u if x not in held], held


def _blocks(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(k, min(k + size, n)) for k in range(0, n, size)]


def fit_load(d: LoadData, fit_loads: Sequence[float], held_loads: Sequence[float], boot: int = 200,
             block: int = 250, seed: int = 0) -> dict[str, Any]:
    """Each form of :data:`FORMS` fitted on the jobs of ``fit_loads`` only, judged by AIC
    there and by the held-out error at ``held_loads`` only; block-bootstrap 95 % intervals
    (``boot`` resamples of ``block`` consecutive jobs per load)."""
    fit_loads, held_loads = [float(x) for x in fit_loads], [float(x) for x in held_loads]
    if set(fit_loads) & set(held_loads):
        raise ValueError(f"loads {sorted(set(fit_loads) & set(held_loads))} are both fitted and held out")
    on_fit = np.isin(d.load, fit_loads)
    train = d.where(on_fit)
    if train.service_ms.size < 20:
        raise ValueError("too few jobs at the fitted loads")
    rng = np.random.default_rng(seed)
    blocks = [b for u in fit_loads for b in _blocks_of(train, u, block)]
    forms = {}
    for form in FORMS:
        p = fit_form(form, train)
        res = np.log(train.service_ms) - p[0] - form.log_factor(p, train)
        n, k = res.size, len(p) + 1  # + the error's variance
        rss = float(np.sum(res ** 2))
        smear = float(np.mean(np.exp(res)))
        held = []
        for u in held_loads:
            dh = d.where(d.load == u)
            if dh.service_ms.size == 0:
                continue
            pred, meas = predicted_mean_ms(form, p, dh, smear), float(dh.service_ms.mean())
            held.append({"load": u, "measured_mean_ms": meas, "predicted_mean_ms": pred, "error": pred / meas - 1.0})
        draws = []
        for _ in range(boot if form.coefficients else 0):
            pick = np.concatenate([blocks[i] for i in rng.integers(0, len(blocks), len(blocks))])
            draws.append(fit_form(form, train.where(pick), start=p))
        ci = {}
        names = ("log_s0", *form.coefficients)
        if draws:
            arr = np.array(draws)
            ci = {nm: [float(np.percentile(arr[:, j], 2.5)), float(np.percentile(arr[:, j], 97.5))]
                  for j, nm in enumerate(names)}
        by_load = []
        for u in sorted(set(fit_loads) | set(held_loads)):
            du = d.where(d.load == u)
            if du.service_ms.size:
                by_load.append({"load": u, "held_out": u in held_loads, "measured_mean_ms": float(du.service_ms.mean()),
                                "predicted_mean_ms": predicted_mean_ms(form, p, du, smear)})
        errs = np.array([h["error"] for h in held])
        forms[form.name] = {
            "coefficients": {nm: float(v) for nm, v in zip(names, p)}, "ci95": ci,
            "s0_ms": float(math.exp(p[0]) * smear), "aic": n * math.log(rss / n) + 2 * k, "n": n,
            "sigma_log": math.sqrt(rss / n), "smear": smear, "held_out": held, "by_load": by_load,
            "held_out_rms_error": float(np.sqrt(np.mean(errs ** 2))) if errs.size else None,
        }
    best_aic = min(forms, key=lambda f: forms[f]["aic"])
    return {"fit_loads": fit_loads, "held_out_loads": held_loads, "forms": forms, "best_by_aic": best_aic,
            "best_held_out": min((f for f in forms if forms[f]["held_out_rms_error"] is not None),
                                 key=lambda f: forms[f]["held_out_rms_error"], default=None),
            "bootstrap": {"resamples": boot, "block_jobs": block}}


def _blocks_of(train: LoadData, u: float, size: int) -> list[np.ndarray]:
    idx = np.flatnonzero(train.load == u)
    return [idx[b] for b in _blocks(idx.size, size)]


def verdict(result: dict[str, Any]) -> str:
    """One paragraph: which form explains the sweep, by AIC and on the held-out loads."""
    f = result["forms"]
    art, none, lin = f["article"], f["none"], f["linear"]

    def rms(x: dict[str, Any]) -> str:
        v = x["held_out_rms_error"]
        return "n/a" if v is None else f"{100 * v:.1f} %"

    ci = art["ci95"]
    coef = ", ".join(f"{k} {v:.3g}" + (f" ({ci[k][0]:.3g}..{ci[k][1]:.3g})" if k in ci else "")
                     for k, v in art["coefficients"].items() if k != "log_s0")
    better_none = art["aic"] < none["aic"] - 2
    better_lin = art["aic"] < lin["aic"] - 2
    words = ("explains the sweep better than no load effect and than a linear one" if better_none and better_lin
             else "explains it better than no load effect, but not better than a linear one" if better_none
             else "does not explain it better than no load effect")
    return (f"The article's load function {words} (AIC: article {art['aic']:.0f}, linear {lin['aic']:.0f}, "
            f"none {none['aic']:.0f}; lower is better, a difference under 2 is no evidence). "
            f"Mean service time at the held-out loads, RMS error: article {rms(art)}, linear {rms(lin)}, "
            f"none {rms(none)}. Best by AIC: {result['best_by_aic']}; on the held-out loads: "
            f"{result['best_held_out']}. Article coefficients (95 % block-bootstrap intervals): {coef}.")


def load_function(result: dict[str, Any], base: LoadFunction | None = None) -> LoadFunction:
    """The simulator's load function from the fit: the article's form with its fitted
    coefficients (``gain`` 1, so ``a = A``, ``b = B``, ``c = C``, ``d`` the article's); no
    load effect (``gain`` 0) where the article's form explains the sweep no better than none."""
    base = base or LoadFunction()
    f = result["forms"]
    if f["article"]["aic"] >= f["none"]["aic"] - 2:
        return LoadFunction(a=base.a, b=base.b, c=base.c, d=base.d, gain=0.0, psi_scale=base.psi_scale,
                            trend_window_s=base.trend_window_s)
    c = f["article"]["coefficients"]
    return LoadFunction(a=c["A"], b=c["B"], c=c["C"], d=ARTICLE_D, gain=1.0, psi_scale=base.psi_scale,
                        trend_window_s=base.trend_window_s)
