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
# # The mountain-bike buffer against its peers
#
# Every policy runs the same scenario with **common random numbers**: replication *r* gives
# request *i* the same arrival, service time, losses and snapshot draw under every policy.
# Metrics are means over replications with 95 % intervals; the comparisons with `mbb` use
# paired differences. With `QUICK` this notebook runs the quick study (6 s per run, 5
# replications) and a short overload study; `mbsim compare --scenario tail-spike` runs the
# full one.

# %%
QUICK = True

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from mbsim.comparison.compare import compare
from mbsim.comparison.figures import all_figures

study = compare("tail-spike", quick=QUICK, reps=5, seed=1)
print(f"{study.scenario.name}: {study.scenario.description}")

# %% [markdown]
# ## The table, in the article's shape
# P99 and its per-second jitter, success (real or snapshot answers), the share answered from
# the snapshot, decision accuracy against the ground truth, and the CPU cost of each policy's
# own (Python model) code per decision.

# %%
cols = ["policy", "p99_ms", "p99_jitter_ms", "success_ratio", "fallback_ratio", "decision_accuracy",
        "cpu_us_per_decision"]
table = pd.DataFrame(study.table_rows())[cols].set_index("policy")
table.round(3)

# %% [markdown]
# ## Where the mountain-bike buffer wins, loses or ties
# Paired differences `mbb - peer`; a difference counts when its 95 % interval excludes zero
# and it exceeds 2 % of the peer's mean.

# %%
display(Markdown("\n".join(f"- {line}" for line in study.verdicts())))

# %% [markdown]
# ## Figures
# The latency tail, the per-second P99, and each policy's state against the ground truth
# (first replication).

# %%
out = Path(tempfile.mkdtemp(prefix="mbsim-peers-"))
for name, path in all_figures(study, out).items():
    print(name)
    display(Image(filename=str(path)))

# %% [markdown]
# ## Healthy overload
# `overload`: the offered load ramps from half the capacity to twice it and back; the backend
# stays healthy. The overload goodput ratio counts answers within the SLO per second over
# min(arrivals, capacity) while overloaded; the fresh share, real answers over all; a false
# open is breaker time open while the backend was healthy. The study is never shortened (the
# ramp is the point); `QUICK` runs fewer policies and replications.

# %%
over_policies = ["mbb", "mbb-literal", "none", "gradient2-tuned"] if QUICK else None
over = compare("overload", over_policies or list(study.policies), reps=2 if QUICK else 5, seed=1, cpu=False)
cols = ["policy", "overload_goodput_ratio", "fresh_share", "false_open_share", "recovery_s", "breaker_opens",
        "success_ratio", "p99_ms"]
display(pd.DataFrame(over.table_rows())[cols].set_index("policy").round(3))
figs = all_figures(over, out / "overload")
display(Image(filename=str(figs["goodput_over_time"])))
