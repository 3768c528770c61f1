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
# numbers); the best is then re-run with the article's defaults on fresh seeds.
# `mbsim tune --scenario tail-spike` runs the full study.

# %%
import tempfile

import matplotlib.pyplot as plt
import pandas as pd
from skopt.plots import plot_convergence, plot_objective

from mbsim.tuning import space
from mbsim.tuning.executors import LocalExecutor
from mbsim.tuning.objective import Objective
from mbsim.tuning.samplers import SkoptSampler
from mbsim.tuning.storage import StudyStore
from mbsim.tuning.study import StudyConfig, run

dims = space.build(["fallback.deadline_ms", "buffer.capacity_max", "breaker.failure_ratio", "breaker.open_ms"])
cfg = StudyConfig(name="notebook", scenario="tail-spike", objective=Objective(), dims=dims, budget=16,
                  n_seeds=1, quick=True, batch=2, confirm=5)
store = StudyStore(cfg.name, tempfile.mkdtemp(prefix="mbsim-tune-"))
summary = run(cfg, store, LocalExecutor(2))
evals = pd.DataFrame([{**r["params"], "value": r["value"], "feasible": r["feasible"], **r["mean"]}
                      for r in store.load_evaluations()])
evals[[d.name for d in dims] + ["value", "feasible", "p99_ms", "fallback_ratio"]].round(3)

# %% [markdown]
# ## Convergence

# %%
backend = SkoptSampler(dims, cfg.seed)
backend.replay([(r["params"], r["value"]) for r in store.load_evaluations()])
result = backend.result()
plot_convergence(result)
plt.show()

# %% [markdown]
# ## Partial dependence
# How the objective depends on each setting, with the others averaged out by the GP.

# %%
plot_objective(result, n_points=20)
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
