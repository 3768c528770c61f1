"""``mbsim bench rig``: what the testbed can be trusted to do on this machine.

* the highest rate at which the open-loop generator keeps its p99 lateness within 25 us
  and its achieved rate within 2 % of the plan (a server whose service takes 1 us, so the
  generator is what is measured), over rates that double;
* the client's round trip for an answer from the kernel against one from the user-space
  sidecar, alternated in one run (the ratio is the figure; microseconds move with the
  machine);
* the generator's lateness at 10K req/s without and with real-time scheduling (SCHED_FIFO
  for the sender, receiver and server, memory locked, CPUs pinned), in interleaved pairs of
  runs: the ratio of their p99s, with the absolute figures beside it.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from mbsim.argtypes import count, number
from mbsim.verify import calibrate, gates, measure
from mbsim.verify.arms import ARMS
from mbsim.verify.testbed import Testbed
from mbsim.world.client import Client
from mbsim.world.load_function import LoadFunction
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload

RATES = (2000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 60000.0, 80000.0)


def echo(rate: float, duration_s: float) -> Scenario:
    return Scenario(name=f"rig-{rate:g}", duration_s=duration_s, warmup_s=0.5, workload=Workload(rate_rps=rate),
                    service=Service(workers=64, dist="deterministic", mean_ms=0.001, load=LoadFunction(gain=0.0)),
                    client=Client(timeout_ms=100.0, max_retries=0))


def lateness(tb: Testbed, sc: Scenario, seed: int = 1) -> dict[str, float]:
    """The generator's lateness (us) in one run of ``sc``, after its warm-up."""
    raw = tb.run(sc, ARMS["none"], seed=seed)
    o = measure.outcomes(raw, None)
    start, end = raw.t0_ns + int(sc.warmup_s * 1e9), raw.t0_ns + int(sc.duration_s * 1e9)
    w = (raw.arrays["planned"] >= start) & (raw.arrays["planned"] < end)
    late = o.lateness_ns[w] / 1e3
    return {"p50_us": float(np.percentile(late, 50)), "p99_us": float(np.percentile(late, 99)),
            "max_us": float(late.max()), "sched_fifo": bool(raw.health.get("sender_sched_fifo"))}


def realtime_pairs(tb: Testbed, pairs: int, rate: float, duration_s: float,
                   progress: Any = lambda m: None) -> dict[str, Any]:
    """The generator's lateness without and with real-time scheduling (SCHED_FIFO, locked
    memory, on the pinned CPUs), in ``pairs`` interleaved pairs of runs at ``rate``: each
    pair's p99 ratio (with / without) and their median."""
    sc = echo(rate, duration_s)
    out: list[dict[str, Any]] = []
    for k in range(pairs):
        row: dict[str, Any] = {}
        for rt in (False, True) if k % 2 == 0 else (True, False):  # alternate which goes first
            progress(f"generator at {rate:g} req/s, {'SCHED_FIFO' if rt else 'plain'} (pair {k + 1} of {pairs})")
            tb.realtime = rt
            try:
                row["realtime" if rt else "plain"] = lateness(tb, sc, seed=k + 1)
            finally:
                tb.realtime = False
        row["p99_ratio"] = row["realtime"]["p99_us"] / row["plain"]["p99_us"]
        out.append(row)
    ratios = sorted(r["p99_ratio"] for r in out)
    return {"rate_rps": rate, "duration_s": duration_s, "pairs": out,
            "median_p99_ratio": float(np.median(ratios)) if ratios else None,
            "sched_fifo_held": all(r["realtime"]["sched_fifo"] for r in out)}


