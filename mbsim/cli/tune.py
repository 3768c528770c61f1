"""``mbsim tune``: a Bayesian tuning study of the mountain-bike settings, or of a peer's
parameters (``--policy``), or of the trade-off front between two metrics (``--pareto``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from mbsim import policies
from mbsim.argtypes import DEFAULT_SCENARIO
from mbsim.cli.arguments import (
    add_allow_dirty,
    add_json,
    add_max_requests,
    add_out,
    add_reps,
    add_scenario,
    add_set,
    count,
    load_scenario,
    number,
    out_dir,
    seed,
    split_sets,
)
from mbsim.errors import ConfigError
from mbsim.metrics import registry
from mbsim.tables import fmt
from mbsim.tuning import objective as obj
from mbsim.tuning import samplers

HELP = "search the mountain-bike settings (or a peer's) for a scenario and an SLO (Bayesian optimisation)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario(p, default=None, extra="; when not given, the --terrain's, else " + DEFAULT_SCENARIO)
    p.add_argument("--policy", default="mbb", choices=policies.names(), metavar="POLICY",
                   help="whose parameters to search: mbb (default), mbb-literal, mbb-concurrency or a peer "
                        "(hystrix, resilience4j, sre, gradient2, vegas, envoy, gobreaker)")
    p.add_argument("--pareto", default=None, metavar="M1,M2",
                   help="search the trade-off front of two metrics, e.g. p99,fallback (Optuna multi-objective)")
    p.add_argument("--terrain", default=None, choices=list(obj.TERRAINS), help="preset scenario")
    p.add_argument("--mode", default=None, choices=list(obj.MODES), help="preset objective")
    p.add_argument("--objective", default=None, choices=list(OBJECTIVES), help="metric to minimise (default p99)")
    p.add_argument("--min-success", type=number(0, 1), default=None, help="constraint: success ratio at least this")
    p.add_argument("--max-fallback", type=number(0, 1), default=None, help="constraint: snapshot share at most this")
    p.add_argument("--handling", choices=["penalty", "constraint"], default=None,
                   help="how a violated constraint counts (default penalty)")
    p.add_argument("--budget", type=count(1, 100_000), default=40, help="evaluations (default 40)")
    p.add_argument("--backend", default=None, choices=samplers.BACKENDS,
                   help="skopt (default: GPs with the constraints modelled), skopt-penalty, optuna, sobol or random")
    p.add_argument("--sampler", default=None, help="optuna only: tpe (default) or gp; with --pareto: tpe or nsga2")
    p.add_argument("--name", default=None, help="study name (default SCENARIO-BACKEND)")
    p.add_argument("--resume", metavar="NAME", default=None, help="continue a study that was stopped")
    p.add_argument("--dask", metavar="ADDRESS", default=None, help="evaluate on a Dask scheduler (tcp://host:8786)")
    p.add_argument("--workers", type=count(1, 1024), default=None, help="local worker processes (default: all CPUs)")
    add_reps(p, 2, 1, 1000, "replications per evaluation, on common random numbers")
    p.add_argument("--seed", type=seed, default=1)
    p.add_argument("--quick", action="store_true", help="6 s evaluations, for CI and notebooks")
    p.add_argument("--dims", default=None, help="comma-separated dimensions to search (default: all)")
    p.add_argument("--bounds", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="override a dimension's bounds")
    g = p.add_argument_group("online tuning (--online): a running mbsim apply, read from Prometheus")
    g.add_argument("--online", action="store_true",
                   help="tune the settings of a running `mbsim apply` (hot-loaded), from live metrics")
    g.add_argument("--prometheus", default=None, metavar="URL",
                   help="the Prometheus that scrapes the apply's --metrics, or 'start' to run one here")
    g.add_argument("--netns", default=None, help="the running apply's network namespace")
    g.add_argument("--dev", default=None, help="the running apply's interface")
    g.add_argument("--trial-s", type=number(1, 3600), default=5.0, help="seconds per trial (default 5)")
    g.add_argument("--slo-ms", type=number(0, 3_600_000, low_open=True), default=None,
                   help="a 1-s window whose P99 exceeds this breaks the SLO (default: the settings' deadline)")
    g.add_argument("--from", dest="from_study", default=None, metavar="STUDY",
                   help="start from an offline study's best settings (a name under data/studies, or a file)")
    g.add_argument("--no-rails", action="store_true",
                   help="plain online BO: no safety model, no rollback, no violation budget")
    g.add_argument("--violation-budget", type=count(1, 10_000), default=3,
                   help="windows over the SLO before a railed study stops (default 3)")
    g.add_argument("--demo", action="store_true",
                   help="the demonstration on the testbed: safe BO, plain BO and offline settings on one load "
                        "whose terrain changes (writes data/online/demo: result.json, demo.png)")
    g.add_argument("--give-up-s", type=number(1, 3600), default=10.0,
                   help="stop (exit 1) when Prometheus gives no answer for this long (default 10 s)")
    add_out(p, "data/studies", "where studies live (online: data/online)")
    add_json(p, "the study's summary")
    add_set(p)
    add_allow_dirty(p)
    add_max_requests(p)


OBJECTIVES = registry.aliases(obj.OBJECTIVE_METRICS)  # p99, p9999, p999, mean


def run(args: argparse.Namespace) -> int:
    if args.online:
        return run_online(args)
    if args.prometheus or args.netns or args.dev or args.from_study or args.no_rails:
        raise ConfigError("--prometheus, --netns, --dev, --from and --no-rails belong to --online")
    return run_offline(args)


def run_online(args: argparse.Namespace) -> int:
    """``tune --online``: the loop against the apply running at --dev, read from Prometheus."""
    import contextlib
    import json
    from pathlib import Path

    from mbsim.online import study as online
    from mbsim.online.loop import LoopConfig
    from mbsim.online.prometheus import LocalPrometheus

    if args.demo:
        return run_demo(args)
    if not args.dev or not args.prometheus:
        raise ConfigError("--online needs --dev (the running apply's interface) and --prometheus (URL or 'start')")
    target = online.ControlTarget(args.netns, args.dev)
    state = target.get()
    start = online.start_settings(target, args.from_study)
    slo = args.slo_ms or start.fallback.deadline_ms
    cfg = LoopConfig(slo_ms=slo, budget=args.budget, trial_s=args.trial_s, rails=not args.no_rails,
                     violation_budget=args.violation_budget, give_up_s=args.give_up_s, seed=args.seed)
    out = Path(args.out if args.out != "data/studies" else "data/online")
    out_dir(out, args.allow_dirty)
    name = args.name or f"online-{args.dev}{'-plain' if args.no_rails else ''}"
    with contextlib.ExitStack() as stack:
        url = args.prometheus
        if url == "start":
            if not state.get("metrics"):
                raise ConfigError(f"the apply at {args.dev} serves no metrics: start it with --metrics ADDR:PORT")
            url = stack.enter_context(LocalPrometheus([state["metrics"]])).url
            print(f"prometheus started at {url}, scraping {state['metrics']}", file=sys.stderr)

        def say(line: str) -> None:
            print(f"mbsim tune --online: {line}", file=sys.stderr)

        def progress(trial: dict[str, Any]) -> None:
            print(f"trial {trial['trial'] + 1}/{cfg.budget}: unserved {fmt(trial['unserved'])}, worst window P99 "
                  f"{fmt(trial['worst_p99_ms'])} ms{' (rolled back)' if trial['rolled_back'] else ''}",
                  file=sys.stderr)

        result = online.run_online(cfg, target, online.prometheus_reader(url), start,
                                   args.dims.split(",") if args.dims else None, say, out / name / "result.json",
                                   on_trial=progress)
    summary = {"study": name, "trials": len(result.trials), "stopped": result.stopped, "best": result.best,
               "violation_share": result.violation_share(),
               "rollbacks": sum(e["reason"] == "rollback" for e in result.events),
               "result": str(out / name / "result.json")}
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"online study {name}: {summary['trials']} trials, {summary['rollbacks']} rollbacks, "
              f"{fmt(100 * summary['violation_share'])} % of windows over the SLO ({fmt(slo)} ms)"
              + (f", stopped: {result.stopped}" if result.stopped else ""))
        print(f"in force: {', '.join(f'{k}={fmt(v)}' for k, v in (result.best or {}).items()) or 'the start'}")
        print(f"result: {summary['result']}")
    return 1 if result.stopped == "prometheus" else 0


def run_demo(args: argparse.Namespace) -> int:
    """``tune --online --demo``: three arms on the testbed (mbsim.online.demo)."""
    from pathlib import Path

    from mbsim.online import demo

    out = Path(args.out if args.out != "data/studies" else "data/online") / "demo"
    out_dir(out, args.allow_dirty)
    cfg = demo.DemoConfig(quick=args.quick, seed=args.seed, slo_ms=args.slo_ms or 4.0)
    doc = demo.run_demo(cfg, lambda m: print(f"[demo] {m}", file=sys.stderr), out / "result.json")
    fig = demo.plot(doc, out / "demo.png")
    for arm in demo.ARMS_SHOWN:
        s = doc["summary"][arm]
        print(f"{arm:5}: {s['over']}/{s['windows']} windows over the SLO ({fmt(100 * s['over_share'])} %), "
              f"{s['rollbacks']} rollbacks, unserved noisy {fmt(s['unserved_noisy'])} spike "
              f"{fmt(s['unserved_spike'])}")
    print(f"result: {out / 'result.json'}, figure: {fig}")
    return 0


def run_offline(args: argparse.Namespace) -> int:
    from mbsim.params import override
    from mbsim.tuning import space, study
    from mbsim.tuning.executors import DaskExecutor, LocalExecutor
    from mbsim.tuning.storage import StudyStore

    out_dir(args.out, args.allow_dirty)
    if args.resume:
        store = StudyStore(args.resume, args.out)
        cfg = study.StudyConfig.from_dict(store.load_config())
        resume = True
    else:
        scen_preset, objective = obj.preset(args.terrain, args.mode)
        objective = objective or obj.Objective()
        changes = {}
        if args.objective is not None:
            changes["metric"] = OBJECTIVES[args.objective]
        for key, val in (("min_success", args.min_success), ("max_fallback", args.max_fallback),
                         ("handling", args.handling)):
            if val is not None:
                changes[key] = val
        objective = override(objective, changes)
        scenario = args.scenario or scen_preset or DEFAULT_SCENARIO
        spec = None
        sc_sets, pol_sets = split_sets(args.set, args.policy)
        if pol_sets:
            raise ConfigError(f"--set {next(iter(pol_sets))}: tuning searches the policy's parameters; "
                              "choose them with --dims and --bounds")
        if scenario.endswith(".json") or sc_sets:
            scenario, spec = study.scenario_ref(scenario, override(load_scenario(scenario), sc_sets), bool(sc_sets))
        pareto = None
        if args.pareto:
            from mbsim.tuning import pareto as front

            pareto = front.parse(args.pareto)
        backend = args.backend or ("optuna" if pareto else "skopt")
        dims = space.build(args.dims.split(",") if args.dims else None, space.parse_bounds(args.bounds), args.policy)
        label = "" if args.policy == "mbb" else f"{args.policy}-"
        name = args.name or (f"{scenario}-{label}{'pareto' if pareto else backend}{'-quick' if args.quick else ''}")
        cfg = study.StudyConfig(name=name, scenario=scenario, objective=objective, dims=dims, budget=args.budget,
                                backend=backend, sampler=args.sampler, seed=args.seed, n_seeds=args.reps,
                                quick=args.quick, batch=max(1, args.workers or 2), policy=args.policy,
                                scenario_spec=spec, pareto=pareto)
        store = StudyStore(name, args.out)
        resume = False
    executor = DaskExecutor(args.dask) if args.dask else LocalExecutor(args.workers)
    cfg.batch = max(cfg.batch, 1)
    bar = tqdm(total=cfg.budget, desc=f"tune {cfg.name}", unit="eval", file=sys.stderr, disable=None)
    if resume:
        bar.update(len(store.load_evaluations()))

    def progress(rec: Any, best: Any) -> None:
        bar.update(1)
        bar.set_postfix_str(f"best {best:.4g}")

    try:
        summary = study.run(cfg, store, executor, resume=resume, on_result=progress)
    finally:
        bar.close()
        executor.close()
    ev = summary["evaluation"]
    m = cfg.objective.metric
    t, d = ev["tuned"], ev["default"]
    print(f"study {cfg.name}: {ev['evaluations']} evaluations of {cfg.policy} on {cfg.scenario}, objective {m} "
          f"(success >= {cfg.objective.min_success}, fallback <= {cfg.objective.max_fallback})")
    print(f"best (evaluation {ev['best_evaluation_id']}): " +
          ", ".join(f"{k}={fmt(v)}" for k, v in summary["best"]["params"].items()))
    for label, x in (("tuned  ", t), ("default", d)):
        print(f"{label} on {cfg.confirm} fresh seeds: {m} {fmt(x[m]['mean'])} ({fmt(x[m]['ci_low'])}.."
              f"{fmt(x[m]['ci_high'])}), success {fmt(x['success_ratio']['mean'])}, fallback "
              f"{fmt(x['fallback_ratio']['mean'])}")
    diff = ev["tuned_minus_default"][m]
    print(f"tuned - default {m}: {fmt(diff['mean'])} (95 % CI {fmt(diff['ci_low'])}..{fmt(diff['ci_high'])})")
    print(f"settings: {summary['settings_path']}")
    if summary.get("front"):
        f = summary["front"]
        print(f"front: {f['points']} points in {f['path']}, figure {f['figure']} "
              f"(export one: mbsim export {store.dir} --trial N --out DIR)")
    return 0
