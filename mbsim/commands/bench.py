"""``mbsim bench TARGET``: speed and cost benchmarks (never timed tests)."""
from __future__ import annotations

import argparse

from ..cli import command, emit_json
from ..errors import ConfigError

TARGETS = ("sim",)


@command("bench", "benchmarks: sim (simulator speed against bare SimPy)")
def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="what to measure: " + ", ".join(TARGETS))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--duration", type=float, default=10.0, help="simulated seconds per run (sim)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side; the best counts (sim)")


@_add
def bench_cmd(args: argparse.Namespace) -> int:
    if args.target == "sim":
        from ..bench import bench_sim
        if args.duration <= 0 or args.repeats < 1:
            raise ConfigError("--duration must be positive and --repeats at least 1")
        out = bench_sim(args.duration, args.repeats)
        if args.json:
            emit_json(out)
        else:
            print(f"full mountain-bike model at 10K req/s: {out['full_model_req_per_s']:,.0f} simulated req/s")
            print(f"bare SimPy M/M/1 at 10K req/s:        {out['bare_mm1_req_per_s']:,.0f} simulated req/s")
            print(f"ratio: {out['ratio']:.2f} (goal >= {out['goal_ratio']:.1f})")
            print(f"peak memory of a 5 s / 20 s run: "
                  f"{out['peak_mib_5s']:.2f} / {out['peak_mib_20s']:.2f} MiB")
        return 0
    raise ConfigError(f"unknown benchmark {args.target!r} (known: {', '.join(TARGETS)})")
