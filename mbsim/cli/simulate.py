"""``mbsim simulate``: one scenario under one policy."""
from __future__ import annotations

import argparse

from mbsim.cli.arguments import add_set, scenario_with, split_sets
from mbsim.engine.simulate import simulate

HELP = "run one scenario under one policy and print its metrics"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="db-down", help="built-in name (see mbsim scenarios) or a .json file")
    p.add_argument("--policy", default="mbb", help="see mbsim policies")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default: the scenario's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--timeseries", action="store_true", help="include the per-second series in the JSON")
    add_set(p)


def run(args: argparse.Namespace) -> int:
    sc_sets, pol_sets = split_sets(args.set, args.policy)
    sc = scenario_with(args.scenario, sc_sets, args.duration)
    r = simulate(sc, policy=args.policy, seed=args.seed, overrides=pol_sets)
    if args.json:
        print(r.to_json(timeseries=args.timeseries))
        return 0
    print(f"{sc.name} under {r.policy}, seed {r.seed}, {sc.duration_s:g} s simulated in {r.wall_s:.2f} s")
    for k, v in r.metrics.items():
        print(f"  {k:24s} {v}")
    return 0
