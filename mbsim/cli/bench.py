"""``mbsim bench TARGET``: speed and cost benchmarks (never timed tests)."""
from __future__ import annotations

import argparse
from typing import Any

from mbsim.cli import emit_json
from mbsim.cli.arguments import add_allow_dirty, count, number, out_file
from mbsim.errors import ConfigError

TARGETS = ("sim", "bpf", "tune", "rig")


HELP = ("benchmarks: sim (simulator speed), bpf (the horn's cost per packet), tune (BO against random search), "
        "rig (the testbed's generator and answers)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="what to measure: " + ", ".join(TARGETS))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--duration", type=number(0, 3600, low_open=True), default=10.0,
                   help="simulated seconds per run (sim)")
    p.add_argument("--repeats", type=count(1, 1000), default=5,
                   help="runs of each side, alternating; the best counts (sim)")
    p.add_argument("--runs", type=count(1, 10_000_000), default=20000, help="BPF_PROG_TEST_RUN runs per path (bpf)")
    p.add_argument("--packets", type=count(1, 10_000_000), default=2000, help="requests per live phase (bpf)")
    p.add_argument("--no-live", action="store_true", help="skip the live rig measurement (bpf)")
    p.add_argument("--budget", type=count(2, 10_000), default=40, help="BO evaluations (tune)")
    p.add_argument("--factor", type=count(1, 1000), default=10, help="random search is this many times larger (tune)")
    p.add_argument("--workers", type=count(1, 1024), default=None, help="local worker processes (tune)")
    p.add_argument("--bo-runs", type=count(1, 1000), default=10, help="independent runs per method (tune)")
    p.add_argument("--problems", default="four,full", help="tune: which problems (four, full)")
    p.add_argument("--save", metavar="FILE", default=None,
                   help="also write the figures, with provenance, to FILE (e.g. data/bench/sim.json)")
    add_allow_dirty(p)


def _save(path: str | None, target: str, out: dict[str, Any]) -> None:
    if not path:
        return
    import json
    from pathlib import Path

    from mbsim.provenance import provenance
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"benchmark": target, "results": out, "provenance": provenance()}, indent=2,
                            default=str) + "\n")


