"""``mbsim export``: settings.json -> everything production and the kernel need."""
from __future__ import annotations

import argparse

HELP = "write config (JSON, YAML), C header, the horn's object, tc scripts, MountainBikeQoS manifest + CRD"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("settings", help="settings.json (schema mbsim.settings/1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default="mbsim", help="metadata.name of the manifest (a DNS-1123 name)")
    p.add_argument("--snapshot", default=None, help="a snapshot file to write as snapshot.batch for tc-attach.sh")
    p.add_argument("--no-object", action="store_true", help="do not build mbb_horn.o (no clang needed)")


def run(args: argparse.Namespace) -> int:
    from mbsim.cli.arguments import out_dir
    from mbsim.deploy.export import export

    out_dir(args.out)

    files = export(args.settings, args.out, args.name, args.snapshot, build_object=not args.no_object)
    for kind, path in files.items():
        print(f"{kind:16s} {path}")
    if "object" not in files and not args.no_object:
        print("(clang is not installed: mbb_horn.o was not built; install clang and libbpf-dev, then run "
              f"{files['build']})")
    return 0
