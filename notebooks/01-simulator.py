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
# # The simulator: one scenario, three policies
#
# `db-down`: the backend hangs from 4 s to 9 s at 5K req/s. Without protection callers wait
# for their timeouts and retries; the article's breaker fails fast; the mountain-bike buffer
# with the ox-horn answers from the snapshot at its 5 ms deadline. Same seed, so the same
# requests reach every policy (common random numbers).

# %%
import matplotlib.pyplot as plt
import pandas as pd

from mbsim import simulate

runs = {p: simulate("db-down", policy=p, seed=1) for p in ("none", "breaker", "mbb")}
pd.concat([r.frame() for r in runs.values()]).set_index("policy")[
    ["success_ratio", "fallback_ratio", "timeout_ratio", "rejected_ratio", "p50_ms", "p99_ms", "p9999_ms",
     "p99_jitter_ms", "decision_accuracy", "slo_met"]].round(4)

# %% [markdown]
# ## Per-second P99 and failures
# The grey band is the outage (the ground truth of decision accuracy).

# %%
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
for name, r in runs.items():
    ts = r.timeseries
    ax1.plot(ts.second, ts.p99_ms, marker=".", label=name)
    ax2.plot(ts.second, ts.failed / ts.requests, marker=".", label=name)
for ax in (ax1, ax2):
    ax.axvspan(4, 9, color="grey", alpha=0.2)
    ax.grid(alpha=0.3)
ax1.set_yscale("log")
ax1.set_ylabel("P99 of the second (ms)")
ax2.set_ylabel("share failed")
ax2.set_xlabel("time (s)")
ax1.legend()
plt.show()

# %% [markdown]
# ## The breaker's state against the ground truth

# %%
r = runs["mbb"]
print(f"decision accuracy {r['decision_accuracy']:.3f}; transitions (s, state 0 closed / 1 open / 2 half-open):")
print([(round(t, 2), s) for t, s in r.transitions][:12])
