"""The search space of a policy: which of its parameters tuning may move, and how far.

Each policy declares its dimensions beside its own code (``PolicySpec.tuning``): the
mountain-bike settings in :mod:`mbsim.policies.mbb`, each peer's in its module. A
dimension is a dotted path into the policy's parameters with bounds; the search starts
from the policy's ``tuning_base`` (``mbb``: the article's settings; a peer: its hand-tuned
variant, so that it has the same 5 ms deadline and snapshot as the horn) and the study's
baseline is that base. A candidate whose minimum exceeds its maximum (``tuning_pairs``:
mbb's window and capacity) is repaired by lowering the minimum to the maximum.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mbsim import policies
from mbsim.dimension import Dimension
from mbsim.errors import ConfigError
from mbsim.params import override, to_dict

__all__ = ["Dimension", "base", "build", "defaults", "known", "parse_bounds", "repaired", "settings_from"]


def known(policy: str = "mbb") -> dict[str, Dimension]:
    """The dimensions ``policy`` declares, by name."""
    spec = policies.get(policy)
    if not spec.tuning:
        tunable = sorted(n for n in policies.names() if policies.get(n).tuning)
        raise ConfigError(f"policy {policy!r} declares nothing to tune (tunable: {', '.join(tunable)})")
    return {d.name: d for d in spec.tuning}


def base(policy: str = "mbb") -> Any:
    """The parameters a search of ``policy`` starts from (and its baseline)."""
    spec = policies.get(policy)
    return (spec.tuning_base or spec.params)()


def _exists(name: str, policy: str) -> bool:
    node: Any = to_dict(base(policy))
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, (int, float)) and not isinstance(node, bool)


def build(names: Iterable[str] | None = None, bounds: Mapping[str, tuple[float, float]] | None = None,
          policy: str = "mbb") -> list[Dimension]:
    """The space: ``names`` (default: all that ``policy`` declares) with ``bounds``
    overriding their ranges; any other numeric parameter of the policy may be named if it
    is given bounds."""
    declared = known(policy)
    names = list(names) if names else list(declared)
    if len(set(names)) != len(names):
        raise ConfigError("a dimension is listed twice")
    dims = []
    start = base(policy)
    for n in names:
        if n in declared:
            d: Dimension | None = declared[n]
        elif _exists(n, policy):
            d = None
        else:
            raise ConfigError(f"unknown dimension {n!r} (known: {', '.join(declared)})")
        if bounds and n in bounds:
            lo, hi = bounds[n]
            integer = d.integer if d else isinstance(getattr_path(start, n), int)
            d = Dimension(n, lo, hi, integer=integer, log=(d.log if d else False) and lo > 0)
        if d is None:
            raise ConfigError(f"dimension {n!r} needs bounds (--bounds {n}=LOW:HIGH)")
        for end in (d.low, d.high):  # both ends must be parameters that validate
            try:
                settings_from({n: round(end) if d.integer else end}, policy, start)
            except ConfigError as exc:
                raise ConfigError(f"--bounds {n}: {end:g} is not a valid value ({exc})") from None
        dims.append(d)
    for n in bounds or {}:
        if n not in names:
            raise ConfigError(f"bounds given for {n!r}, which is not a dimension of this study")
    return dims


def getattr_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def repaired(params: Mapping[str, float], policy: str = "mbb", start: Any = None) -> dict[str, float]:
    """``params`` as they will run: a minimum above its maximum (given, or the base's) is
    lowered to it, and then appears among the returned names even if it was not given."""
    p = dict(params)
    start = start if start is not None else base(policy)
    for lo, hi in policies.get(policy).tuning_pairs:
        a = p.get(lo, getattr_path(start, lo))
        b = p.get(hi, getattr_path(start, hi))
        if a > b:
            p[lo] = b
    return p


def settings_from(params: Mapping[str, float], policy: str = "mbb", start: Any = None) -> Any:
    """The policy's parameters with ``params`` applied (repaired, see :func:`repaired`)."""
    start = start if start is not None else base(policy)
    return override(start, repaired(params, policy, start))


def defaults(dims: list[Dimension], policy: str = "mbb") -> dict[str, float]:
    """The base's values of these dimensions (mbb: the article's)."""
    s = base(policy)
    return {d.name: getattr_path(s, d.name) for d in dims}


def parse_bounds(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items:
        name, sep, rng = item.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2):
                raise ValueError
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ConfigError(f"--bounds wants NAME=LOW:HIGH, got {item!r}") from None
    return out
