"""``mbsim run``: the main job."""
from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from mbsim.cli import emit_json
from mbsim.cli.arguments import add_allow_dirty, add_max_requests, out_dir, seed
from mbsim.engine.simulate import simulate
from mbsim.provenance import dirty_banner, provenance
from mbsim.report.tables import markdown_table
from mbsim.world import catalog

HELP = "the main job: every built-in scenario under none, breaker and mbb; prints the table"
TABLE = ["scenario", "policy", "success_ratio", "fallback_ratio", "fresh_share", "goodput_ratio", "p50_ms", "p99_ms",
         "p9999_ms", "p99_jitter_ms", "decision_accuracy", "false_open_share", "slo_met"]
HEADERS = ["scenario", "policy", "success", "fallback", "fresh", "goodput ratio", "P50 ms", "P99 ms", "P99.99 ms",
           "P99 jitter ms", "decision acc.", "false open", "SLO met"]
RUN_POLICIES = ("none", "breaker", "mbb")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=seed, default=1)
    p.add_argument("--quick", action="store_true", help="8 simulated seconds per run instead of each scenario's own")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", default="data/run", help="directory for results.json and results.md (default: data/run)")
    add_allow_dirty(p)
    add_max_requests(p)


def run(args: argparse.Namespace) -> int:
    out = out_dir(args.out, args.allow_dirty)
    rows, results = [], []
    jobs = [(s, p) for s in catalog.names() for p in RUN_POLICIES]
    for name, pol in tqdm(jobs, desc="mbsim run", unit="run", file=sys.stderr, disable=None):
        r = simulate(name, policy=pol, seed=args.seed, duration_s=8.0 if args.quick else None)
        rows.append(r.row())
        results.append(r.to_dict())
    table = markdown_table(rows, TABLE, HEADERS)
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(seed=args.seed, quick=args.quick, policies=list(RUN_POLICIES), scenarios=catalog.names())
    record = {"provenance": prov, "results": results}
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (out / "results.md").write_text(dirty_banner(prov) + table + "\n")
    if args.json:
        emit_json(record)
    else:
        print(table)
        print(f"\n(written to {out / 'results.json'} and {out / 'results.md'})")
    return 0