def bench_rig(duration_s: float = 2.0, rounds: int = 2000, pairs: int = 3,
              progress: Any = lambda m: None) -> dict[str, Any]:
    rates = []
    with Testbed() as tb:
        for rate in RATES:
            sc = echo(rate, duration_s)
            progress(f"generator at {rate:g} req/s")
            raw = tb.run(sc, ARMS["none"], seed=1)
            o = measure.outcomes(raw, None)
            start, end = raw.t0_ns + int(sc.warmup_s * 1e9), raw.t0_ns + int(sc.duration_s * 1e9)
            gs, _ = gates.check(o, raw.arrays["planned"], start, end, True)
            g = {x.name: x for x in gs}
            w = (raw.arrays["planned"] >= start) & (raw.arrays["planned"] < end)
            late = o.lateness_ns[w] / 1e3
            answered = float(np.mean(o.kind[o.in_window] == 0)) if o.in_window.any() else 0.0
            rates.append({"rate_rps": rate, "lateness_p50_us": float(np.percentile(late, 50)),
                          "lateness_p99_us": float(np.percentile(late, 99)), "lateness_max_us": float(late.max()),
                          "rate_error": g["rate"].value, "answered": answered,
                          "sustained": g["lateness"].passed and g["rate"].passed})
            if not rates[-1]["sustained"] and len(rates) > 1 and not rates[-2]["sustained"]:
                break  # two rates in a row it could not hold: stop climbing
        progress("kernel against user-space answers, one run")
        rtt = calibrate.pingpong(tb, rounds, echo(1000.0, 1.0))
        rt = realtime_pairs(tb, pairs, 10000.0, max(duration_s, 3.0), progress) if pairs else None
    held = [r["rate_rps"] for r in rates if r["sustained"]]
    kernel, user = np.median(rtt["kernel"]), np.median(rtt["user"])
    return {"rates": rates, "max_sustained_rps": max(held) if held else None, "goal_lateness_p99_us": 25.0,
            "rtt_kernel_p50_us": float(kernel), "rtt_user_p50_us": float(user),
            "rtt_base_p50_us": float(np.median(rtt["base"])),
            "kernel_to_user_ratio": calibrate.kernel_to_user(rtt), "goal_kernel_to_user_ratio": 3.0, "realtime": rt}


HELP = "the testbed's open-loop generator from 2K req/s up, and kernel against user-space answers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=number(1, 60), default=2.0,
                   help="seconds at each rate (default 2; the first 0.5 s are warm-up)")
    p.add_argument("--samples", type=count(10, 100_000), default=2000,
                   help="round trips of each kind in the ping-pong run (default 2000)")
    p.add_argument("--pairs", type=count(0, 50), default=3,
                   help="interleaved pairs of runs at 10K req/s without and with SCHED_FIFO and locked memory "
                        "(default 3; 0 skips them)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import sys

    from mbsim.verify.scope import needs_testbed

    needs_testbed("mbsim bench rig")
    return bench_rig(args.duration, args.samples, args.pairs,
                     progress=lambda m: print(f"[bench rig] {m}", file=sys.stderr, flush=True))


def format(out: dict[str, Any]) -> str:
    lines = [f"{r['rate_rps']:8.0f} req/s: lateness p50 {r['lateness_p50_us']:6.1f} us, p99 "
             f"{r['lateness_p99_us']:7.1f} us, max {r['lateness_max_us']:7.0f} us, rate error "
             f"{100 * r['rate_error']:+.2f} % -> {'held' if r['sustained'] else 'not held'}" for r in out["rates"]]
    lines.append(f"highest rate held (p99 lateness <= 25 us, rate within 2 %): {out['max_sustained_rps']} req/s")
    lines.append(f"one run, p50 round trip: kernel answer {out['rtt_kernel_p50_us']:.1f} us, user-space answer "
                 f"{out['rtt_user_p50_us']:.1f} us, server {out['rtt_base_p50_us']:.1f} us: the kernel's is "
                 f"{out['kernel_to_user_ratio']:.1f}x faster (goal >= 3)")
    rt = out.get("realtime")
    if rt:
        for k, r in enumerate(rt["pairs"]):
            lines.append(f"pair {k + 1} at {rt['rate_rps']:g} req/s: lateness p99 plain {r['plain']['p99_us']:.1f} us "
                         f"(max {r['plain']['max_us']:.0f}), SCHED_FIFO {r['realtime']['p99_us']:.1f} us "
                         f"(max {r['realtime']['max_us']:.0f}): ratio {r['p99_ratio']:.2f}")
        held = "" if rt["sched_fifo_held"] else " (SCHED_FIFO was refused in some runs)"
        lines.append(f"real-time scheduling: lateness p99 {rt['median_p99_ratio']:.2f}x the plain run's (median of "
                     f"{len(rt['pairs'])} paired ratios; below 1 helps){held}")
    return "\n".join(lines)
