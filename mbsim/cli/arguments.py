"""Argument handling shared by subcommands: scenarios, policies, ``--set`` and where output goes.

The argparse types and the flags every command spells the same way are in :mod:`mbsim.argtypes`."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from mbsim import policies
from mbsim.argtypes import add_json as add_json
from mbsim.argtypes import add_out as add_out
from mbsim.argtypes import add_reps as add_reps
from mbsim.argtypes import add_scenario as add_scenario
from mbsim.argtypes import count as count
from mbsim.argtypes import number as number
from mbsim.argtypes import seed as seed
from mbsim.errors import ConfigError
from mbsim.params import override, parse_assignments
from mbsim.world import catalog
from mbsim.world.scenario import Scenario

SCENARIO_FIELDS = {f.name for f in dataclasses.fields(Scenario)}


def add_max_requests(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-requests", type=number(0, 1e12, low_open=True), default=None, metavar="N",
                   help="refuse runs that would simulate more requests than this (default 10,000,000, or "
                        "$MBSIM_MAX_REQUESTS)")


def apply_max_requests(args: argparse.Namespace) -> None:
    """Carry ``--max-requests`` to this process and its workers (through the environment)."""
    from mbsim.engine import budget

    if getattr(args, "max_requests", None) is not None:
        os.environ[budget.ENV] = repr(args.max_requests)


def add_allow_dirty(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-dirty", action="store_true",
                   help="write under data/ even with uncommitted changes (the result says so)")


def out_dir(path: str | Path, allow_dirty: bool = False) -> Path:
    """A directory to write results to: not an existing file; under data/ only from a clean
    tree (or with --allow-dirty)."""
    from mbsim.provenance import guard_write

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a directory: choose another --out")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"{parent} is a file, so {out} cannot be a directory")
    guard_write(out, allow_dirty)
    _probe(out, out)
    return out


def _probe(directory: Path, target: Path) -> None:
    """Write a file in ``directory`` now, making the directory for the probe and removing what
    the probe made: a place that cannot be written fails in one line before any work, not after
    it (``--out /proc/x``), and a refused run leaves nothing behind."""
    import tempfile

    made = [d for d in (directory, *directory.parents) if not d.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mbsim-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write to {target}: {exc.strerror or exc}") from None
    finally:
        for d in made:  # deepest first
            try:
                d.rmdir()
            except OSError:
                pass


def out_file(path: str | Path, allow_dirty: bool = False) -> Path:
    """A file to write a result to: not a directory, its parent not a file; under data/
    only from a clean tree (or with --allow-dirty)."""
    from mbsim.provenance import guard_write

    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{out} is a directory, not a file")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"{parent} is a file, so {out} cannot be written")
    guard_write(out, allow_dirty)
    _probe(out.parent, out)
    return out


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                   help="change a parameter of the scenario (workload.rate_rps=2000) or of the policy "
                        "(buffer.window_min_ms=60); repeatable")


load_scenario = catalog.load  # a name or a .json file


def split_sets(assignments: list[str], policy: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``--set`` values to the scenario or to the policy by their first name."""
    values = parse_assignments(assignments)
    spec = policies.get(policy)
    policy_fields = {f.name for f in dataclasses.fields(spec.params)}
    to_scenario, to_policy = {}, {}
    for key, value in values.items():
        head = key.split(".", 1)[0]
        if head in SCENARIO_FIELDS:
            to_scenario[key] = value
        elif head in policy_fields:
            to_policy[key] = value
        else:
            known = sorted(SCENARIO_FIELDS) + sorted(policy_fields)
            raise ConfigError(f"unknown parameter {key!r}: neither the scenario nor policy {policy!r} has "
                              f"{head!r} (known: {', '.join(known)})")
    return to_scenario, to_policy


def scenario_with(name: str, sets: dict[str, Any], duration: float | None = None) -> Scenario:
    sc = load_scenario(name)
    if duration is not None:
        if not (math.isfinite(duration) and duration > 0):
            raise ConfigError(f"--duration must be a positive number of seconds, got {duration:g}")
        sets = {"duration_s": duration, "warmup_s": min(sc.warmup_s, duration / 5), **sets}
    return override(sc, sets)
