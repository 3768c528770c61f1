"""``mbsim run``, ``simulate``, ``scenarios`` and ``policies``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from .. import catalog, policies
from ..cli import command, emit_json
from ..provenance import provenance
from ..report import markdown_table
from ..simulate import simulate
from .common import add_set, scenario_with, split_sets

TABLE = ["scenario", "policy", "success_ratio", "fallback_ratio", "p50_ms", "p99_ms", "p9999_ms",
         "p99_jitter_ms", "decision_accuracy", "slo_met"]
HEADERS = ["scenario", "policy", "success", "fallback", "P50 ms", "P99 ms", "P99.99 ms", "P99 jitter ms",
           "decision acc.", "SLO met"]


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="db-down", help="built-in name (see mbsim scenarios) or a .json file")
    p.add_argument("--policy", default="mbb", help="see mbsim policies")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default: the scenario's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--timeseries", action="store_true", help="include the per-second series in the JSON")
    add_set(p)


@command("simulate", "run one scenario under one policy and print its metrics")
def _add(p: argparse.ArgumentParser) -> None:
    _simulate_args(p)


@_add
def simulate_cmd(args: argparse.Namespace) -> int:
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


@command("scenarios", "list the built-in scenarios")
def _add_sc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print every scenario's parameters as JSON")


@_add_sc
def scenarios_cmd(args: argparse.Namespace) -> int:
    from ..config import to_dict
    if args.json:
        emit_json({name: to_dict(sc) for name, sc in catalog.SCENARIOS.items()})
        return 0
    for name, sc in catalog.SCENARIOS.items():
        print(f"{name:12s} {sc.description}")
    return 0


@command("policies", "list the protection policies")
def _add_pol(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print every policy's default parameters as JSON")


@_add_pol
def policies_cmd(args: argparse.Namespace) -> int:
    from ..config import to_dict
    if args.json:
        emit_json({n: {"summary": policies.get(n).summary, "defaults": to_dict(policies.get(n).params())}
                   for n in policies.names()})
        return 0
    for n in policies.names():
        print(f"{n:16s} {policies.get(n).summary}")
    return 0


RUN_POLICIES = ("none", "breaker", "mbb")


@command("run", "the main job: every built-in scenario under none, breaker and mbb; prints the table")
def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="8 simulated seconds per run instead of each scenario's own")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", default="data/run", help="directory for results.json and results.md (default: data/run)")


@_add_run
def run_cmd(args: argparse.Namespace) -> int:
    rows, results = [], []
    jobs = [(s, p) for s in catalog.names() for p in RUN_POLICIES]
    for name, pol in tqdm(jobs, desc="mbsim run", unit="run", file=sys.stderr, disable=None):
        r = simulate(name, policy=pol, seed=args.seed, duration_s=8.0 if args.quick else None)
        rows.append(r.row())
        results.append(r.to_dict())
    table = markdown_table(rows, TABLE, HEADERS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"provenance": provenance(seed=args.seed, quick=args.quick, policies=list(RUN_POLICIES),
                                       scenarios=catalog.names()),
              "results": results}
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (out / "results.md").write_text(table + "\n")
    if args.json:
        emit_json(record)
    else:
        print(table)
        print(f"\n(written to {out / 'results.json'} and {out / 'results.md'})")
    return 0
