"""``mbsim run``: the main job, the whole story in one offline report (:mod:`mbsim.report.story`)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mbsim.cli import emit_json
from mbsim.cli.arguments import add_allow_dirty, add_max_requests, out_dir, seed

HELP = ("the main job: the model against the peers, overload, tuning and its front, export and (as root) the "
        "real kernel fallback against the prediction; writes report/index.html")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=seed, default=None, help="base seed (default 1, or the config's)")
    p.add_argument("--quick", action="store_true",
                   help="a few minutes: 8 s runs, 2 replications, small budgets, fewer policies under overload")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="your own run: a JSON object with any of scenarios, focus, overload, policies, reps, budget, "
                        "pareto_budget, verify, verify_scenario, slo, seed")
    p.add_argument("--json", action="store_true", help="print the goals and the files as JSON")
    p.add_argument("--out", default="report", help="where the report goes (default: report/)")
    add_allow_dirty(p)
    add_max_requests(p)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mbsim.report import story

    cfg = story.load_config(args.config) if args.config else story.RunConfig()
    if args.seed is not None:
        cfg.seed = args.seed
    if args.quick:
        cfg = cfg.quickened()
    story.check(cfg, args.config or "run")
    out = out_dir(args.out, args.allow_dirty)
    bar = tqdm(total=None, desc="mbsim run", bar_format="{desc}: {elapsed} {postfix}", file=sys.stderr,
               disable=None)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        bar.set_postfix_str(msg[:100])
        if bar.disable:
            print(f"[run {time.monotonic() - t0:5.0f} s] {msg}", file=sys.stderr, flush=True)

    try:
        stages = story.run_story(cfg, Path(out), say)
    finally:
        bar.close()
    command = "mbsim " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "mbsim run"
    files = story.write_report(stages, cfg, Path(out), command)
    goals = [g for s in stages for g in s.goals]
    if args.json:
        emit_json({"report": str(files["html"]), "results": str(files["json"]), "goals": goals,
                   "skipped": {s.key: s.skipped for s in stages if s.skipped}})
        return 0
    print("| stage | goal | measured | verdict |\n|---|---|---|---|")
    for s in stages:
        for g in s.goals:
            verdict = g.get("status") or ("met" if g["met"] else "missed")
            print(f"| {s.key} | {g['goal']} | {g.get('value', '')} | {verdict.replace('missed', 'MISSED')} |")
        if s.skipped:
            print(f"| {s.key} | (stage skipped) | {s.skipped} | skipped |")
    print(f"\nreport: {files['html']} (offline; open it in a browser); everything as JSON: {files['json']}")
    return 0
