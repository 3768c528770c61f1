# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tuning the mountain-bike buffer with Bayesian optimisation
#
# A quick study on `tail-spike`: minimise P99 subject to success >= 99.9 % and at most 5 %
# of answers from the snapshot. Every candidate runs on the same seeds (common random
# numbers); the best is then re-run with the article's defaults on fresh seeds. The default
# sampler models each constraint apart from the objective (expected improvement times the
# probability of feasibility, `mbsim/tuning/constrained.py`). Then the trade-off front of P99
# against the snapshot share. `mbsim tune --scenario tail-spike` runs the full study; `QUICK`
# keeps the budgets small.

# %%
QUICK = True

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, display
from skopt.plots import plot_objective

from mbsim.tuning import space
from mbsim.tuning.evaluate import observation
from mbsim.tuning.executors import LocalExecutor
from mbsim.tuning.objective import Objective
from mbsim.tuning.samplers import SkoptPenalty
from mbsim.tuning.storage import StudyStore
from mbsim.tuning.study import StudyConfig, run

dims = space.build(["fallback.deadline_ms", "buffer.capacity_max", "breaker.failure_ratio", "breaker.open_ms"])
cfg = StudyConfig(name="notebook", scenario="tail-spike", objective=Objective(), dims=dims, budget=16 if QUICK else 40,
                  n_seeds=1, quick=True, batch=2, confirm=5)
store = StudyStore(cfg.name, tempfile.mkdtemp(prefix="mbsim-tune-"))
summary = run(cfg, store, LocalExecutor(2))
evals = pd.DataFrame([{**r["params"], "value": r["value"], "feasible": r["feasible"], **r["mean"]}
                      for r in store.load_evaluations()])
evals[[d.name for d in dims] + ["value", "feasible", "p99_ms", "fallback_ratio"]].round(3)

# %% [markdown]
# ## Convergence
# The best value so far (P99 ms, plus 100 ms per constraint missed by its own size).

# %%
plt.semilogy(range(1, len(evals) + 1), evals.value.cummin(), marker="o")
plt.scatter(range(1, len(evals) + 1), evals.value, s=10, color="grey")
plt.xlabel("evaluations")
plt.ylabel("best so far")
plt.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Partial dependence
# How the penalised objective depends on each setting, with the others averaged out by a GP
# fitted to the study's evaluations (scikit-optimize's).

# %%
gp = SkoptPenalty(dims, cfg.seed)
gp.replay([(r["asked"], observation(r, cfg.objective, 0.001)) for r in store.load_evaluations()])
plot_objective(gp.opt.get_result(), n_points=20)
plt.show()

# %% [markdown]
# ## Tuned against the article's defaults, on fresh seeds (95 % intervals)

# %%
ev = summary["evaluation"]
rows = []
for which in ("tuned", "default"):
    for k, ci in ev[which].items():
        rows.append({"settings": which, "metric": k, "mean": ci["mean"], "ci_low": ci["ci_low"],
                     "ci_high": ci["ci_high"]})
pd.DataFrame(rows).pivot(index="metric", columns="settings", values=["mean", "ci_low", "ci_high"]).round(4)

# %%
d = ev["tuned_minus_default"][cfg.objective.metric]
print(f"tuned - default {cfg.objective.metric}: {d['mean']:.3f} ms (95 % CI {d['ci_low']:.3f}..{d['ci_high']:.3f}); "
      f"feasible share: tuned {ev['tuned_feasible_share']:.2f}, default {ev['default_feasible_share']:.2f}")

# %% [markdown]
# ## The trade-off front: P99 against the snapshot share
# P99 can always be bought with stale answers: a shorter deadline answers more from the
# snapshot. Optuna's multi-objective sampler searches both at once (success and the SLO kept
# as constraints); `mbsim export STUDY --trial N` exports the point one picks.

# %%
pcfg = StudyConfig(name="front", scenario="tail-spike", objective=Objective(), dims=dims, budget=12 if QUICK else 60,
                   backend="optuna", n_seeds=1, quick=True, batch=2, confirm=2, pareto=["p99", "fallback"])
pstore = StudyStore(pcfg.name, tempfile.mkdtemp(prefix="mbsim-front-"))
front = run(pcfg, pstore, LocalExecutor(2))["front"]
display(pd.DataFrame([{"trial": p["trial"], "p99_ms": p["p99_ms"], "fallback_ratio": p["fallback_ratio"],
                       **p["params"]} for p in json.loads(Path(front["path"]).read_text())["front"]]).round(3))
display(Image(filename=front["figure"]))
