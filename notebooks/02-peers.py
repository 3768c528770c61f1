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
# paired differences. This notebook runs the *quick* study (6 s per run, 5 replications);
# `mbsim compare --scenario tail-spike` runs the full one.

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from mbsim.comparison.compare import compare
from mbsim.comparison.figures import all_figures

study = compare("tail-spike", quick=True, reps=5, seed=1)
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
