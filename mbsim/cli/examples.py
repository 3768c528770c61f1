"""``mbsim examples``: the example inputs under ``data/`` - the article's settings and a
snapshot of 100 keys - written with their provenance."""
from __future__ import annotations

import argparse

from mbsim.cli.arguments import add_allow_dirty, count, out_dir

HELP = "write the example settings (the article's) and snapshot (keys 1..N) with provenance"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="data", help="root directory (default data: settings/ and snapshots/ in it)")
    p.add_argument("--keys", type=count(1, 65536), default=100, help="snapshot keys 1..N (default 100)")
    add_allow_dirty(p)


def run(args: argparse.Namespace) -> int:
    from mbsim.formats import snapshot_file
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.provenance import provenance

    root = out_dir(args.out, args.allow_dirty)
    (root / "settings").mkdir(parents=True, exist_ok=True)
    (root / "snapshots").mkdir(parents=True, exist_ok=True)
    settings = SettingsFile(provenance=provenance(what="the article's settings: mbsim's defaults (digest 1, 2.5, "
                                                        "4.1)")).write(root / "settings" / "article-defaults.json")
    snap = snapshot_file.write(root / "snapshots" / "example.json",
                               {k: f"cached:{k}" for k in range(1, args.keys + 1)},
                               provenance(what=f"example snapshot: key k answers 'cached:k', k = 1..{args.keys}"))
    print(f"settings  {settings}\nsnapshot  {snap}")
    return 0
