"""argparse types, and the flags every command spells the same way.

One meaning everywhere: ``--scenario`` takes a built-in name or a JSON file, ``--out`` says
where results go, ``--json`` prints them as JSON, ``--reps`` is the number of repetitions
(replications, seeds or runs of whatever the command repeats), ``--seed`` the base seed.
A closed set of values is given to argparse as ``choices``.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from mbsim.errors import ConfigError
from mbsim.params import check_seed

DEFAULT_SCENARIO = "db-down"  # every command that takes --scenario starts here


def seed(text: str) -> int:
    """argparse type of a seed: an integer in [0, 2**63)."""
    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, 2**63), got {text!r}") from None
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(low: int, high: int = 1_000_000) -> Callable[[str], int]:
    """argparse type of an integer in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high:,}], got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def number(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """argparse type of a finite number in [low, high] (or (low, high])."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (low < value if low_open else low <= value) and value <= high
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a number in {'(' if low_open else '['}{low:g}, {high:g}], "
                                             f"got {text}")
        return value
    parse.__name__ = "number"
    return parse


def add_scenario(p: argparse.ArgumentParser, default: str | None = DEFAULT_SCENARIO, many: bool = False,
                 extra: str = "") -> None:
    """``--scenario``: a built-in name (``mbsim scenarios``) or a scenario JSON file."""
    what = "comma-separated built-in scenarios or .json files" if many else "a built-in scenario or a .json file"
    p.add_argument("--scenario", default=default,
                   help=f"{what} (mbsim scenarios lists them){extra}" + (f" (default {default})" if default else ""))


def add_out(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    """``--out``: where the command writes; checked before any work starts."""
    p.add_argument("--out", default=default, metavar="PATH", help=f"{what} (default {default or 'none'})")


def add_json(p: argparse.ArgumentParser, what: str = "the results") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_reps(p: argparse.ArgumentParser, default: int, low: int, high: int, what: str) -> None:
    """``--reps``: how many times the command repeats its unit of work."""
    p.add_argument("--reps", type=count(low, high), default=default, help=f"{what} (default {default})")
