"""``mbsim compare``: every policy on one scenario, with common random numbers and CIs."""
from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from mbsim.cli import emit_json
from mbsim.cli.arguments import (
    add_allow_dirty,
    add_json,
    add_max_requests,
    add_out,
    add_reps,
    add_scenario,
    out_dir,
    seed,
)
from mbsim.errors import ConfigError

HELP = "run every policy on one scenario (common random numbers, replications, CIs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario(p)
    p.add_argument("--policies", default=None, help="comma-separated policies (default: all)")
    add_reps(p, 5, 2, 1000, "replications on common random numbers, at least 2 for an interval")
    p.add_argument("--seed", type=seed, default=1, help="base seed of the replications")
    p.add_argument("--quick", action="store_true", help="short runs (6 s) for CI and notebooks")
    add_json(p, "the results, keyed by policy,")
    add_out(p, None, "directory for results: data/compare/SCENARIO[-quick] when not given")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--tuned", metavar="[LABEL=]PATH", action="append", default=[],
                   help="add a tuned arm: a study's directory, settings.json (mbb) or params.json (a peer), as "
                        "mbsim tune wrote it; labelled POLICY-bo unless LABEL= is given; repeatable")
    p.add_argument("--reference", default="mbb", metavar="LABEL",
                   help="the arm the paired verdicts compare the others with (default mbb; e.g. mbb-bo)")
    p.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                   help="change a parameter of the scenario (service.drop_abandoned=true); repeatable")
    add_allow_dirty(p)
    add_max_requests(p)


def run(args: argparse.Namespace) -> int:
    from mbsim.comparison.compare import DEFAULT_POLICIES, compare
    from mbsim.comparison.figures import all_figures
    from mbsim.comparison.markdown import markdown, save
    from mbsim.provenance import provenance

    names = [n.strip() for n in args.policies.split(",")] if args.policies else list(DEFAULT_POLICIES)
    if not all(names):
        raise ConfigError("--policies has an empty name")
    from mbsim.comparison.entries import check_reference, named, tuned, unique
    from mbsim.params import override, parse_assignments
    from mbsim.world import catalog

    scenario = override(catalog.load(args.scenario), parse_assignments(args.set))  # bad input fails here, first
    entries = unique([named(n) for n in names] + [tuned(t) for t in args.tuned])
    check_reference(args.reference, entries)  # before anything is written
    out = out_dir(args.out or f"data/compare/{scenario.name}{'-quick' if args.quick else ''}", args.allow_dirty)
    bar = tqdm(total=None, desc=f"compare {scenario.name}", unit="run", file=sys.stderr, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    study = compare(scenario, entries, reps=args.reps, seed=args.seed, quick=args.quick, progress=progress,
                    reference=args.reference)
    bar.close()
    command_line = "mbsim " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("mbsim") else \
        f"mbsim compare --scenario {args.scenario}" + (" --quick" if args.quick else "")
    save(study, out, command_line, provenance(seed=args.seed, reps=args.reps, sets=args.set, tuned=args.tuned))
    table = markdown(study, command_line)
    figures = {} if args.no_figures else all_figures(study, out)
    if args.json:
        emit_json(study.to_dict()["policies"])
    else:
        print(table)
        print(f"(written to {out}: results.json, results.md" + (", figures" if figures else "") + ")")
    return 0
