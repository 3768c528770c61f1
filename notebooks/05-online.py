# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Online tuning: live metrics, a safe Bayesian loop, settings hot-loaded into the running horn
#
# The horn and its controller run on the testbed, in front of the real SQLite backend. The
# controller serves its metrics (`mbsim apply --metrics`); a real Prometheus scrapes them every
# 250 ms; the online loop reads each 1-s window's P99 and the share of requests the upstream did
# not serve, proposes settings, and hot-loads them through the controller's control socket - no
# detach, one config flip in the kernel.
#
# Three arms on the same load and seed, from the same budget:
#
# * **safe**: the loop with its rails - proposals only where the models predict the SLO holds
#   (95 %), a window over the SLO rolled back at once, a stop once three windows broke it;
# * **plain**: the same loop without rails;
# * **fixed**: the settings an offline study found in the simulator, on the backend's measured
#   service under a steady load, left in force.
#
# Both online arms start from a deliberately bad setting: capacity 2, so most requests are
# answered from the snapshot. The load's terrain changes midway: noisy, then spike.
#
# It needs root, a BPF-capable kernel and Debian's `prometheus`. `QUICK` keeps it to about a
# minute and a half (8 trials of 2 s per arm); `mbsim tune --online --demo` runs the full one
# and writes `data/online/demo/`.

# %% tags=["parameters"]
QUICK = True

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from mbsim.errors import MbsimError
from mbsim.kernel import programs
from mbsim.online import demo
from mbsim.online.prometheus import binary

try:
    programs.require_bpf()
    binary()
    TESTBED = True
except MbsimError as exc:
    TESTBED = False
    print(f"no testbed here ({exc}); the cells below need one")

# %% [markdown]
# ## The three arms
# A warm-up measures the backend, the offline study tunes in the simulator, then each arm
# runs its load with the loop beside it.

# %%
if TESTBED:
    doc = demo.run_demo(demo.DemoConfig(quick=QUICK), print)
    fig = demo.plot(doc, Path(tempfile.mkdtemp()) / "online.png")
    display(Image(filename=str(fig)))

# %% [markdown]
# ## The goals' figures
# Windows over the SLO, rollbacks (and how long after the window that broke the SLO each
# took effect, in seconds), the unserved share in each terrain, and the time each arm took to
# come within 5 % of the offline settings' unserved share in that terrain.

# %%
if TESTBED:
    rows = {}
    for arm in demo.ARMS_SHOWN:
        s = doc["summary"][arm]
        rows[arm] = {"windows": s["windows"], "over the SLO": s["over"], "share over": s["over_share"],
                     "rollbacks": s["rollbacks"], "slowest rollback (s after the window)":
                     s["rollback_after_window_s_max"], "unserved, noisy": s["unserved_noisy"],
                     "unserved, spike": s["unserved_spike"],
                     "within 5 % of offline, noisy (s)": s["time_to_within_5pct_s"]["noisy"],
                     "within 5 % of offline, spike (s)": s["time_to_within_5pct_s"]["spike"]}
    display(pd.DataFrame(rows).T)
