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
# A scenario runs twice: on a testbed of two network namespaces joined by veth - a real UDP
# server, an open-loop load generator, the eBPF dropper and the horn with its controller -
# and in the simulator, with the same seed, arrivals and settings and the constants the
# testbed measured (calibration). The testbed *emulates* the service-time process (the server
# plays each request's service time with a timer); *real* are the sockets, the kernel path,
# the horn, the dropper, client timing and the controller.
#
# It needs root and a BPF-capable kernel. `QUICK` keeps it to about a minute and a half (3 s
# runs, two sweep points); `mbsim verify --scenario all --sweep` runs the full verification.

# %% tags=["parameters"]
QUICK = True

# %%
import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from mbsim.errors import MbsimError
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import programs
from mbsim.verify import calibrate, plots, run
from mbsim.verify.arms import ARMS
from mbsim.verify.arms import get as arms
from mbsim.verify.testbed import Testbed
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
# ## db-down under the three arms
# The backend hangs; `none` waits for its timeouts, the plain breaker answers from a user-space
# snapshot once it opens, the ox-horn answers at its 5 ms deadline from the kernel.

# %%
if TESTBED:
    sc = catalog.get("db-down")
    if QUICK:
        sc = dataclasses.replace(sc, duration_s=3.0, warmup_s=0.5,
                                 faults=dataclasses.replace(sc.faults, down=((1.0, 2.0),)))
    doc = run.verify([sc], arms(None), SettingsFile(), cal=cal, pinning=False, reps=3,
                     pingpong_rounds=200 if QUICK else 2000)
    # each arm ran 3 times (seeds 1, 2, 3); each run was predicted from the planned arrivals and from
    # the sends the generator really made: the error's mean and 95 % interval across the runs
    rows = []
    for arm, r in doc["scenarios"][sc.name].items():
        for name in ("p50", "p99", "success_ratio", "fallback_ratio"):
            for basis in ("planned", "realized"):
                a = r["across"][basis][name]
                rows.append({"arm": arm, "metric": name, "basis": basis, "mean error": a["mean"],
                             "interval": (a["low"], a["high"]), "runs": f"{a['n']} of {a['of']}",
                             "note": a.get("status", "")})
    display(pd.DataFrame(rows))
    kv = doc["kernel_vs_user"]
    print(f"kernel answer {kv['ratio']:.1f}x faster than the user-space one (p50, ping-pong in this run)")

# %%
if TESTBED:
    tmp = Path(tempfile.mkdtemp())
    files = run.write(doc, tmp, "notebooks/04-verify")
    display(Image(filename=str(files[f"{sc.name}-cdf"])))

# %% [markdown]
# ## Where the model's error grows: a load sweep
# The plain service (4 workers, lognormal 1 ms) from light load to near saturation, with no
# protection: the prediction error of P50 and P99 against utilisation.

# %%
if TESTBED:
    points = []
    with Testbed() as tb:
        for u in ((0.3, 0.9) if QUICK else (0.2, 0.4, 0.6, 0.8, 0.9, 0.95)):
            sweep_sc = run.sweep_scenario(u, 2.5 if QUICK else 10.0)
            r = run.run_once(tb, sweep_sc, ARMS["none"], SettingsFile(), 1, cal)
            points.append({"utilisation": u, "p50": r["p50"], "p99": r["p99"]})
    display(Image(filename=str(plots.sweep(points, tmp / "sweep.png"))))
    display(pd.DataFrame([{"utilisation": p["utilisation"], "P50 error": p["p50"]["error"],
                           "P99 error": p["p99"]["error"]} for p in points]))
