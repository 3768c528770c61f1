"""``mbsim policies``: the protection policies."""
from __future__ import annotations

import argparse

from mbsim import policies
from mbsim.cli import emit_json
from mbsim.params import to_dict

HELP = "list the protection policies"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print every policy's default parameters as JSON")


def run(args: argparse.Namespace) -> int:
    if args.json:
        emit_json({n: {"summary": policies.get(n).summary, "defaults": to_dict(policies.get(n).params())}
                   for n in policies.names()})
        return 0
    for n in policies.names():
        print(f"{n:16s} {policies.get(n).summary}")
    return 0
