"""``mbsim compare``: every policy on one scenario, with common random numbers and CIs."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from tqdm import tqdm

from mbsim.cli import emit_json
from mbsim.cli.arguments import add_allow_dirty, add_max_requests, count, out_dir, seed
from mbsim.errors import ConfigError
from mbsim.metrics.registry import (
    BREAKER_OPENS,
    CPU_US_PER_DECISION,
    DECISION_ACCURACY,
    FALLBACK_RATIO,
    FALSE_OPEN_SHARE,
    FRESH_SHARE,
    GOODPUT_RATIO,
    OVERLOAD_GOODPUT_RATIO,
    P99_JITTER_MS,
    P99_MS,
    P9999_MS,
    RECOVERY_S,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
)
from mbsim.tables import fmt

HEAD = ["policy", "P99 ms", "P99.99 ms", "P99 jitter ms", "SLO windows missed", "success", "fallback", "fresh",
        "goodput ratio", "false open", "decision acc.", "CPU us/decision"]
COLS = [P99_MS, P9999_MS, P99_JITTER_MS, SLO_VIOLATION_RATIO, SUCCESS_RATIO, FALLBACK_RATIO, FRESH_SHARE,
        GOODPUT_RATIO, FALSE_OPEN_SHARE, DECISION_ACCURACY, CPU_US_PER_DECISION]
OVERLOAD_HEAD = ["overload goodput ratio", "recovery s", "breaker opens"]
OVERLOAD_COLS = [OVERLOAD_GOODPUT_RATIO, RECOVERY_S, BREAKER_OPENS]


def _cell(row: dict[str, Any], col: str) -> str:
    lo, hi = row.get(f"{col}_ci", [None, None])
    star = "" if row.get(f"{col}_meaningful", True) else "*"
    if lo is None or hi is None:
        return fmt(row.get(col)) + star
    return f"{fmt(row[col])}{star} ({fmt(lo)}..{fmt(hi)})"


def markdown(study: Any, command_line: str) -> str:
    from mbsim.comparison.compare import CPU_REPS

    lines = [f"Scenario `{study.scenario.name}`: {study.scenario.description}", "",
             f"{len(study.seeds)} replications (common random numbers, seeds {study.seeds}), "
             f"{study.scenario.duration_s:g} s each; mean (95 % CI over replications; a latency percentile's "
             f"interval is at least its histogram bucket, 0.1 %). * = fewer than 100 samples beyond the "
             f"percentile in a replication: not meaningful. CPU us/decision: wall time in the policy's code, "
             f"{CPU_REPS} timed runs (it grows when the machine is busy). Command: `{command_line}`", "",
             ]
    rows = study.table_rows()
    overloaded = any(not math.isnan(row.get(OVERLOAD_GOODPUT_RATIO, math.nan)) for row in rows)
    head, cols = (HEAD + OVERLOAD_HEAD, COLS + OVERLOAD_COLS) if overloaded else (HEAD, COLS)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["policy"]] + [_cell(row, c) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Paired differences ({study.reference} minus each other arm, 95 % CI over replications):", ""]
    lines += [f"- {v}" for v in study.verdicts()]
    return "\n".join(lines) + "\n"


HELP = "run every policy on one scenario (common random numbers, replications, CIs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="tail-spike", help="built-in scenario (see mbsim scenarios)")
    p.add_argument("--policies", default=None, help="comma-separated policies (default: all)")
    p.add_argument("--reps", type=count(2, 1000), default=5,
                   help="replications, at least 2 for an interval (default 5)")
    p.add_argument("--seed", type=seed, default=1, help="base seed of the replications")
    p.add_argument("--quick", action="store_true", help="short runs (6 s) for CI and notebooks")
    p.add_argument("--json", action="store_true", help="print the results as JSON, keyed by policy")
    p.add_argument("--out", default=None, help="directory for results (default data/compare/SCENARIO[-quick])")
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
    from mbsim.provenance import dirty_banner, provenance

    names = [n.strip() for n in args.policies.split(",")] if args.policies else list(DEFAULT_POLICIES)
    if not all(names):
        raise ConfigError("--policies has an empty name")
    from mbsim.comparison.entries import check_reference, named, tuned, unique
    from mbsim.params import override, parse_assignments
    from mbsim.world import catalog

    scenario = override(catalog.get(args.scenario), parse_assignments(args.set))  # bad input fails here, first
    entries = unique([named(n) for n in names] + [tuned(t) for t in args.tuned])
    check_reference(args.reference, entries)  # before anything is written
    out = out_dir(args.out or f"data/compare/{args.scenario}{'-quick' if args.quick else ''}", args.allow_dirty)
    bar = tqdm(total=None, desc=f"compare {args.scenario}", unit="run", file=sys.stderr, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    study = compare(scenario, entries, reps=args.reps, seed=args.seed, quick=args.quick, progress=progress,
                    reference=args.reference)
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    command_line = "mbsim " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("mbsim") else \
        f"mbsim compare --scenario {args.scenario}" + (" --quick" if args.quick else "")
    record = {**study.to_dict(), "provenance": provenance(seed=args.seed, reps=args.reps, sets=args.set,
                                                          tuned=args.tuned)}
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    table = markdown(study, command_line)
    (out / "results.md").write_text(dirty_banner(record["provenance"]) + table)
    figures = {} if args.no_figures else all_figures(study, out)
    if args.json:
        emit_json(study.to_dict()["policies"])
    else:
        print(table)
        print(f"(written to {out}: results.json, results.md" + (", figures" if figures else "") + ")")
    return 0
