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
# # The model against the real kernel fallback
#
# A scenario runs twice: on a testbed of two network namespaces joined by veth - a UDP
# server, an open-loop load generator, the eBPF dropper and the horn with its controller -
# and in the simulator, with the same seed, arrivals and settings and the constants the
# testbed measured (calibration).
#
# The server has two backends. **sqlite** (the default here) is a real database: a worker
# runs real queries on a 1M-row SQLite file, so its service times, queueing and load effects
# are whatever this machine does, and the model is *fitted* to it from measurements first.
# **timer** is the emulated service: it plays the model's own service times with timers, so
# that only the network and kernel path are compared. Real in both: the sockets, the kernel
# path, the horn, the dropper, client timing and the controller.
#
# It needs root and a BPF-capable kernel. `QUICK` keeps it to about two minutes (short runs,
# a three-load fit, the chosen backend only); `mbsim verify --backend sqlite --scenario all`
# runs the full verification.

# %% tags=["parameters"]
QUICK = True
BACKEND = "sqlite"  # or "timer": the emulated service

# %%
import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from mbsim.errors import MbsimError
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import programs
from mbsim.verify import backend_fit, calibrate, plots, run
from mbsim.verify.arms import get as arms
from mbsim.world import catalog

try:
    programs.require_bpf()
    TESTBED = True
except MbsimError as exc:
    TESTBED = False
    print(f"no testbed here ({exc}); the cells below need one")

# %% [markdown]
# ## Calibration
# The base round trip (client, network, the server's loop), the kernel's answer and the user-space
# sidecar's answer, each as the testbed's client sees it. A calibration belongs to the machine and
# boot that measured it: the one stored for this machine is used, or this machine is measured first.
# The simulator draws each attempt's round trip from the measured ones.

# %%
if TESTBED:
    cal = calibrate.for_this_machine(
        None, lambda: calibrate.calibrate(rounds=200 if QUICK else 2000, duration_s=1.0 if QUICK else 4.0), print)
    display(pd.DataFrame({k: {q: cal[k][q] for q in ("p50", "p90", "p99", "mean")}
                          for k in ("base_rtt_us", "kernel_answer_us", "user_answer_us", "generator_lateness_us")}).T)

# %% [markdown]
# ## The real backend, fitted
# On the SQLite backend: each request class's service time (lognormal, gamma or the empirical
# distribution, whichever predicts held-out samples best), the effective worker count, and the
# load function from a load sweep - the article's form against no load effect and a linear
# one, by AIC and on loads held out of the fit. Like the calibration, the fit belongs to this
# machine and boot.

# %%
if TESTBED and BACKEND == "sqlite":
    fitted = calibrate.for_this_machine(
        None, lambda: backend_fit.calibrate(quick=True, run_s=1.0 if QUICK else None, boot=20 if QUICK else 200,
                                            loads=(0.2, 0.4, 0.6) if QUICK else None),
        print, default=backend_fit.DEFAULT_PATH, loader=backend_fit.load)
    display(Markdown(backend_fit.markdown(fitted)))
    tmp = Path(tempfile.mkdtemp())
    display(Image(filename=str(plots.backend_fit(fitted["load_fit"], tmp / "load-function.png"))))
else:
    fitted = None

# %% [markdown]
# ## db-down under the three arms
# The backend goes down (on the real database: another process holds its exclusive lock and
# the worker waits); `none` waits for its timeouts, the plain breaker answers from a user-space
# snapshot once it opens, the ox-horn answers at its 5 ms deadline from the kernel. On the
# real backend, the loads held out of the fit are verified too (`held-out-*`, the none arm).
# The emulated service's table follows (without `QUICK`).

# %%
def errors(doc):
    """Each arm's prediction error across its runs: mean, 95 % interval, runs used."""
    rows = []
    for scenario, arms_ in doc["scenarios"].items():
        for arm, r in arms_.items():
            for name in ("p50", "p99", "success_ratio", "fallback_ratio"):
                for basis in ("planned", "realized"):
                    a = r["across"][basis][name]
                    rows.append({"scenario": scenario, "arm": arm, "metric": name, "basis": basis,
                                 "mean error": a["mean"], "interval": (a["low"], a["high"]),
                                 "runs": f"{a['n']} of {a['of']}", "note": a.get("status", "")})
    return pd.DataFrame(rows)


if TESTBED:
    sc = catalog.get("db-down")
    if QUICK:
        sc = dataclasses.replace(sc, duration_s=3.0, warmup_s=0.5,
                                 faults=dataclasses.replace(sc.faults, down=((1.0, 2.0),)))
    docs = {}
    for backend in dict.fromkeys([BACKEND] if QUICK else [BACKEND, "timer"]):  # QUICK: the chosen backend only
        # each arm runs 2 (QUICK) or 3 times on distinct seeds; each run is predicted from the planned
        # arrivals and from the sends the generator really made
        docs[backend] = run.verify([sc], arms(None), SettingsFile(), cal=cal, pinning=False, reps=2 if QUICK else 3,
                                   pingpong_rounds=200 if QUICK else 2000, backend=backend,
                                   backend_fit=fitted if backend == "sqlite" else None)
        print(f"{backend} backend - {docs[backend]['what_is_emulated']}")
        display(errors(docs[backend]))
    kv = docs[BACKEND]["kernel_vs_user"]
    print(f"kernel answer {kv['ratio']:.1f}x faster than the user-space one (p50, ping-pong in this run)")

# %%
if TESTBED:
    tmp = Path(tempfile.mkdtemp())
    for backend, doc in docs.items():
        files = run.write(doc, tmp / backend, f"notebooks/04-verify ({backend} backend)")
        display(Image(filename=str(files[f"{sc.name}-cdf"])))