def run(args: argparse.Namespace) -> int:
    if args.target not in TARGETS:
        raise ConfigError(f"unknown benchmark {args.target!r} (known: {', '.join(TARGETS)})")
    if args.save:
        out_file(args.save, args.allow_dirty)
    if args.target == "sim":
        from mbsim.bench.sim import bench_sim
        if args.duration <= 0 or args.repeats < 1:
            raise ConfigError("--duration must be positive and --repeats at least 1")
        out = bench_sim(args.duration, args.repeats)
        _save(args.save, "sim", out)
        if args.json:
            emit_json(out)
        else:
            print(f"full mountain-bike model at 10K req/s: {out['full_model_req_per_s']:,.0f} simulated req/s "
                  f"({out['full_model_us_per_req']:.2f} us/request)")
            print(f"bare SimPy M/M/1 at 10K req/s:        {out['bare_mm1_req_per_s']:,.0f} simulated req/s "
                  f"({out['bare_mm1_us_per_req']:.2f} us/request)")
            print(f"ratio: {out['ratio']:.2f} (goal >= {out['goal_ratio']:.1f}); "
                  f"{out['ratio_vs_bare_gc_paused']:.2f} against the bare loop with its GC paused too")
            print(f"peak memory of a 5 s / 20 s run: "
                  f"{out['peak_mib_5s']:.2f} / {out['peak_mib_20s']:.2f} MiB")
        return 0
    if args.target == "bpf":
        from mbsim.bench.bpf import bench_bpf
        if args.runs < 1 or args.packets < 1:
            raise ConfigError("--runs and --packets must be at least 1")
        out = bench_bpf(args.runs, args.packets, live=not args.no_live)
        _save(args.save, "bpf", out)
        if args.json:
            emit_json(out)
            return 0
        print(f"BPF_PROG_TEST_RUN, mean of {out['runs']} single runs (kernel-measured), best of 3 rounds:")
        print(f"  answer {out['answer_ns_per_packet']:.0f} ns/packet, "
              f"empty program {out['empty_ns_per_packet']:.0f} ns: "
              f"ratio {out['answer_ratio_to_empty']:.2f} (goal <= {out['goal_answer_ratio']:.0f}; rounds "
              + ", ".join(f"{r:.2f}" for r in out["answer_ratio_to_empty_rounds"]) + ")")
        print(f"  with the decision log (--log-decisions): {out['answer_logged_ns_per_packet']:.0f} ns, ratio "
              f"{out['answer_logged_ratio_to_empty']:.2f} (the ring-buffer record: {out['decision_log_ns']:.0f} ns)")
        print("  where the answer's net cost goes: " + "; ".join(
            f"{k} {v:.0f} ns" for k, v in out["answer_breakdown_ns"].items()))
        print(f"  pass   {out['pass_ns_per_packet']:.0f} ns/packet (ratio {out['pass_ratio_to_empty']:.2f}); with "
              f"repeat: pass {out['pass_ns_per_packet_repeat']:.0f}, empty {out['empty_ns_per_packet_repeat']:.0f} ns")
        if "live_answer_ns_per_packet" in out:
            print(f"live (bpf_stats, {out['packets']} requests per phase):")
            print(f"  answer {out['live_answer_ns_per_packet']:.0f} ns, pass {out['live_pass_ns_per_packet']:.0f} ns, "
                  f"response matching {out['live_response_ns_per_packet']:.0f} ns")
            print(f"  client round trip p50: kernel answer {out['rtt_kernel_p50_us']:.1f} us, user-space server "
                  f"{out['rtt_server_p50_us']:.1f} us (x{out['rtt_ratio_server_to_kernel']:.1f})")
        return 0
    if args.target == "tune":
        import sys
        from pathlib import Path

        from tqdm import tqdm

        from mbsim.bench.tune import bench_tune
        from mbsim.tuning.executors import LocalExecutor
        if args.budget < 1 or args.factor < 1:
            raise ConfigError("--budget and --factor must be at least 1")
        from mbsim.bench.tune import METHODS, PROBLEMS
        problems = tuple(args.problems.split(","))
        bad = [p for p in problems if p not in PROBLEMS]
        if bad:
            raise ConfigError(f"unknown problem {bad[0]!r} (known: {', '.join(PROBLEMS)})")
        ex = LocalExecutor(args.workers)
        total = len(problems) * args.budget * (args.factor + len(METHODS) * args.bo_runs)
        bar = tqdm(total=total, desc="bench tune", unit="eval", file=sys.stderr, disable=None)
        fig = Path(args.save).with_suffix(".png") if args.save else None
        try:
            out = bench_tune(ex, budget=args.budget, factor=args.factor, runs=args.bo_runs, problems=problems,
                             tick=lambda: bar.update(1), figure=fig)
        finally:
            bar.close()
            ex.close()
        _save(args.save, "tune", out)
        if args.json:
            emit_json({"problems": [{k: v for k, v in pr.items() if k != "random_values"} | {
                "methods": [{k: v for k, v in m.items() if k != "values"} for m in pr["methods"]]}
                for pr in out["problems"]]})
            return 0
        for pr in out["problems"]:
            print(f"problem {pr['problem']}: {pr['objective']} + penalties on {pr['scenario']} (quick), "
                  f"{len(pr['dims'])} dims, snapshot <= {pr['max_fallback']:.0%}")
            print(f"  article's defaults {pr['default_value']:.4g}; best of {pr['random_evaluations']} random "
                  f"{pr['best_random']:.4g} ({pr['random_feasible']} feasible); target {pr['target']:.4g}; random "
                  f"search needs {pr['random_evaluations_to_target_expected']:.1f} evaluations (expected)")
            print(f"  {'method':15s} {'reached':>8s} {'median':>7s} {'dups':>5s} {'beats sobol':>12s}")
            for m in pr["methods"]:
                med = "> budget" if m["median_evals"] is None else f"{m['median_evals']:g}"
                print(f"  {m['method'] + (' *' if m.get('default') else ''):15s} {m['reached']:>4d}/{m['runs']:<3d} "
                      f"{med:>7s} {m['duplicates']:>5d} {m.get('beats_sobol', 0):>8d}/{m['runs']}")
            g = pr["goals"]
            print("  default (*): " + ", ".join(f"{k.replace('_', ' ')}: {'met' if v else 'NOT met'}"
                                                for k, v in g.items()))
        print(f"regret figure: {fig}")
        return 0
    if args.target == "rig":
        import sys

        from mbsim.bench.rig import bench_rig
        from mbsim.verify.scope import needs_testbed
        needs_testbed("mbsim bench rig")
        out = bench_rig(progress=lambda m: print(f"[bench rig] {m}", file=sys.stderr, flush=True))
        _save(args.save, "rig", out)
        if args.json:
            emit_json(out)
            return 0
        for r in out["rates"]:
            print(f"{r['rate_rps']:8.0f} req/s: lateness p50 {r['lateness_p50_us']:6.1f} us, p99 "
                  f"{r['lateness_p99_us']:7.1f} us, max {r['lateness_max_us']:7.0f} us, rate error "
                  f"{100 * r['rate_error']:+.2f} % -> {'held' if r['sustained'] else 'not held'}")
        print(f"highest rate held (p99 lateness <= 25 us, rate within 2 %): {out['max_sustained_rps']} req/s")
        print(f"one run, p50 round trip: kernel answer {out['rtt_kernel_p50_us']:.1f} us, user-space answer "
              f"{out['rtt_user_p50_us']:.1f} us, server {out['rtt_base_p50_us']:.1f} us: the kernel's is "
              f"{out['kernel_to_user_ratio']:.1f}x faster (goal >= 3)")
        return 0
    raise ConfigError(f"unknown benchmark {args.target!r} (known: {', '.join(TARGETS)})")
