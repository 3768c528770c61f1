"""``mbsim bench TARGET``: speed and cost benchmarks (never timed tests).

Each target is a module of :mod:`mbsim.bench` with ``HELP``, ``add_arguments(parser)``,
``run(args) -> dict`` and ``format(results) -> str``; this command gives every target the
same ``--json``, ``--out FILE`` (the figures with provenance) and ``--allow-dirty``.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from mbsim.cli import emit_json
from mbsim.cli.arguments import add_allow_dirty, add_json, add_out, out_file

TARGETS = ("sim", "bpf", "tune", "rig", "hotload")

HELP = ("benchmarks: sim (simulator speed), bpf (the horn's cost per packet), tune (BO against random search), "
        "rig (the testbed's generator and answers), hotload (a settings change under load)")


def target(name: str) -> ModuleType:
    return importlib.import_module(f"mbsim.bench.{name}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True, parser_class=type(p))
    for name in TARGETS:
        mod = target(name)
        q = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(q)
        add_json(q, "the figures")
        add_out(q, None, "also write the figures, with provenance, to this JSON file (e.g. data/bench/sim.json)")
        add_allow_dirty(q)


def save(path: str, name: str, out: dict[str, Any]) -> None:
    import json

    from mbsim.provenance import provenance

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"benchmark": name, "results": out, "provenance": provenance()}, indent=2,
                            default=str) + "\n")


def run(args: argparse.Namespace) -> int:
    mod = target(args.target)
    if args.out:
        out_file(args.out, args.allow_dirty)  # before the work, not after it
    if args.target == "tune":
        figure = Path(args.out).with_suffix(".png") if args.out else None
        out = mod.run(args, figure=figure)
    else:
        out = mod.run(args)
    if args.out:
        save(args.out, args.target, out)
    if args.json:
        emit_json(mod.public(out) if hasattr(mod, "public") else out)
        return 0
    print(mod.format(out))
    if args.target == "tune" and args.out:
        print(f"regret figure: {Path(args.out).with_suffix('.png')}")
    return 0
