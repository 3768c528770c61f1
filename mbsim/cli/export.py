"""``mbsim export``: settings.json -> everything production and the kernel need."""
from __future__ import annotations

import argparse

from mbsim.cli.arguments import add_json

HELP = "write config (JSON, YAML), C header, the horn's object, tc scripts, MountainBikeQoS manifest + CRD"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("settings", help="settings.json (schema mbsim.settings/1), or a study's directory with --trial")
    p.add_argument("--trial", type=int, default=None, metavar="N",
                   help="with a study's directory: export evaluation N (a point of the front, say)")
    p.add_argument("--out", required=True, metavar="PATH", help="output directory")
    p.add_argument("--name", default="mbsim", help="metadata.name of the manifest (a DNS-1123 name)")
    p.add_argument("--snapshot", default=None, help="a snapshot file to write as snapshot.batch for tc-attach.sh")
    p.add_argument("--no-object", action="store_true", help="do not build mbb_horn.o (no clang needed)")
    add_json(p, "the files written")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mbsim.cli.arguments import out_dir
    from mbsim.deploy.export import export
    from mbsim.errors import ConfigError

    out_dir(args.out)
    settings = args.settings
    if args.trial is not None:
        from mbsim.tuning.storage import StudyStore
        from mbsim.tuning.study import trial_settings

        d = Path(args.settings)
        if not (d / "study.json").is_file():
            raise ConfigError(f"--trial needs a study's directory (with study.json), got {args.settings}")
        path = trial_settings(StudyStore(d.name, d.parent), args.trial)
        if '"mbsim.policy/1"' in path.read_text()[:200]:
            raise ConfigError(f"trial {args.trial} holds a peer's parameters ({path}): only mbb settings export")
        if not args.json:
            print(f"settings of trial {args.trial}: {path}")
        settings = str(path)
    elif Path(args.settings).is_dir():
        raise ConfigError(f"{args.settings} is a directory: give settings.json, or a study's directory with --trial N")
    files = export(settings, args.out, args.name, args.snapshot, build_object=not args.no_object)
    if args.json:
        from mbsim.cli import emit_json

        emit_json({"settings": settings, "files": {kind: str(path) for kind, path in files.items()},
                   "object_built": "object" in files})
        return 0
    for kind, path in files.items():
        print(f"{kind:16s} {path}")
    if "object" not in files and not args.no_object:
        print("(clang is not installed: mbb_horn.o was not built; install clang and libbpf-dev, then run "
              f"{files['build']})")
    return 0
