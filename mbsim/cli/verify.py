"""``mbsim verify``: the model's predictions against the real kernel fallback on a testbed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mbsim.cli.arguments import add_allow_dirty, add_json, add_out, add_reps, add_scenario, count, seed
from mbsim.verify.scope import VERIFIED, needs_testbed

HELP = "run scenarios on a real testbed (namespaces, UDP server, the horn) and compare with the model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario(p, many=True, extra=f"; verified: {', '.join(VERIFIED)}, or all")
    p.add_argument("--settings", default=None, help="settings.json to verify (default: the article's)")
    p.add_argument("--arms", default=None, help="comma-separated: none, breaker, horn (default: all three)")
    p.add_argument("--quick", action="store_true", help="10 s runs, a shorter load sweep")
    p.add_argument("--sweep", action="store_true", help="also the load sweep: utilisation 20-95 %%")
    p.add_argument("--no-pinning-check", action="store_true", help="skip the unpinned repeat of one run")
    p.add_argument("--realtime", action="store_true",
                   help="SCHED_FIFO and locked memory for the sender, receiver and server (off by default: on the "
                        "machines measured so far it did not lower the lateness; mbsim bench rig measures it here)")
    p.add_argument("--backend", choices=("timer", "sqlite"), default="timer",
                   help="the service behind the testbed: timer (default), the emulated service, which plays the "
                        "model's own service times and isolates the network and kernel path; sqlite, a real database "
                        "whose workers run real queries, with the model fitted to it (mbsim calibrate --backend "
                        "sqlite, measured first when this machine has none), its held-out loads verified too")
    p.add_argument("--backend-fit", default=None,
                   help="--backend sqlite: the backend fit (default data/calibration/this-machine-sqlite.json, on "
                        "this machine and boot only)")
    p.add_argument("--calibration", default=None,
                   help="calibration file (default data/calibration/this-machine.json); used only on the machine and "
                        "boot that measured it, else this machine is calibrated first")
    p.add_argument("--seed", type=seed, default=1, help="the first run's seed; run k uses seed + k (default 1)")
    add_reps(p, 3, 1, 100, "runs of each scenario and arm, on distinct seeds: errors get an interval across them")
    p.add_argument("--retries", type=count(0, 10), default=0,
                   help="repeats of a run whose generator gates fail (default 0: the realized-send prediction "
                        "carries such a run)")
    add_out(p, None, "where results go (default data/verification, with --backend sqlite data/verification/sqlite); - "
            "writes nothing, prints only")
    add_json(p)
    add_allow_dirty(p)


def run(args: argparse.Namespace) -> int:
    from mbsim.cli import emit_json
    from mbsim.cli.arguments import load_scenario, out_dir
    from mbsim.errors import ConfigError
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.formats.settings_file import load as load_settings
    from mbsim.verify import arms as arms_mod
    from mbsim.world import catalog

    # every argument is checked before anything heavy is imported or started
    names = list(VERIFIED) if args.scenario == "all" else [s.strip() for s in args.scenario.split(",")]
    scenarios: list[Any] = []  # names and Scenario objects
    for n in (x for x in names if x):
        if n.endswith(".json"):
            scenarios.append(load_scenario(n))
        elif n in catalog.SCENARIOS:
            scenarios.append(n)
        else:
            raise ConfigError(f"unknown scenario {n!r} (known: {', '.join(catalog.SCENARIOS)}, or a .json file)")
    if not scenarios:
        raise ConfigError("--scenario names no scenario")
    arms = arms_mod.get(args.arms)
    settings = load_settings(args.settings) if args.settings else SettingsFile()
    if args.backend_fit is not None:
        if args.backend != "sqlite":
            raise ConfigError("--backend-fit is the sqlite backend's model: add --backend sqlite")
        if not Path(args.backend_fit).is_file():
            raise ConfigError(f"--backend-fit {args.backend_fit}: no such file")
    needs_testbed("mbsim verify")  # first: without root, that is what to say
    args.out = args.out or ("data/verification/sqlite" if args.backend == "sqlite" else "data/verification")
    save = args.out != "-"
    if save:
        out_dir(args.out, args.allow_dirty)
    from mbsim.verify import calibrate
    from mbsim.verify import run as vrun

    def say(msg: str) -> None:
        print(f"[verify] {msg}", file=sys.stderr, flush=True)

    cal = calibrate.for_this_machine(args.calibration,
                                     lambda: calibrate.calibrate(rounds=500, duration_s=3.0, progress=say), say)
    fitted = None
    if args.backend == "sqlite":
        from mbsim.verify import backend_fit
        fitted = calibrate.for_this_machine(args.backend_fit,
                                            lambda: backend_fit.calibrate(settings, quick=True, progress=say), say,
                                            default=backend_fit.DEFAULT_PATH, loader=backend_fit.load)
    doc = vrun.verify(scenarios, arms, settings, seed=args.seed, quick=args.quick, cal=cal, sweep=args.sweep,
                      pinning=not args.no_pinning_check, retries=args.retries, reps=args.reps,
                      realtime=args.realtime, backend=args.backend, backend_fit=fitted, progress=say)
    command = "mbsim " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "mbsim verify"
    if save:
        files = vrun.write(doc, Path(args.out), command)
        say("written: " + ", ".join(str(p) for p in files.values()))
    record = vrun.public(vrun.strip_curves(doc))
    if args.json:
        emit_json(record)
    else:
        print(vrun.markdown(record))
    return 0
