"""``mbsim simulate``: one scenario under one policy."""
from __future__ import annotations

import argparse

from mbsim import policies
from mbsim.cli.arguments import (
    add_json,
    add_max_requests,
    add_scenario,
    add_set,
    number,
    scenario_with,
    seed,
    split_sets,
)
from mbsim.engine.simulate import simulate

HELP = "run one scenario under one policy and print its metrics"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario(p)
    p.add_argument("--policy", default="mbb", choices=policies.names(), metavar="POLICY",
                   help="one of mbsim policies (default mbb)")
    p.add_argument("--duration", type=number(0, 86_400, low_open=True), default=None,
                   help="simulated seconds (default: the scenario's)")
    p.add_argument("--seed", type=seed, default=1)
    add_json(p, "the result")
    p.add_argument("--timeseries", action="store_true", help="include the per-second series in the JSON")
    add_set(p)
    add_max_requests(p)


def run(args: argparse.Namespace) -> int:
    sc_sets, pol_sets = split_sets(args.set, args.policy)
    sc = scenario_with(args.scenario, sc_sets, args.duration)
    r = simulate(sc, policy=args.policy, seed=args.seed, overrides=pol_sets)
    if args.json:
        print(r.to_json(timeseries=args.timeseries))
        return 0
    print(f"{sc.name} under {r.policy}, seed {r.seed}, {sc.duration_s:g} s simulated in {r.wall_s:.2f} s")
    pct = r.percentiles()
    for k, v in r.metrics.items():
        if k in pct:
            p = pct[k]
            star = "" if p.meaningful else "  * fewer than 100 beyond: not meaningful"
            print(f"  {k:24s} {v:.6g} (95 % CI {p.low:.6g}..{p.high:.6g}, {p.beyond} beyond of {p.n}){star}")
        else:
            print(f"  {k:24s} {v}")
    return 0
