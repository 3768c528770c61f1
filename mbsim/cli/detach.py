"""``mbsim detach``: remove what mbsim attached, also after a crash."""
from __future__ import annotations

import argparse
import os

from mbsim.errors import MbsimError

HELP = "remove everything mbsim attached (also after a crash)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dead-only", action="store_true", help="only what processes no longer running attached")


def run(args: argparse.Namespace) -> int:
    from mbsim.kernel import tc

    if os.geteuid() != 0:
        raise MbsimError("detach needs root")
    removed = tc.detach(only_dead=args.dead_only)
    for a in removed:
        where = f"{a.netns}/{a.dev}" if a.netns else a.dev
        print(f"removed {a.direction:8s} {a.name:14s} {where}")
    if not removed:
        print("nothing attached")
    return 0
