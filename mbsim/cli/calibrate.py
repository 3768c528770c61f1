"""``mbsim calibrate``: measure the testbed's constants for the simulator."""
from __future__ import annotations

import argparse
import sys

from mbsim.cli.arguments import add_allow_dirty, add_json, add_out, count, number, out_file

HELP = ("measure the testbed's round trips, answer latencies and lateness (or, with --backend sqlite, fit the real "
        "database backend's model); store them for the simulator")
BACKEND_FIT = "data/calibration/this-machine-sqlite.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_out(p, None, "where the calibration goes (default data/calibration/this-machine.json; with --backend sqlite, "
            f"{BACKEND_FIT}): verify, run and notebook 04 read these, on this machine and boot only")
    p.add_argument("--backend", choices=("timer", "sqlite"), default="timer",
                   help="timer (default): the testbed's constants, against the emulated service; sqlite: fit the real "
                        "database backend from measurements - service-time distributions per request class, the "
                        "effective worker count, the load function from a load sweep (AIC, held-out loads, bootstrap "
                        "intervals)")
    p.add_argument("--quick", action="store_true", help="--backend sqlite: 3 s runs and an 8-point sweep (about 2 "
                                                        "minutes instead of 3)")
    p.add_argument("--boot", type=count(10, 10_000), default=200,
                   help="--backend sqlite: bootstrap resamples for the load function's intervals (default 200)")
    p.add_argument("--samples", type=count(10, 100_000), default=2000,
                   help="round trips of each kind measured in the ping-pong run (default 2000)")
    p.add_argument("--rate", type=number(100, 30_000), default=5000.0, help="the open-loop runs' rate (req/s)")
    p.add_argument("--duration", type=number(1, 60), default=4.0, help="each open-loop run's length (s)")
    p.add_argument("--settings", default=None, help="settings.json whose horn is measured (default: the article's)")
    add_json(p, "the calibration")
    add_allow_dirty(p)


def run(args: argparse.Namespace) -> int:
    from mbsim.cli import emit_json
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.formats.settings_file import load as load_settings
    from mbsim.verify import calibrate
    from mbsim.verify.scope import needs_testbed

    settings = load_settings(args.settings) if args.settings else SettingsFile()
    needs_testbed("mbsim calibrate")  # first: without root, that is what to say
    if args.backend == "sqlite":
        return _backend(args, settings)
    args.out = args.out or "data/calibration/this-machine.json"
    out_file(args.out, args.allow_dirty)
    doc = calibrate.calibrate(settings, args.samples, args.rate, args.duration,
                              progress=lambda m: print(f"[calibrate] {m}", file=sys.stderr, flush=True))
    path = calibrate.save(doc, args.out)
    if args.json:
        emit_json(doc)
        return 0
    for key in ("base_rtt_us", "kernel_answer_us", "user_answer_us", "server_lateness_us", "generator_lateness_us"):
        s = doc[key]
        print(f"{key:22s} p50 {s['p50']:8.2f}  p99 {s['p99']:8.2f}  mean {s['mean']:8.2f}  (n {s['n']})")
    pp = doc["pingpong_us"]
    print(f"one run, p50: kernel answer {pp['kernel']['p50']:.1f} us, user-space answer {pp['user']['p50']:.1f} us: "
          f"the kernel's is {doc['kernel_to_user_p50_ratio']:.1f}x faster")
    print(f"written to {path}")
    return 0


def _backend(args: argparse.Namespace, settings: object) -> int:
    from mbsim.cli import emit_json
    from mbsim.verify import backend_fit, calibrate

    out = out_file(args.out or BACKEND_FIT, args.allow_dirty)
    doc = backend_fit.calibrate(settings, quick=args.quick, boot=args.boot,  # type: ignore[arg-type]
                                progress=lambda m: print(f"[calibrate] {m}", file=sys.stderr, flush=True))
    path = calibrate.save(doc, out)
    from mbsim.verify import plots

    figure = plots.backend_fit(doc["load_fit"], path.with_suffix(".png"))
    if args.json:
        emit_json(doc)
        return 0
    print(backend_fit.markdown(doc))
    print(f"written to {path} and {figure}")
    return 0
