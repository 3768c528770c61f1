"""Benchmarks (``mbsim bench ...``). Speed is measured here, never in tests.

``sim``: simulated requests per wall-clock second of the full mountain-bike model (buffer,
breaker, horn, load function) at 10K req/s, against a bare SimPy M/M/1 at the same rate
written the usual way (a ``simpy.Resource`` and one generator process per customer),
measured in the same run, alternating, best of ``repeats``. The ratio is what matters:
these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Generator
from contextlib import nullcontext
from typing import Any

import numpy as np
import simpy

from mbsim.argtypes import add_reps, number
from mbsim.engine.run import cyclic_gc_paused, run_model
from mbsim.engine.simulate import simulate
from mbsim.world.scenario import Scenario
from mbsim.world.workload import Workload

BENCH_SCENARIO = Scenario(name="bench-10k", description="10K req/s, default service, no faults",
                          duration_s=10.0, warmup_s=1.0, workload=Workload(rate_rps=10000.0))


def bare_mm1(rate: float = 10000.0, rho: float = 0.8, duration_s: float = 10.0, seed: int = 1,
             gc_paused: bool = False) -> float:
    """Customers per wall-clock second of a textbook SimPy M/M/1 (``gc_paused``: with the
    cyclic GC paused, as mbsim runs its own model)."""
    rng = np.random.default_rng(seed)
    n = int(rate * duration_s * 1.5) + 1000
    gaps = iter(rng.exponential(1 / rate, n).tolist())
    services = iter(rng.exponential(rho / rate, n).tolist())
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    waits: list[float] = []

    def customer(env: simpy.Environment, service: float) -> Generator[Any, Any, None]:
        arrived = env.now
        with server.request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(service)

    def source(env: simpy.Environment) -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(next(gaps))
            env.process(customer(env, next(services)))

    env.process(source(env))
    with cyclic_gc_paused() if gc_paused else nullcontext():
        t0 = time.perf_counter()
        env.run(until=duration_s)
        wall = time.perf_counter() - t0
    return len(waits) / wall


def full_model(duration_s: float = 10.0, seed: int = 1) -> float:
    """Logical requests per wall-clock second of ``mbb`` on the 10K req/s scenario."""
    sc = Scenario(**{**BENCH_SCENARIO.__dict__, "duration_s": duration_s,
                     "warmup_s": min(BENCH_SCENARIO.warmup_s, duration_s / 5)})
    r = simulate(sc, policy="mbb", seed=seed)
    return r.server["arrivals"] / r.wall_s


def memory_growth(policy: str = "mbb", short_s: float = 5.0, long_s: float = 20.0) -> dict[str, float]:
    """Peak traced memory (MiB) of a run ``short_s`` and one 4x longer: it must not scale."""
    from mbsim import policies
    out = {}
    for d in (short_s, long_s):
        sc = Scenario(**{**BENCH_SCENARIO.__dict__, "duration_s": d})
        spec, p = policies.resolve(policy)
        tracemalloc.start()
        run_model(sc, spec.build(p, sc, None), seed=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[f"peak_mib_{d:g}s"] = peak / 2 ** 20
    return out


def bench_sim(duration_s: float = 10.0, repeats: int = 5, memory: bool = True) -> dict[str, Any]:
    model_best = bare_best = bare_nogc_best = 0.0
    for k in range(repeats):
        bare_best = max(bare_best, bare_mm1(duration_s=duration_s, seed=k + 1))
        model_best = max(model_best, full_model(duration_s=duration_s, seed=k + 1))
        bare_nogc_best = max(bare_nogc_best, bare_mm1(duration_s=duration_s, seed=k + 1, gc_paused=True))
    out: dict[str, Any] = {
        "scenario": BENCH_SCENARIO.name,
        "duration_s": duration_s,
        "repeats": repeats,
        "full_model_req_per_s": model_best,
        "bare_mm1_req_per_s": bare_best,
        "full_model_us_per_req": 1e6 / model_best,
        "bare_mm1_us_per_req": 1e6 / bare_best,
        "ratio": model_best / bare_best,
        "goal_ratio": 3.0,
        # for transparency: the bare loop given the model's paused GC too
        "bare_mm1_gc_paused_req_per_s": bare_nogc_best,
        "ratio_vs_bare_gc_paused": model_best / bare_nogc_best,
    }
    if memory:
        out.update(memory_growth())
    return out


HELP = "the simulator's speed: the full model against a bare SimPy M/M/1 at the same rate, in the same run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=number(0, 3600, low_open=True), default=10.0,
                   help="simulated seconds per run (default 10)")
    add_reps(p, 5, 1, 1000, "runs of each side, alternating; the best counts")


def run(args: argparse.Namespace) -> dict[str, Any]:
    return bench_sim(args.duration, args.reps)


def format(out: dict[str, Any]) -> str:
    return "\n".join([
        f"full mountain-bike model at 10K req/s: {out['full_model_req_per_s']:,.0f} simulated req/s "
        f"({out['full_model_us_per_req']:.2f} us/request)",
        f"bare SimPy M/M/1 at 10K req/s:        {out['bare_mm1_req_per_s']:,.0f} simulated req/s "
        f"({out['bare_mm1_us_per_req']:.2f} us/request)",
        f"ratio: {out['ratio']:.2f} (goal >= {out['goal_ratio']:.1f}); "
        f"{out['ratio_vs_bare_gc_paused']:.2f} against the bare loop with its GC paused too",
        f"peak memory of a 5 s / 20 s run: {out['peak_mib_5s']:.2f} / {out['peak_mib_20s']:.2f} MiB",
    ])
