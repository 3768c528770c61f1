"""Argument handling shared by subcommands: scenarios, policies and ``--set``."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mbsim import policies
from mbsim.errors import ConfigError
from mbsim.params import from_dict, loads_strict, override, parse_assignments, read_text
from mbsim.world import catalog
from mbsim.world.scenario import Scenario

SCENARIO_FIELDS = {f.name for f in dataclasses.fields(Scenario)}


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                   help="change a parameter of the scenario (workload.rate_rps=2000) or of the policy "
                        "(buffer.window_min_ms=60); repeatable")


def load_scenario(name: str) -> Scenario:
    """A built-in scenario by name, or a scenario JSON file."""
    if name.endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"scenario file {name} not found")
        data = loads_strict(read_text(path), str(path))
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: a scenario file holds a JSON object")
        return from_dict(Scenario, data)
    return catalog.get(name)


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
        if not duration > 0:
            raise ConfigError(f"--duration must be positive, got {duration:g}")
        sets = {"duration_s": duration, "warmup_s": min(sc.warmup_s, duration / 5), **sets}
    return override(sc, sets)
