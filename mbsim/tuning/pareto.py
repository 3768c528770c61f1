"""The trade-off front: ``mbsim tune --pareto p99,fallback`` searches two metrics at once
(tail latency against the share answered from the snapshot: P99 can always be bought
with stale answers) with Optuna's multi-objective TPE, success and the SLO kept as
constraints. The study writes ``front.json`` (the non-dominated evaluations that meet
the constraints) and ``front.png`` (every evaluation, the front, the starting
parameters marked); ``mbsim export STUDY --trial N`` exports the point one picks.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.dimension import Dimension
from mbsim.errors import ConfigError
from mbsim.metrics import registry
from mbsim.metrics.registry import FALLBACK_RATIO, LATENCY_MEAN_MS, P99_JITTER_MS, P99_MS, P999_MS, P9999_MS
from mbsim.tuning.samplers import Observation, Sampler, _cap, optuna_distributions

METRICS = {"p99": P99_MS, "p999": P999_MS, "p9999": P9999_MS, "mean": LATENCY_MEAN_MS,
           "fallback": FALLBACK_RATIO, "snapshot_share": FALLBACK_RATIO, "jitter": P99_JITTER_MS}
LOGGED = {m for m in METRICS.values() if registry.metric(m).logged}  # modelled in the logarithm
CONSTRAINTS = ("success", "slo")


def parse(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in METRICS]
    if bad:
        raise ConfigError(f"--pareto: unknown metric {bad[0]!r} (known: {', '.join(METRICS)})")
    if len(names) != 2 or METRICS[names[0]] == METRICS[names[1]]:
        raise ConfigError(f"--pareto wants two different metrics, e.g. p99,fallback; got {text!r}")
    return names


def check(names: list[str], backend: str) -> None:
    parse(",".join(names))
    if backend != "optuna":
        raise ConfigError(f"--pareto runs on Optuna's multi-objective sampler (--backend optuna), not {backend!r}")


def _value(key: str, obs_means: dict[str, float]) -> float:
    v = obs_means.get(key, math.nan)
    if key in LOGGED:
        return _cap(v)
    return v if math.isfinite(v) else 1.0


class ParetoSampler(Sampler):
    """Optuna's TPE (or NSGA-II, ``sampler="nsga2"``) on two objectives, with constraints."""

    name = "optuna"

    def __init__(self, dims: list[Dimension], seed: int, names: list[str], sampler: str | None = None) -> None:
        super().__init__(dims, seed)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.keys = [METRICS[n] for n in names]

        s: optuna.samplers.BaseSampler
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sampler in (None, "tpe"):
                s = optuna.samplers.TPESampler(seed=seed, multivariate=True)
            elif sampler == "nsga2":
                s = optuna.samplers.NSGAIISampler(seed=seed)
            else:
                raise ConfigError(f"--pareto: unknown sampler {sampler!r} (known: tpe, nsga2)")
        self.optuna = optuna
        self.study = optuna.create_study(directions=["minimize", "minimize"], sampler=s)
        self.dists = optuna_distributions(dims)
        self.pending: dict[tuple[Any, ...], Any] = {}

    def _ask(self, n: int) -> list[dict[str, float]]:
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(n):
                t = self.study.ask(self.dists)
                self.pending[self.key(t.params)] = t
                out.append(dict(t.params))
        return out

    def _tell(self, params: dict[str, float], obs: Observation) -> None:
        values = [_value(k, obs.means) for k in self.keys]
        c = {k: -obs.slacks[k] for k in CONSTRAINTS if k in obs.slacks}
        trial = self.pending.pop(self.key(params), None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if trial is None:
                p = {d.name: d.clip(params[d.name]) for d in self.dims}
                self.study.add_trial(self.optuna.trial.create_trial(
                    params=p, distributions=self.dists, values=values, constraints=c))
            else:
                for k, v in c.items():
                    trial.set_constraint(k, v)
                self.study.tell(trial, values)


def front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points (both coordinates minimised), by the first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    out: list[int] = []
    best_second = math.inf
    for i in order:
        if points[i][1] < best_second:
            out.append(i)
            best_second = points[i][1]
    return out


def write_front(cfg: Any, store: Any, done: list[dict[str, Any]]) -> dict[str, Any]:
    """front.json and front.png of a finished study; returns the front's summary."""
    keys = [METRICS[n] for n in cfg.pareto]
    ok = [r for r in done if all(r["slacks"].get(k, 0) >= 0 for k in CONSTRAINTS)
          and all(math.isfinite(r["mean"][k]) for k in keys)]
    pts = [(r["mean"][keys[0]], r["mean"][keys[1]]) for r in ok]
    on = [ok[i] for i in front(pts)]
    doc = {"metrics": keys, "constraints": list(CONSTRAINTS), "evaluations": len(done), "feasible": len(ok),
           "front": [{"trial": r["id"], keys[0]: r["mean"][keys[0]], keys[1]: r["mean"][keys[1]],
                      "params": r["params"]} for r in on]}
    path = store.dir / "front.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    _plot(done, ok, on, keys, store.dir / "front.png", cfg.policy)
    return {"path": str(path), "points": len(on), "figure": str(store.dir / "front.png")}


def _plot(done: Any, ok: Any, on: Any, keys: Any, path: Path, policy: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    x = [r["mean"][keys[0]] for r in done]
    y = [r["mean"][keys[1]] for r in done]
    ax.scatter(x, y, s=12, color="lightgrey", label="evaluations (constraints missed)")
    ax.scatter([r["mean"][keys[0]] for r in ok], [r["mean"][keys[1]] for r in ok], s=14, color="tab:blue",
               label="evaluations meeting success and SLO")
    fx = np.array([r["mean"][keys[0]] for r in on])
    fy = np.array([r["mean"][keys[1]] for r in on])
    ax.step(fx, fy, where="post", color="tab:red", lw=1.5, label="Pareto front")
    ax.scatter(fx, fy, s=30, color="tab:red")
    for r in on:
        ax.annotate(str(r["id"]), (r["mean"][keys[0]], r["mean"][keys[1]]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    for r in done:
        if r.get("baseline"):
            label = "the article's defaults" if policy.startswith("mbb") else f"{policy}'s starting parameters"
            ax.scatter([r["mean"][keys[0]]], [r["mean"][keys[1]]], marker="*", s=200, color="black", label=label)
    ax.set_xscale("log")
    ax.set_xlabel(keys[0].replace("_ms", " (ms)"))
    ax.set_ylabel(keys[1].replace("_ratio", " share"))
    ax.set_title("trade-off front (numbers: trial ids for mbsim export --trial)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
