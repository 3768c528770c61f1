"""``mbsim scenarios``: the built-in scenarios."""
from __future__ import annotations

import argparse

from mbsim.cli import emit_json
from mbsim.params import to_dict
from mbsim.world import catalog

HELP = "list the built-in scenarios"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print every scenario's parameters as JSON")


def run(args: argparse.Namespace) -> int:
    if args.json:
        emit_json({name: to_dict(sc) for name, sc in catalog.SCENARIOS.items()})
        return 0
    for name, sc in catalog.SCENARIOS.items():
        print(f"{name:12s} {sc.description}")
    return 0
