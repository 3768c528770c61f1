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
# # The model: load function, window topology, re-tuning, and one scenario under three policies
#
# The article's bike becomes a service (`mbsim/world/load_function.py`): the offered load over
# capacity is the angular speed omega, the trend of the load is the slope, the queue fill is
# the suspension's compression psi. Their torque inflates each request's service time. The
# mountain-bike buffer watches the same readings through three windows
# (`mbsim/mbb/topology.py`) and re-tunes its admission window and ring capacity from them.
# `QUICK` shortens the trace.

# %%
QUICK = True

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mbsim import policies, simulate, streams
from mbsim.engine.run import run_model
from mbsim.mbb import formulas
from mbsim.world.catalog import get
from mbsim.world.load_function import LoadFunction

# %% [markdown]
# ## The nonlinear load function
# torque = a omega^2 (1 + b (1 - cos(pi psi))) + c tanh(d slope), with the article's a, b, c, d;
# service time x (1 + gain max(0, torque)). Saturation (omega = 1) with a full queue costs
# more than twice what it costs with an empty one; an uphill trend adds up to c at once.

# %%
lf = LoadFunction()
omega = np.linspace(0, 1.5, 151)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for psi in (0.0, 0.5, 1.0):
    ax1.plot(omega, [lf.inflation(w, 0.0, psi) for w in omega], label=f"psi (queue fill) {psi}")
for slope in (-0.5, 0.0, 0.2, 0.5):
    ax2.plot(omega, [lf.inflation(w, slope, 0.0) for w in omega], label=f"slope {slope} rad")
for ax in (ax1, ax2):
    ax.set_xlabel("omega = offered load / capacity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
ax1.set_ylabel("service time multiplier")
ax1.set_title("flat load: the queue compresses the suspension")
ax2.set_title("empty queue: a rising load is an uphill")
plt.show()

# %% [markdown]
# ## The buffer's two formulas (digest 2.5)
# window = clamp(stddev / scale) between its bounds; capacity = log2(rps / scale) between its
# bounds. The window widens with latency variance; the ring grows with the request rate.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
sd = np.linspace(0, 20, 201)
ax1.plot(sd, [formulas.window_ms(s) for s in sd])
ax1.set_xlabel("latency stddev (ms)")
ax1.set_ylabel("window (ms)")
rps = np.logspace(0, 6, 200)
ax2.semilogx(rps, [formulas.capacity(r) for r in rps])
ax2.set_xlabel("request rate (req/s)")
ax2.set_ylabel("ring capacity (slots)")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## The window topology and the re-tuning on a trace
# A trace built to show all three windows: 5K req/s on 16 workers, a jump to 14K within
# 0.3 s at 3 s, then a slow decline to 4K from 7 s. The short window (200 ms) opens on the
# jump's acceleration and re-tunes at once when it closes; the medium one (1.2 s) opens on a
# change of trend and fits the damping of later re-tunes; the long one (8 s) opens when the
# load has declined for a second and re-plans. Below: when each opened, and the window and
# capacity after every re-tune (periodic every `adjust_s`, or at a short window's close).

# %%
base = get("sustained")
sc = replace(base, name="step-and-decline", duration_s=14.0 if QUICK else 20.0, warmup_s=1.0,
             workload=replace(base.workload, rate_rps=5000.0, ramps=((3.0, 3.3, 14000.0), (7.0, 11.0, 4000.0))))
spec, params = policies.resolve("mbb")
protection = spec.build(params, sc, streams.spawn(1)["policy"])
topology = protection.admission.retuner.topology
opened = []
_open = topology._open


def logged_open(name, now, length_ms):
    if topology.open_until[name] is None:
        opened.append((now, name, length_ms))
    _open(name, now, length_ms)


topology._open = logged_open
model, rec = run_model(sc, protection, seed=1)
retunes = pd.DataFrame(protection.admission.retuner.retunes, columns=["t", "cause", "window_ms", "capacity", "limit"])
seconds = pd.DataFrame(rec.seconds, columns=rec.COLUMNS)
print(f"windows opened: {topology.opened}; re-tunes: {retunes.cause.value_counts().to_dict()}")

fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
axes[0].plot(seconds.second, seconds.arrivals, marker=".", label="arrivals per second")
axes[0].set_ylabel("req/s")
colors = {"short": "tab:orange", "medium": "tab:green", "long": "tab:purple"}
for t, name, length in opened:
    for ax in axes:
        ax.axvspan(t, t + length / 1e3, color=colors[name], alpha=0.12)
for name, c in colors.items():
    axes[0].plot([], [], color=c, lw=6, alpha=0.3, label=f"{name} window open")
axes[0].legend(fontsize=8, ncol=4)
axes[1].step(retunes.t, retunes.window_ms, where="post", color="grey", lw=1)
axes[2].step(retunes.t, retunes.capacity, where="post", color="grey", lw=1)
for cause, group in retunes.groupby("cause"):
    axes[1].scatter(group.t, group.window_ms, s=18, zorder=3, label=f"re-tune: {cause}")
    axes[2].scatter(group.t, group.capacity, s=18, zorder=3, label=f"re-tune: {cause}")
axes[1].set_ylabel("admission window (ms)")
axes[2].set_ylabel("ring capacity")
axes[2].set_xlabel("time (s)")
for ax in axes:
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## One scenario, three policies
#
# `db-down`: the backend hangs from 4 s to 9 s at 5K req/s. Without protection callers wait
# for their timeouts and retries; the article's breaker fails fast; the mountain-bike buffer
# with the ox-horn answers from the snapshot at its 5 ms deadline. Same seed, so the same
# requests reach every policy (common random numbers).

# %%
runs = {p: simulate("db-down", policy=p, seed=1, duration_s=10.0 if QUICK else None)
        for p in ("none", "breaker", "mbb")}
pd.concat([r.frame() for r in runs.values()]).set_index("policy")[
    ["success_ratio", "fallback_ratio", "fresh_share", "timeout_ratio", "rejected_ratio", "p50_ms", "p99_ms",
     "p9999_ms", "p99_jitter_ms", "decision_accuracy", "slo_met"]].round(4)

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
