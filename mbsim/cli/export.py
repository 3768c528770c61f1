"""``mbsim export``: settings.json -> everything production and the kernel need."""
from __future__ import annotations

import argparse

HELP = "write config (JSON, YAML), C header, MountainBikeQoS manifest + CRD and tc steps"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("settings", help="settings.json (schema mbsim.settings/1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default="mbsim", help="metadata.name of the manifest")


def run(args: argparse.Namespace) -> int:
    from mbsim.deploy.export import export

    files = export(args.settings, args.out, args.name)
    for kind, path in files.items():
        print(f"{kind:9s} {path}")
    return 0
