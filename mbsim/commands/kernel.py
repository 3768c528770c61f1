"""``mbsim export``, ``apply`` and ``detach``."""
from __future__ import annotations

import argparse
import sys

from ..cli import command


@command("export", "write config (JSON, YAML), C header, MountainBikeQoS manifest + CRD and tc steps")
def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("settings", help="settings.json (schema mbsim.settings/1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default="mbsim", help="metadata.name of the manifest")


@_add_export
def export_cmd(args: argparse.Namespace) -> int:
    from ..export import export
    files = export(args.settings, args.out, args.name)
    for kind, path in files.items():
        print(f"{kind:9s} {path}")
    return 0


@command("apply", "compile the horn with BCC, attach it with pyroute2 and run its controller")
def _add_apply(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="directory written by mbsim export")
    p.add_argument("--netns", default=None, help="network namespace of the interface")
    p.add_argument("--dev", required=True, help="the caller-side interface")
    p.add_argument("--upstream", required=True, help="protected upstream, IPV4:PORT")
    p.add_argument("--snapshot", required=True, help="snapshot file (schema mbsim.snapshot/1)")
    p.add_argument("--upstream-mac", default=None, help="the upstream's MAC, to pin its neighbour entry "
                   "(default: resolve it now)")
    p.add_argument("--allow-host-interface", action="store_true",
                   help="allow an interface in the host's root namespace")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--quiet", action="store_true", help="log controller records only, not every decision")


@_add_apply
def apply_cmd(args: argparse.Namespace) -> int:
    from ..kernel.apply import run_apply
    return run_apply(args, sys.stdout)


@command("detach", "remove everything mbsim attached (also after a crash)")
def _add_detach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dead-only", action="store_true", help="only what processes no longer running attached")


@_add_detach
def detach_cmd(args: argparse.Namespace) -> int:
    import os

    from ..errors import MbsimError
    from ..kernel import tc
    if os.geteuid() != 0:
        raise MbsimError("detach needs root")
    removed = tc.detach(only_dead=args.dead_only)
    for a in removed:
        where = f"{a.netns}/{a.dev}" if a.netns else a.dev
        print(f"removed {a.direction:8s} {a.name:14s} {where}")
    if not removed:
        print("nothing attached")
    return 0
